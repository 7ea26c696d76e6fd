/**
 * Suite speed: the wall time of `deno task conformance --impl NAME` for one implementation, as a
 * user runs it (default concurrency, a report directory of its own), and the per-case times the
 * suite itself recorded in `results.json`.
 *
 * @module
 */

import { median } from "./stats.ts";
import { LineReader, stopProcess } from "./process.ts";

const CLI = new URL("../cli/main.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;

/** One timed run of the conformance command. */
export interface SuiteRun {
  readonly seconds: number;
  readonly exitCode: number;
  /** From `results.json`, when it was written. */
  readonly results: number | null;
  readonly unexpected: number | null;
  /** Median seconds of one result row of the implementation. */
  readonly caseSeconds: number | null;
  /** Why there is no `results.json`, if there is none. */
  readonly missing?: string;
}

/** The per-case figures of a `results.json`. */
export interface ResultsSummary {
  readonly results: number;
  readonly unexpected: number;
  readonly caseSeconds: number | null;
}

/**
 * Summarises a conformance `results.json` for one implementation: rows, unexpected rows and the
 * median seconds of the rows where it is the implementation under test.
 *
 * @throws {Error} when the text is not a results document.
 * @example
 * ```ts
 * import { summarizeResults } from "./suite.ts";
 * const text = JSON.stringify({
 *   results: [
 *     { implementation: "ts", unexpected: false, seconds: 0.2 },
 *     { implementation: "ts", unexpected: true, seconds: 0.4 },
 *   ],
 * });
 * console.log(summarizeResults(text, "ts")); // { results: 2, unexpected: 1, caseSeconds: 0.30000000000000004 }
 * ```
 */
export function summarizeResults(text: string, impl: string): ResultsSummary {
  const doc = JSON.parse(text) as { results?: unknown };
  if (!Array.isArray(doc.results)) throw new Error("results.json has no results array");
  const rows = doc.results as { implementation?: string; unexpected?: boolean; seconds?: number }[];
  const mine = rows.filter((r) => r.implementation === impl && typeof r.seconds === "number");
  return {
    results: rows.length,
    unexpected: rows.filter((r) => r.unexpected === true).length,
    caseSeconds: mine.length > 0 ? median(mine.map((r) => r.seconds!)) : null,
  };
}

/**
 * Runs `migwire conformance --impl IMPL --out OUT` once and times it. `env` is passed to the
 * command (e.g. the user's own `TMPDIR`).
 *
 * @example
 * ```ts ignore
 * import { runSuite } from "./suite.ts";
 * const run = await runSuite("qemu-10.0", "out/bench/suite/qemu-10.0", {}, 3_600_000);
 * console.log(run.seconds, run.results);
 * ```
 */
export async function runSuite(
  impl: string,
  out: string,
  env: Record<string, string>,
  timeoutMs: number,
  onLine?: (line: string) => void,
): Promise<SuiteRun> {
  await Deno.remove(out, { recursive: true }).catch(() => {});
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "conformance", "--impl", impl, "--out", out],
    cwd: ROOT,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new LineReader(child.stderr, 20);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stopProcess(child);
  }, timeoutMs);
  const pump = (async () => {
    for (let line; (line = await stderr.next()) !== null;) onLine?.(line);
  })();
  const status = await child.status;
  clearTimeout(timer);
  await pump;
  const seconds = (performance.now() - started) / 1000;
  let summary: ResultsSummary | undefined;
  let missing: string | undefined;
  try {
    summary = summarizeResults(await Deno.readTextFile(`${out}/results.json`), impl);
  } catch (error) {
    const tail = stderr.tail.filter((l) => l.trim()).slice(-3).join(" | ");
    missing = timedOut
      ? `no result within ${timeoutMs / 1000} s`
      : `conformance wrote no results (exit ${status.code}): ${tail || (error as Error).message}`;
  }
  return {
    seconds,
    exitCode: status.code,
    results: summary?.results ?? null,
    unexpected: summary?.unexpected ?? null,
    caseSeconds: summary?.caseSeconds ?? null,
    ...(missing === undefined ? {} : { missing }),
  };
}
