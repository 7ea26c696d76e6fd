/**
 * Bounded waits: every promise the network layer awaits is raced against an `AbortSignal` and a
 * timeout, so a silent peer ends in a `WireError("E_TIMEOUT")` naming what was awaited.
 *
 * @module
 */

import { WireError } from "../wire/errors.ts";

/** Default bound of a single wait on a socket, in milliseconds. */
export const DEFAULT_TIMEOUT_MS = 30_000;

/** How long a wait may last and what to call it in errors. */
export interface WaitOptions {
  /** Aborts the wait (the error is `E_TIMEOUT` naming the signal's reason). */
  readonly signal?: AbortSignal;
  /** Bound of this wait in milliseconds; `Infinity` for none. Default: the owner's default. */
  readonly timeoutMs?: number;
  /** What is awaited, for error messages, e.g. `multifd init packet`. */
  readonly what?: string;
}

/**
 * A single wait deadline: built lazily by the first call that has to wait, then reused for every
 * further wait of the same operation, and released with {@linkcode Deadline.clear}.
 *
 * @example
 * ```ts
 * import { Deadline } from "./wait.ts";
 * const deadline = new Deadline({ timeoutMs: 1000, what: "a reply" }, 30_000);
 * try {
 *   console.log(await deadline.race(Promise.resolve(42)));
 * } finally {
 *   deadline.clear();
 * }
 * ```
 */
export class Deadline {
  readonly #signal?: AbortSignal;
  readonly #timeoutMs: number;
  readonly #what: string;
  #aborted?: Promise<never>;
  #timer?: ReturnType<typeof setTimeout>;
  #onAbort?: () => void;
  #fail?: (error: Error) => void;
  /** Extra words for the error message, e.g. progress so far; set by the waiter. */
  progress: () => string = () => "";

  constructor(options: WaitOptions | undefined, defaultTimeoutMs: number, defaultWhat = "data") {
    this.#signal = options?.signal;
    this.#timeoutMs = options?.timeoutMs ?? defaultTimeoutMs;
    this.#what = options?.what ?? defaultWhat;
  }

  /** What is awaited. */
  get what(): string {
    return this.#what;
  }

  /** Resolves like `promise`, or rejects with `E_TIMEOUT` when the deadline or the signal fires. */
  race<T>(promise: Promise<T>): Promise<T> {
    this.#arm();
    return Promise.race([promise, this.#aborted!]);
  }

  /** Throws `E_TIMEOUT` at once if the signal has already fired. */
  throwIfAborted(): void {
    if (this.#signal?.aborted) throw this.#abortError();
  }

  /** Releases the timer and the signal listener. Call it in `finally`. */
  clear(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#onAbort) this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#timer = undefined;
    this.#onAbort = undefined;
  }

  #arm(): void {
    if (this.#aborted) return;
    this.#aborted = new Promise<never>((_, reject) => {
      this.#fail = reject;
    });
    // Nobody may be listening when it fires between two races.
    this.#aborted.catch(() => {});
    if (this.#signal?.aborted) {
      this.#fail!(this.#abortError());
      return;
    }
    if (this.#signal) {
      this.#onAbort = () => this.#fail!(this.#abortError());
      this.#signal.addEventListener("abort", this.#onAbort, { once: true });
    }
    if (Number.isFinite(this.#timeoutMs)) {
      this.#timer = setTimeout(() => {
        this.#fail!(
          new WireError(
            "E_TIMEOUT",
            `timed out after ${this.#timeoutMs} ms waiting for ${this.#what}${this.progress()}`,
            { field: this.#what, expected: `within ${this.#timeoutMs} ms` },
          ),
        );
      }, this.#timeoutMs);
    }
  }

  #abortError(): WireError {
    const reason = this.#signal?.reason;
    const why = reason instanceof Error ? reason.message : String(reason ?? "aborted");
    return new WireError(
      "E_TIMEOUT",
      `aborted while waiting for ${this.#what}${this.progress()}: ${why}`,
      { field: this.#what, cause: reason },
    );
  }
}

/**
 * Awaits `promise` within a bound: `E_TIMEOUT` naming `options.what` when it takes longer than
 * `options.timeoutMs` (default {@linkcode DEFAULT_TIMEOUT_MS}) or `options.signal` aborts.
 * The promise itself keeps running; the caller owns cleaning it up.
 *
 * @example
 * ```ts
 * import { withTimeout } from "./wait.ts";
 * const value = await withTimeout(Promise.resolve("ok"), { timeoutMs: 100, what: "ok" });
 * console.log(value);
 * ```
 */
export async function withTimeout<T>(promise: Promise<T>, options?: WaitOptions): Promise<T> {
  const deadline = new Deadline(options, DEFAULT_TIMEOUT_MS);
  try {
    return await deadline.race(promise);
  } finally {
    deadline.clear();
  }
}

/**
 * Runs callers one at a time in call order, each wait for its turn bounded by its own deadline.
 * A caller that gives up waiting still keeps its place, so later callers never overtake the
 * ones before it.
 *
 * @example
 * ```ts
 * import { Deadline, Serial } from "./wait.ts";
 * const serial = new Serial();
 * const deadline = new Deadline({ timeoutMs: 1000 }, 30_000);
 * const release = await serial.acquire(deadline);
 * try {
 *   // one caller at a time here
 * } finally {
 *   release();
 *   deadline.clear();
 * }
 * ```
 */
export class Serial {
  #tail: Promise<void> = Promise.resolve();

  /** Waits for every earlier caller to release; returns this caller's release. */
  async acquire(deadline: Deadline): Promise<() => void> {
    const previous = this.#tail;
    const mine = Promise.withResolvers<void>();
    this.#tail = mine.promise;
    try {
      await deadline.race(previous);
    } catch (error) {
      previous.then(() => mine.resolve());
      throw error;
    }
    return () => mine.resolve();
  }
}
