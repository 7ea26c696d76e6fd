/**
 * Suite speed: the wall time of `deno task conformance --impl NAME` for one implementation, as a
 * user runs it (default concurrency, temporary files on the user's `/tmp`, a report directory of
 * its own), the per-case times the suite itself recorded in `results.json`, and the processes it
 * left running.
 *
 * @module
 */

import { median } from "./stats.ts";
import { killGroupLeftovers, LineReader, stopProcess } from "./process.ts";

const CLI = new URL("../cli/main.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;
const SETSID = "/usr/bin/setsid";

/** One timed run of the conformance command. */
export interface SuiteRun {
  readonly seconds: number;
  readonly exitCode: number;
  /** From `results.json`, when it was written. */
  readonly results: number | null;
  readonly unexpected: number | null;
  /** Median seconds of one result row of the implementation. */
  readonly caseSeconds: number | null;
  /** Command names of the processes the run left behind (killed after it). */
  readonly leaked: readonly string[];
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

/** Where and how long a suite run may run. */
export interface SuiteRunOptions {
  /** The directory the run's own temporary directory is made in (the user's, e.g. `/tmp`). */
  readonly tmpRoot: string;
  readonly timeoutMs: number;
  /** Receives every line the command prints on stderr. */
  readonly onLine?: (line: string) => void;
}

/**
 * Runs `migwire conformance --impl IMPL --out OUT` once and times it. The command runs in a
 * session of its own (`setsid`) with a private `TMPDIR`: QEMU processes it leaves behind are
 * killed by pid once it has exited (and counted), and their files removed with the directory.
 *
 * @example
 * ```ts ignore
 * import { runSuite } from "./suite.ts";
 * const run = await runSuite("qemu-10.0", "out/bench/suite/qemu-10.0", { tmpRoot: "/tmp", timeoutMs: 3_600_000 });
 * console.log(run.seconds, run.results, run.leaked);
 * ```
 */
export async function runSuite(
  impl: string,
  out: string,
  options: SuiteRunOptions,
): Promise<SuiteRun> {
  await Deno.remove(out, { recursive: true }).catch(() => {});
  const tmp = await Deno.makeTempDir({ dir: options.tmpRoot, prefix: "migwire-bench-suite-" });
  const command = [Deno.execPath(), "run", "-A", CLI, "conformance", "--impl", impl, "--out", out];
  const session = await hasSetsid();
  const started = performance.now();
  const child = new Deno.Command(session ? SETSID : command[0], {
    args: session ? command : command.slice(1),
    cwd: ROOT,
    env: { TMPDIR: tmp },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = new LineReader(child.stderr, 20);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    stopProcess(child);
  }, options.timeoutMs);
  const pump = (async () => {
    for (let line; (line = await stderr.next()) !== null;) options.onLine?.(line);
  })();
  const status = await child.status;
  const seconds = (performance.now() - started) / 1000;
  clearTimeout(timer);
  await pump;
  // setsid made the command its own group leader: whatever is left in the group leaked.
  const leaked = session ? await killGroupLeftovers(child.pid) : [];
  await Deno.remove(tmp, { recursive: true }).catch(() => {});
  let summary: ResultsSummary | undefined;
  let missing: string | undefined;
  try {
    summary = summarizeResults(await Deno.readTextFile(`${out}/results.json`), impl);
  } catch (error) {
    const tail = stderr.tail.filter((l) => l.trim()).slice(-3).join(" | ");
    missing = timedOut
      ? `no result within ${options.timeoutMs / 1000} s`
      : `conformance wrote no results (exit ${status.code}): ${tail || (error as Error).message}`;
  }
  return {
    seconds,
    exitCode: status.code,
    results: summary?.results ?? null,
    unexpected: summary?.unexpected ?? null,
    caseSeconds: summary?.caseSeconds ?? null,
    leaked,
    ...(missing === undefined ? {} : { missing }),
  };
}

async function hasSetsid(): Promise<boolean> {
  try {
    return (await Deno.stat(SETSID)).isFile;
  } catch {
    return false;
  }
}
