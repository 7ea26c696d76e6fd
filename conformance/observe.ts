/**
 * Turning an implementation's {@linkcode Outcome} into an {@linkcode Observation}, and bounded waits
 * for outcomes: a destination that never reports is a `timeout`, not a hang.
 *
 * @module
 */

import type { Outcome, RamSpec } from "../harness/implementation.ts";
import { patternRam, sha256Hex } from "../harness/ram/pattern.ts";
import { classOf } from "../harness/wire/errors.ts";
import type { Observation } from "./case.ts";

const digests = new Map<string, Promise<string>>();

/**
 * SHA-256 of the guest RAM every implementation seeds from `ram` (cached per spec).
 *
 * @example
 * ```ts
 * import { expectedRamSha256 } from "./observe.ts";
 * console.log((await expectedRamSha256({ mib: 1, seed: 1 })).length); // 64
 * ```
 */
export function expectedRamSha256(ram: RamSpec): Promise<string> {
  const key = `${ram.mib}:${ram.seed}:${ram.density ?? ""}`;
  let digest = digests.get(key);
  if (!digest) {
    digest = sha256Hex(patternRam(ram.mib, ram.seed, ram.density));
    digests.set(key, digest);
  }
  return digest;
}

/** An outcome that did not arrive within its bound. */
export const TIMED_OUT: Outcome = { status: "timeout" };

/**
 * How long an outcome may take, once its wait was aborted, to report what it saw then. A QEMU
 * that stopped answering is probed (2 s) and its stacks read with gdb (at most 10 s, about one
 * on an idle machine, several under the test suite's load).
 */
export const OUTCOME_GRACE_MS = 15_000;

/**
 * A shorter bound that starts once `after` settles: a destination whose source has ended has had
 * all the input it will get, and needs no more than `ms` to act on it.
 */
export interface SettleBound {
  readonly after: Promise<unknown>;
  readonly ms: number;
}

/**
 * Waits for `outcome(signal)` at most `ms` milliseconds (or until `signal` fires, or `settle.ms`
 * after `settle.after` settled). When the bound fires the implementation is asked for what it saw
 * (QEMU probes its control plane then: `frozen` or `timeout`, with evidence), given
 * {@linkcode OUTCOME_GRACE_MS}; past that, or on an abort error, the result is
 * `{status: "timeout"}` rather than an exception. Other errors become a `failed` outcome carrying
 * their class.
 *
 * @example
 * ```ts
 * import { boundedOutcome } from "./observe.ts";
 * const never = { outcome: () => new Promise<never>(() => {}) };
 * const outcome = await boundedOutcome(never, new AbortController().signal, 10);
 * console.log(outcome.status); // timeout
 * ```
 */
export async function boundedOutcome(
  running: { outcome(signal?: AbortSignal): Promise<Outcome> },
  signal: AbortSignal,
  ms: number,
  settle?: SettleBound,
): Promise<Outcome> {
  const settled = new AbortController();
  let settleTimer: ReturnType<typeof setTimeout> | undefined;
  let done = false;
  const startSettle = () => {
    if (done) return;
    settleTimer = setTimeout(
      () =>
        settled.abort(
          new DOMException(`no outcome ${settle!.ms} ms after its peer ended`, "TimeoutError"),
        ),
      settle!.ms,
    );
  };
  settle?.after.then(startSettle, startSettle);
  const bound = AbortSignal.any([signal, AbortSignal.timeout(ms), settled.signal]);
  let onAbort: (() => void) | undefined;
  let grace: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<Outcome>((resolve) => {
    onAbort = () => grace = setTimeout(() => resolve(TIMED_OUT), OUTCOME_GRACE_MS);
    if (bound.aborted) onAbort();
    else bound.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([running.outcome(bound), late]);
  } catch (error) {
    const errorClass = classOf(error);
    if (errorClass === "E_TIMEOUT" || bound.aborted) return TIMED_OUT;
    return { status: "failed", errorClass, message: String((error as Error)?.message ?? error) };
  } finally {
    done = true;
    if (onAbort) bound.removeEventListener("abort", onAbort);
    clearTimeout(grace);
    clearTimeout(settleTimer);
  }
}

/**
 * Maps the outcome of the side under test to an observation: a death by signal is `crashed`, a
 * control plane that stopped answering `frozen`, `completed` is `accepted` (with a RAM check when
 * `expectedRam` is given), `failed` is `rejected` with its class.
 *
 * @example
 * ```ts
 * import { observeOutcome } from "./observe.ts";
 * const o = observeOutcome({ status: "failed", errorClass: "E_UUID", message: "uuid" });
 * console.log(o.outcome, o.errorClass); // rejected E_UUID
 * ```
 */
export function observeOutcome(outcome: Outcome, expectedRam?: string): Observation {
  const evidence = outcomeEvidence(outcome);
  const base = { message: outcome.message, evidence };
  if (outcome.exit?.signal || outcome.status === "crashed") {
    return { ...base, outcome: "crashed", message: outcome.message ?? exitText(outcome) };
  }
  if (outcome.status === "frozen" || outcome.controlPlane === "frozen") {
    return { ...base, outcome: "frozen" };
  }
  if (outcome.status === "timeout") return { ...base, outcome: "timeout" };
  if (outcome.status === "failed") {
    return { ...base, outcome: "rejected", errorClass: outcome.errorClass };
  }
  const violations: string[] = [];
  if (expectedRam !== undefined) {
    if (outcome.ramSha256 === undefined) {
      violations.push("destination reported no RAM digest");
    } else if (outcome.ramSha256 !== expectedRam) {
      violations.push(
        `RAM sha256 ${outcome.ramSha256.slice(0, 16)}…, expected ${
          expectedRam.slice(0, 16)
        }… (pattern)`,
      );
    }
  }
  return { ...base, outcome: "accepted", violations };
}

/** The evidence fields of an outcome, for the report. */
export function outcomeEvidence(outcome: Outcome): Record<string, unknown> {
  const evidence: Record<string, unknown> = { status: outcome.status };
  if (outcome.errorClass) evidence.errorClass = outcome.errorClass;
  if (outcome.message) evidence.message = outcome.message;
  if (outcome.exit) evidence.exit = outcome.exit;
  if (outcome.controlPlane) evidence.controlPlane = outcome.controlPlane;
  if (outcome.ramSha256) evidence.ramSha256 = outcome.ramSha256;
  if (outcome.bytes !== undefined) evidence.bytes = outcome.bytes;
  if (outcome.seconds !== undefined) evidence.seconds = outcome.seconds;
  if (outcome.evidence) Object.assign(evidence, outcome.evidence);
  return evidence;
}

function exitText(outcome: Outcome): string {
  const exit = outcome.exit;
  return exit?.signal ? `killed by ${exit.signal}` : `exited with ${exit?.code}`;
}
