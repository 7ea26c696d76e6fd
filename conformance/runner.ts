/**
 * The runner: every case against every implementation it applies to, with bounded concurrency, a
 * per-case timeout that aborts the case (whose `await using` then cleans up), and the strict
 * comparison with the expectations.
 *
 * @module
 */

import type { Implementation, ImplementationInfo } from "../harness/implementation.ts";
import type { Case, Observation, Role, Status, Transport } from "./case.ts";
import {
  type ExpectationFile,
  expectationKey,
  isExpectedStatus,
  resolveExpectation,
  unusedPatterns,
} from "./expectations.ts";
import type { Harness } from "./harness.ts";
import { formatExpected, judge } from "./verdict.ts";

/** One row of `results.json`. */
export interface ResultRow {
  readonly case: string;
  /** Implementation under test (for `pair`: the source). */
  readonly implementation: string;
  readonly role: Role;
  /** The other side: `ts` (harness) or, for `pair`, the destination. */
  readonly peer: string;
  readonly transport: Transport;
  readonly status: Status;
  /** Status the expectations predict (`pass` unless an entry says otherwise). */
  readonly expected: Status;
  readonly unexpected: boolean;
  readonly detail: string;
  readonly evidence: Readonly<Record<string, unknown>>;
  /** The case's expected verdict, e.g. `reject E_UUID`. */
  readonly verdict: string;
  /** The expectation's reason and reference, when one matched. */
  readonly reason?: string;
  readonly ref?: string;
  /** The expectation pattern that matched, and the implementation whose file holds it. */
  readonly pattern?: string;
  readonly expectationFile?: string;
  /** Repetition index from 0, with `--repeat`. */
  readonly repeat?: number;
  readonly seconds: number;
}

/** A row plus the transcript the reporters write for non-passing rows. */
export interface RunResult extends ResultRow {
  readonly transcript?: unknown;
}

/** One planned run: a case against a subject (and for `pair`, a destination). */
export interface Job {
  readonly case: Case;
  readonly subject: Implementation;
  /** `pair`: the destination. */
  readonly peer?: Implementation;
  /** Key the expectations are looked up under. */
  readonly key: string;
}

/**
 * Whether `info` can play `role`. `ts-arrival-order` differs from `ts` only as a destination, so
 * it is not run as a source.
 */
export function canPlay(info: ImplementationInfo, role: "source" | "destination"): boolean {
  return role === "destination" || info.name !== "ts-arrival-order";
}

/**
 * Plans every (case, implementation) run, in case order. `pair` cases run for every source ×
 * destination pair.
 *
 * @example
 * ```ts ignore
 * import { planJobs } from "./runner.ts";
 * const jobs = planJobs(cases, implementations);
 * ```
 */
export function planJobs(
  cases: readonly Case[],
  implementations: readonly Implementation[],
): Job[] {
  const jobs: Job[] = [];
  for (const c of cases) {
    if (c.role === "pair") {
      for (const source of implementations) {
        if (!canPlay(source, "source")) continue;
        for (const destination of implementations) {
          if (c.appliesTo && !c.appliesTo(source, destination)) continue;
          jobs.push({
            case: c,
            subject: source,
            peer: destination,
            key: expectationKey(c.id, source.name, destination.name),
          });
        }
      }
      continue;
    }
    for (const subject of implementations) {
      if (!canPlay(subject, c.role)) continue;
      if (c.appliesTo && !c.appliesTo(subject)) continue;
      jobs.push({ case: c, subject, key: c.id });
    }
  }
  return jobs;
}

/** The expectation files a job's key is looked up in, in order. */
export function lookupFiles(
  job: Job,
  expectations: ReadonlyMap<string, ExpectationFile>,
): ExpectationFile[] {
  const names = job.peer ? [job.subject.name, job.peer.name] : [job.subject.name];
  return names.map((name) => expectations.get(name)).filter((f): f is ExpectationFile => !!f);
}

/**
 * Patterns, per implementation, that resolve none of `jobs` (plan them from every case and every
 * available implementation, not the filtered set). Strict: each one fails the run.
 */
export function findUnusedExpectations(
  jobs: readonly Job[],
  expectations: ReadonlyMap<string, ExpectationFile>,
): { implementation: string; pattern: string }[] {
  const unused: { implementation: string; pattern: string }[] = [];
  for (const [name, file] of expectations) {
    const mine = jobs.filter((j) => j.subject.name === name || j.peer?.name === name);
    const lookups = mine.map((j) => lookupFiles(j, expectations));
    for (const pattern of unusedPatterns(file, lookups, mine.map((j) => j.key))) {
      unused.push({ implementation: name, pattern });
    }
  }
  return unused;
}

