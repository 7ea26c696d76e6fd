/**
 * Expectations: per implementation, which cases are known not to pass and why. A file maps case-id
 * globs to an expected status with a reason and a reference into QEMU's code. Matching is strict: a
 * result that differs from its expectation is unexpected (an unexpected pass too), and an entry that
 * matches no case is an error.
 *
 * Keys are case ids; for interop (`pair`) rows the key is `<case>@<source>-><destination>`, looked
 * up in the source's file first, then in the destination's.
 *
 * @module
 */

import { type Status, STATUSES } from "./case.ts";

/** One expectation. */
export interface ExpectationEntry {
  readonly status: Status;
  /**
   * Other statuses that count as expected too. Only for undefined behaviour, where the same defect
   * shows differently from run to run (an out-of-bounds access that crashes or reads a stale
   * pointer); the reason must say so.
   */
  readonly also?: readonly Status[];
  /** Why the implementation behaves so, in one or two sentences. */
  readonly reason: string;
  /** QEMU function, commit and version, e.g. `migration_ioc_process_incoming, 6720c2b327, 8.0`. */
  readonly ref?: string;
}

/** The contents of `conformance/expectations/<implementation>.json`. */
export interface ExpectationFile {
  readonly implementation: string;
  /** Glob (`*`, `?`) over keys → expectation. */
  readonly expectations: Readonly<Record<string, ExpectationEntry>>;
}

/** The expectation that applies to one key. */
export interface ResolvedExpectation {
  readonly status: Status;
  readonly also?: readonly Status[];
  readonly reason?: string;
  readonly ref?: string;
  /** The pattern that matched and the implementation whose file holds it. */
  readonly pattern?: string;
  readonly file?: string;
}

/** Directory of the committed expectation files. */
export const EXPECTATIONS_DIR: string = new URL("./expectations", import.meta.url).pathname;

/**
 * The file name for an implementation: `qemu-7.2.json`; `qemu:/opt/q` becomes `qemu_opt_q.json`.
 *
 * @example
 * ```ts
 * import { expectationFileName } from "./expectations.ts";
 * console.log(expectationFileName("qemu:/opt/qemu")); // "qemu_opt_qemu.json"
 * ```
 */
export function expectationFileName(implementation: string): string {
  return `${implementation.replace(/[^A-Za-z0-9.-]+/g, "_").replace(/_+/g, "_")}.json`;
}

/** The key a result is matched under. */
export function expectationKey(caseId: string, source?: string, destination?: string): string {
  return source === undefined ? caseId : `${caseId}@${source}->${destination}`;
}

/**
 * Parses and validates an expectation file, naming the entry and field at fault.
 *
 * @example
 * ```ts
 * import { parseExpectations } from "./expectations.ts";
 * const file = parseExpectations(
 *   '{"implementation":"x","expectations":{"a.*":{"status":"fail","reason":"known"}}}',
 *   "x.json",
 * );
 * console.log(Object.keys(file.expectations)); // ["a.*"]
 * ```
 */
export function parseExpectations(text: string, origin: string): ExpectationFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw new Error(`${origin}: not JSON: ${(error as Error).message}`);
  }
  if (!isRecord(data) || typeof data.implementation !== "string") {
    throw new Error(`${origin}: "implementation" must be a string`);
  }
  const raw = data.expectations ?? {};
  if (!isRecord(raw)) throw new Error(`${origin}: "expectations" must be an object`);
  const expectations: Record<string, ExpectationEntry> = {};
  for (const [pattern, entry] of Object.entries(raw)) {
    if (!isRecord(entry)) throw new Error(`${origin}: entry ${pattern} must be an object`);
    if (!(STATUSES as readonly unknown[]).includes(entry.status)) {
      throw new Error(
        `${origin}: entry ${pattern}: status ${JSON.stringify(entry.status)} is not one of ${
          STATUSES.join(", ")
        }`,
      );
    }
    if (typeof entry.reason !== "string" || entry.reason.trim() === "") {
      throw new Error(`${origin}: entry ${pattern}: "reason" must be a non-empty string`);
    }
    if (entry.ref !== undefined && typeof entry.ref !== "string") {
      throw new Error(`${origin}: entry ${pattern}: "ref" must be a string`);
    }
    const also = entry.also;
    if (
      also !== undefined &&
      (!Array.isArray(also) || also.length === 0 ||
        !also.every((s) => (STATUSES as readonly unknown[]).includes(s) && s !== entry.status))
    ) {
      throw new Error(
        `${origin}: entry ${pattern}: "also" must be a non-empty list of other statuses (${
          STATUSES.join(", ")
        })`,
      );
    }
    expectations[pattern] = {
      status: entry.status as Status,
      ...(also === undefined ? {} : { also: also as Status[] }),
      reason: entry.reason,
      ...(entry.ref === undefined ? {} : { ref: entry.ref as string }),
    };
  }
  return { implementation: data.implementation, expectations };
}

