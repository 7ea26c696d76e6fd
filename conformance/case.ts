/**
 * The case model: a conformance case is data (a stable id, a requirement, its level, references to
 * QEMU's code, the role and transport under test, the expected verdict) plus one small function that
 * drives the implementation under test and returns what it observed.
 *
 * @module
 */

import type { Implementation, ImplementationInfo } from "../harness/implementation.ts";
import type { ErrorClass } from "../harness/wire/errors.ts";
import type { Harness } from "./harness.ts";

/** RFC 2119 level of a requirement. */
export type Level = "MUST" | "SHOULD";

/** Which side is under test; `pair` is an interop run between two implementations. */
export type Role = "destination" | "source" | "pair";

/** Transport of every channel. */
export type Transport = "plain" | "tls";

/** Every status a result can have. */
export const STATUSES = ["pass", "fail", "crash", "timeout", "frozen", "skip"] as const;

/**
 * Status of one case against one implementation: `crash` = the process died on a signal, `frozen` =
 * its control plane stopped answering, `timeout` = no outcome within the bounded wait.
 */
export type Status = typeof STATUSES[number];

/** A reference into QEMU's code: a function, the release where the behaviour began, the commit. */
export interface Ref {
  /** QEMU function, e.g. `multifd_recv_initial_packet`. */
  readonly fn: string;
  /** Source file, e.g. `migration/multifd.c`. */
  readonly file?: string;
  /** First release with the behaviour, e.g. `7.2` or `9.0`. */
  readonly since: string;
  /** Commit (abbreviated hash) that introduced it, when known. */
  readonly commit?: string;
  /** Spec section, e.g. `§3.1`. */
  readonly spec?: string;
}

/** What a conforming implementation does: complete the migration, or refuse it with a class. */
export type ExpectedVerdict =
  | { readonly kind: "accept" }
  | { readonly kind: "reject"; readonly errorClass: ErrorClass };

/** What the side under test did, as the case saw it. */
export type ObservedOutcome =
  | "accepted"
  | "rejected"
  | "crashed"
  | "frozen"
  | "timeout"
  | "skipped";

/** What a case observed. The verdict is computed from it (see `verdict.ts`). */
export interface Observation {
  readonly outcome: ObservedOutcome;
  /** Canonical class of a rejection. */
  readonly errorClass?: ErrorClass;
  /** The implementation's own words (error-desc, stderr line, error message). */
  readonly message?: string;
  /**
   * Requirement checks the case made itself that did not hold, each a sentence naming the field and
   * the value (e.g. `channel 1: init.version 2, expected 1`). Any entry makes the result `fail`.
   */
  readonly violations?: readonly string[];
  /** Why the case was skipped, or a short note for the report. */
  readonly note?: string;
  /** stderr lines, error-desc, exit, control-plane state, digests. */
  readonly evidence?: Readonly<Record<string, unknown>>;
  /** The wire transcript, written to `transcripts/` when the result is not a pass. */
  readonly transcript?: unknown;
}

/** Everything a case body gets. */
export interface CaseContext {
  /** The implementation under test (for `pair`: the source). */
  readonly subject: Implementation;
  /** For `pair`: the destination. */
  readonly peer?: Implementation;
  /** The TypeScript observing destination and scripted source. */
  readonly harness: Harness;
  /** Fires on the per-case timeout or when the run is cancelled. */
  readonly signal: AbortSignal;
}

/** Static data of a case; `run` is the only code. */
export interface CaseSpec {
  /** Stable id; never changes once published, e.g. `multifd.init.uuid-mismatch`. */
  readonly id: string;
  /** Family, e.g. `init`, `reject`, `order`, `tls`, `packet`, `interop`. */
  readonly family: string;
  /** One sentence, phrased as the requirement. */
  readonly requirement: string;
  readonly level: Level;
  readonly refs: readonly Ref[];
  readonly role: Role;
  readonly transport: Transport;
  /** Number of multifd channels configured on both sides. */
  readonly channels: number;
  readonly expected: ExpectedVerdict;
  /** Run under `deno test` too (the representative subset). */
  readonly representative?: boolean;
  /** Per-case timeout override, in milliseconds. */
  readonly timeoutMs?: number;
  /** Whether the case applies to `subject` (and for `pair`, to `peer` as destination). */
  readonly appliesTo?: (subject: ImplementationInfo, peer?: ImplementationInfo) => boolean;
}

/** A conformance case. */
export interface Case extends CaseSpec {
  run(ctx: CaseContext): Promise<Observation>;
}

/**
 * Defines a case, checking the id's shape so ids stay greppable and stable.
 *
 * @example
 * ```ts
 * import { defineCase } from "./case.ts";
 * const c = defineCase({
 *   id: "multifd.example.noop",
 *   family: "example",
 *   requirement: "An example MUST do nothing.",
 *   level: "MUST",
 *   refs: [],
 *   role: "destination",
 *   transport: "plain",
 *   channels: 2,
 *   expected: { kind: "accept" },
 *   run: () => Promise.resolve({ outcome: "accepted" }),
 * });
 * console.log(c.id);
 * ```
 */
export function defineCase(spec: Case): Case {
  if (!/^[a-z0-9]+(\.[a-z0-9][a-z0-9-]*)+$/.test(spec.id)) {
    throw new Error(`case id ${JSON.stringify(spec.id)} must be dotted lower-case words`);
  }
  return spec;
}

/** Every combination of the given axes, for generating variants instead of copying cases. */
export function product<T extends Record<string, readonly unknown[]>>(
  axes: T,
): { [K in keyof T]: T[K][number] }[] {
  let rows: Record<string, unknown>[] = [{}];
  for (const [key, values] of Object.entries(axes)) {
    rows = rows.flatMap((row) => values.map((value) => ({ ...row, [key]: value })));
  }
  return rows as { [K in keyof T]: T[K][number] }[];
}

/**
 * Every permutation of `items`, in lexicographic order of positions.
 *
 * @example
 * ```ts
 * import { permutations } from "./case.ts";
 * console.log(permutations(["main", 0, 1]).length); // 6
 * ```
 */
export function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [items.slice()];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest])
  );
}

/** Checks that ids are unique across a catalogue; a duplicate is a programming error. */
export function assertUniqueIds(cases: readonly CaseSpec[]): void {
  const seen = new Set<string>();
  for (const c of cases) {
    if (seen.has(c.id)) throw new Error(`duplicate case id ${c.id}`);
    seen.add(c.id);
  }
}

/** Formats a reference for reports, e.g. `multifd_recv_initial_packet (migration/multifd.c) since 9.0, c77b40859a`. */
export function formatRef(ref: Ref): string {
  const parts = [ref.file ? `${ref.fn} (${ref.file})` : ref.fn, `since ${ref.since}`];
  if (ref.commit) parts.push(ref.commit);
  if (ref.spec) parts.push(`spec ${ref.spec}`);
  return parts.join(", ");
}