/** Options of {@linkcode runJobs}. */
export interface RunOptions {
  readonly harness: Harness;
  readonly expectations: ReadonlyMap<string, ExpectationFile>;
  /** Parallel jobs; default 2 (the machine has two cores). */
  readonly concurrency?: number;
  /** Default per-case timeout in milliseconds (a case's own `timeoutMs` wins); default 60 s. */
  readonly caseTimeoutMs?: number;
  /** Run every job this many times; default 1. */
  readonly repeat?: number;
  /** Cancels the whole run; running cases are aborted and cleaned up. */
  readonly signal?: AbortSignal;
  /** Called once per finished row (progress on stderr, `deno test` steps). */
  readonly onResult?: (row: RunResult, done: number, total: number) => void;
}

/** How long an aborted case may take to dispose what it started before the runner moves on. */
const CLEANUP_GRACE_MS = 15_000;

/**
 * Runs one job once and judges it.
 *
 * @example
 * ```ts ignore
 * import { runJob } from "./runner.ts";
 * const row = await runJob(job, { harness, expectations: new Map() });
 * ```
 */
export async function runJob(job: Job, options: RunOptions, repeat?: number): Promise<RunResult> {
  const c = job.case;
  const started = performance.now();
  const timeoutMs = c.timeoutMs ?? options.caseTimeoutMs ?? 60_000;
  const controller = new AbortController();
  const timer = setTimeout(
    () => controller.abort(new DOMException(`case timeout ${timeoutMs} ms`, "TimeoutError")),
    timeoutMs,
  );
  const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller
    .signal;
  let observation: Observation;
  const body = (async () => {
    try {
      return await c.run({
        subject: job.subject,
        peer: job.peer,
        harness: options.harness,
        signal,
      });
    } catch (error) {
      if (signal.aborted) {
        return { outcome: "timeout", message: String(signal.reason) } as Observation;
      }
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      return {
        outcome: "rejected",
        message,
        violations: [`the case could not run: ${message}`],
        evidence: { stack: error instanceof Error ? error.stack : undefined },
      } as Observation;
    }
  })();
  const aborted = new Promise<Observation>((resolve) => {
    const onAbort = () =>
      resolve({
        outcome: "timeout",
        message: `no result within ${timeoutMs} ms`,
        evidence: { caseTimeoutMs: timeoutMs },
      });
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    observation = await Promise.race([body, aborted]);
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  // Let the case's disposers finish (processes killed, sockets closed) before the next case.
  await Promise.race([body, new Promise((r) => setTimeout(r, CLEANUP_GRACE_MS))]);
  const verdict = judge(c.expected, observation);
  const resolved = resolveExpectation(lookupFiles(job, options.expectations), job.key);
  return {
    case: c.id,
    implementation: job.subject.name,
    role: c.role,
    peer: job.peer?.name ?? options.harness.info.name,
    transport: c.transport,
    status: verdict.status,
    expected: resolved.status,
    unexpected: !isExpectedStatus(resolved, verdict.status),
    detail: verdict.detail,
    evidence: observation.evidence ?? {},
    verdict: formatExpected(c.expected),
    ...(resolved.reason === undefined ? {} : { reason: resolved.reason }),
    ...(resolved.ref === undefined ? {} : { ref: resolved.ref }),
    ...(resolved.pattern === undefined ? {} : { pattern: resolved.pattern }),
    ...(resolved.file === undefined ? {} : { expectationFile: resolved.file }),
    ...(repeat === undefined ? {} : { repeat }),
    seconds: Math.round(performance.now() - started) / 1000,
    ...(observation.transcript === undefined ? {} : { transcript: observation.transcript }),
  };
}

/**
 * Runs `jobs` (each `repeat` times) with at most `concurrency` at once; rows come back in job order.
 *
 * @example
 * ```ts ignore
 * import { planJobs, runJobs } from "./runner.ts";
 * const rows = await runJobs(planJobs(cases, impls), { harness, expectations, concurrency: 2 });
 * ```
 */
export async function runJobs(jobs: readonly Job[], options: RunOptions): Promise<RunResult[]> {
  const repeat = Math.max(1, options.repeat ?? 1);
  const work: { job: Job; repeat?: number }[] = [];
  for (const job of jobs) {
    for (let r = 0; r < repeat; r++) work.push({ job, repeat: repeat > 1 ? r : undefined });
  }
  const results: RunResult[] = new Array(work.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < work.length) {
      const i = next++;
      results[i] = await runJob(work[i].job, options, work[i].repeat);
      done++;
      options.onResult?.(results[i], done, work.length);
    }
  };
  const concurrency = Math.max(1, Math.min(options.concurrency ?? 2, work.length));
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

/** One progress line, e.g. `[ 12/340] pass     qemu-7.2   multifd.init.magic (1.2 s)`. */
export function progressLine(row: ResultRow, done: number, total: number): string {
  const width = String(total).length;
  const mark = row.unexpected ? `UNEXPECTED (expected ${row.expected})` : "";
  const who = row.role === "pair" ? `${row.implementation}->${row.peer}` : row.implementation;
  return `[${String(done).padStart(width)}/${total}] ${row.status.padEnd(7)} ${
    who.padEnd(12)
  } ${row.case}${row.repeat === undefined ? "" : ` #${row.repeat}`} (${
    row.seconds.toFixed(1)
  } s) ${mark}`.trimEnd();
}
