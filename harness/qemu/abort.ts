/**
 * Waiting helpers bound by an `AbortSignal`, shared by the QEMU driver's modules.
 *
 * @module
 */

/**
 * Races `promise` with `signal`: rejects with the abort reason when the signal fires first (a
 * timeout names `what`). The promise itself is not cancelled.
 *
 * @example
 * ```ts
 * import { withSignal } from "./abort.ts";
 * const never = new Promise<void>(() => {});
 * await withSignal(never, AbortSignal.timeout(10), "nothing").catch((e) => console.log(e.message));
 * // "timed out waiting for nothing"
 * ```
 */
export function withSignal<T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  what: string,
): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(abortReason(signal, what));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal, what));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function abortReason(signal: AbortSignal, what: string): unknown {
  const reason = signal.reason;
  if (reason instanceof DOMException && reason.name === "TimeoutError") {
    return new DOMException(`timed out waiting for ${what}`, "TimeoutError");
  }
  return reason;
}

/**
 * Sleeps `ms`, or rejects with the abort reason (and clears its timer) when `signal` fires.
 *
 * @example
 * ```ts
 * import { delay } from "./abort.ts";
 * await delay(5, AbortSignal.timeout(1000));
 * ```
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
