/**
 * Computing a verdict: the observation of one case compared with the case's expected verdict.
 *
 * @module
 */

import type { ExpectedVerdict, Observation, Status } from "./case.ts";

/** A computed verdict: status plus one line saying why. */
export interface Verdict {
  readonly status: Status;
  readonly detail: string;
}

/** Formats an expected verdict, e.g. `accept` or `reject E_UUID`. */
export function formatExpected(expected: ExpectedVerdict): string {
  return expected.kind === "accept" ? "accept" : `reject ${expected.errorClass}`;
}

/**
 * Compares `observation` with `expected`. Crashes, frozen control planes, timeouts and skips are their
 * own statuses whatever was expected; a violation of a requirement the case checked itself is a
 * `fail`.
 *
 * @example
 * ```ts
 * import { judge } from "./verdict.ts";
 * const v = judge({ kind: "reject", errorClass: "E_UUID" }, {
 *   outcome: "rejected",
 *   errorClass: "E_UUID",
 * });
 * console.log(v.status); // "pass"
 * ```
 */
export function judge(expected: ExpectedVerdict, observation: Observation): Verdict {
  const said = observation.message ? `: ${oneLine(observation.message)}` : "";
  switch (observation.outcome) {
    case "skipped":
      return { status: "skip", detail: observation.note ?? "skipped" };
    case "crashed":
      return { status: "crash", detail: `crashed${said}` };
    case "frozen":
      return { status: "frozen", detail: `control plane stopped answering${said}` };
    case "timeout":
      return {
        status: "timeout",
        detail: `no outcome within the bounded wait (expected ${formatExpected(expected)})${said}`,
      };
  }
  const violations = observation.violations ?? [];
  if (violations.length > 0) {
    const more = violations.length > 1 ? ` (+${violations.length - 1} more)` : "";
    return { status: "fail", detail: `${violations[0]}${more}` };
  }
  if (expected.kind === "accept") {
    return observation.outcome === "accepted"
      ? { status: "pass", detail: observation.note ?? "accepted" }
      : {
        status: "fail",
        detail: `rejected with ${observation.errorClass ?? "no class"}${said}; expected acceptance`,
      };
  }
  if (observation.outcome === "accepted") {
    return { status: "fail", detail: `accepted; expected rejection with ${expected.errorClass}` };
  }
  if (observation.errorClass !== expected.errorClass) {
    return {
      status: "fail",
      detail: `rejected with ${
        observation.errorClass ?? "no class"
      }${said}; expected ${expected.errorClass}`,
    };
  }
  return { status: "pass", detail: `rejected with ${expected.errorClass}${said}` };
}

function oneLine(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}