/** Reads `<dir>/<implementation>.json`; an absent file is an empty one. */
export async function loadExpectations(
  implementation: string,
  dir: string = EXPECTATIONS_DIR,
): Promise<ExpectationFile> {
  const path = `${dir}/${expectationFileName(implementation)}`;
  try {
    return parseExpectations(await Deno.readTextFile(path), path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { implementation, expectations: {} };
    throw error;
  }
}

/** Serialises a file the way it is committed: sorted keys, two-space indent, final newline. */
export function formatExpectations(file: ExpectationFile): string {
  const sorted: Record<string, ExpectationEntry> = {};
  for (const key of Object.keys(file.expectations).sort()) sorted[key] = file.expectations[key];
  return `${
    JSON.stringify({ implementation: file.implementation, expectations: sorted }, null, 2)
  }\n`;
}

const globCache = new Map<string, RegExp>();

/**
 * Whether `key` matches `pattern` (`*` any run of characters, `?` one character).
 *
 * @example
 * ```ts
 * import { globMatches } from "./expectations.ts";
 * console.log(globMatches("multifd.order.*.tls*", "multifd.order.main-last.tls.ch3")); // true
 * ```
 */
export function globMatches(pattern: string, key: string): boolean {
  let re = globCache.get(pattern);
  if (!re) {
    const body = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(
      /\?/g,
      ".",
    );
    re = new RegExp(`^${body}$`);
    globCache.set(pattern, re);
  }
  return re.test(key);
}

/** How specific a pattern is: its count of literal characters (an exact id beats any glob). */
function specificity(pattern: string): number {
  return pattern.includes("*") || pattern.includes("?")
    ? pattern.replace(/[*?]/g, "").length
    : Number.MAX_SAFE_INTEGER;
}

/** The most specific pattern of `file` matching `key` (ties: the first in the file). */
export function matchPattern(file: ExpectationFile, key: string): string | undefined {
  let best: string | undefined;
  for (const pattern of Object.keys(file.expectations)) {
    if (!globMatches(pattern, key)) continue;
    if (best === undefined || specificity(pattern) > specificity(best)) best = pattern;
  }
  return best;
}

/**
 * Resolves the expectation for `key` from `files` in order; `pass` when none matches.
 *
 * @example
 * ```ts
 * import { resolveExpectation } from "./expectations.ts";
 * const file = {
 *   implementation: "qemu-7.2",
 *   expectations: { "multifd.order.*": { status: "fail" as const, reason: "arrival order" } },
 * };
 * console.log(resolveExpectation([file], "multifd.order.main-last").status); // "fail"
 * ```
 */
export function resolveExpectation(
  files: readonly ExpectationFile[],
  key: string,
): ResolvedExpectation {
  for (const file of files) {
    const pattern = matchPattern(file, key);
    if (pattern !== undefined) {
      const entry = file.expectations[pattern];
      return { ...entry, pattern, file: file.implementation };
    }
  }
  return { status: "pass" };
}

/**
 * Patterns of `file` that resolve no key in `keys` (the keys the file takes part in). Each one is an
 * error: it documents a divergence no case shows.
 */
export function unusedPatterns(
  file: ExpectationFile,
  lookups: readonly (readonly ExpectationFile[])[],
  keys: readonly string[],
): string[] {
  const used = new Set<string>();
  keys.forEach((key, i) => {
    const resolved = resolveExpectation(lookups[i], key);
    if (resolved.file === file.implementation && resolved.pattern) used.add(resolved.pattern);
  });
  return Object.keys(file.expectations).filter((p) => !used.has(p));
}

/** One observed result, as the updater needs it. */
export interface ObservedKey {
  readonly key: string;
  readonly status: Status;
  readonly detail: string;
  /** The pattern of this file that resolved the key before the run, if any. */
  readonly pattern?: string;
}

/**
 * Rewrites `file` from the results of a run (the keys this file is responsible for): a pattern whose
 * keys all kept its status stays as it is; a pattern contradicted by the run is replaced by exact
 * entries for its keys that still do not pass, keeping its reason and ref; a key that does not pass
 * and had no entry gets one whose reason quotes what was observed. Patterns no key of this run
 * touched are kept (they belong to cases the run filtered out).
 *
 * @example
 * ```ts
 * import { updateExpectations } from "./expectations.ts";
 * const file = {
 *   implementation: "x",
 *   expectations: { "a.*": { status: "fail" as const, reason: "known" } },
 * };
 * const next = updateExpectations(file, [
 *   { key: "a.1", status: "pass", detail: "accepted", pattern: "a.*" },
 *   { key: "a.2", status: "fail", detail: "rejected", pattern: "a.*" },
 * ]);
 * console.log(next.expectations); // { "a.2": { status: "fail", reason: "known" } }
 * ```
 */
export function updateExpectations(
  file: ExpectationFile,
  observed: readonly ObservedKey[],
): ExpectationFile {
  const byPattern = new Map<string, ObservedKey[]>();
  for (const o of observed) {
    if (o.pattern === undefined) continue;
    byPattern.set(o.pattern, [...(byPattern.get(o.pattern) ?? []), o]);
  }
  const next: Record<string, ExpectationEntry> = {};
  for (const [pattern, entry] of Object.entries(file.expectations)) {
    const hits = byPattern.get(pattern) ?? [];
    if (hits.every((o) => isExpectedStatus(entry, o.status))) {
      next[pattern] = entry;
      continue;
    }
    for (const o of hits) {
      if (o.status === "pass") continue;
      next[o.key] = {
        status: o.status,
        reason: entry.reason,
        ...(entry.ref === undefined ? {} : { ref: entry.ref }),
      };
    }
  }
  for (const o of observed) {
    if (o.pattern !== undefined || o.status === "pass" || next[o.key]) continue;
    next[o.key] = { status: o.status, reason: `observed: ${o.detail}` };
  }
  return { implementation: file.implementation, expectations: next };
}

/**
 * Whether an observed status is what the expectation allows.
 *
 * @example
 * ```ts
 * import { isExpectedStatus } from "./expectations.ts";
 * console.log(isExpectedStatus({ status: "crash", also: ["fail"] }, "fail")); // true
 * ```
 */
export function isExpectedStatus(
  expected: { readonly status: Status; readonly also?: readonly Status[] },
  observed: Status,
): boolean {
  return observed === expected.status || (expected.also?.includes(observed) ?? false);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
