/**
 * The shape of `bench.json`: every figure of one benchmark run, with the machine, the versions
 * and the settings it was measured with. `bench.md` and `--compare` are derived from it.
 *
 * @module
 */

import type { Summary } from "./stats.ts";

/** Format tag of `bench.json`. */
export const REPORT_FORMAT = "migwire-bench/1";

/** Plain TCP or TLS on every channel. */
export type Transport = "plain" | "tls";

/** A source → destination pair of implementation names. */
export interface Pair {
  readonly src: string;
  readonly dst: string;
}

/** One migration pair at one channel count and transport, over all its runs. */
export interface ThroughputResult extends Pair {
  readonly channels: number;
  readonly transport: Transport;
  /** Runs attempted. */
  readonly runs: number;
  /** Guest RAM MB/s of the runs that completed with the right digest. */
  readonly mbps: Summary | null;
  /** Transfer seconds (see `settings.timing`). */
  readonly seconds: Summary | null;
  /** The source's own transfer span. */
  readonly sourceSeconds: Summary | null;
  /** The destination's own transfer span, when it reports one (QEMU: by its MIGRATION events). */
  readonly destinationSeconds: Summary | null;
  /** Bytes on the wire of one run, as the source counted them (median). */
  readonly wireBytes: number | null;
  /** Median MB/s over the reference pair's median MB/s at the same channels and transport. */
  readonly ratioToReference: number | null;
  /**
   * MB/s over the reference's MB/s of the same round (round `i` of every pair runs back to back),
   * summarised over the rounds both completed: less swayed by the machine's slow spells than
   * the ratio of medians (absent in older reports).
   */
  readonly pairedRatioToReference?: Summary | null;
  /** Median MB/s over the loopback ceiling's median at the same channel count. */
  readonly ratioToCeiling: number | null;
  /** Peak RSS (VmHWM) of a TypeScript destination process, bytes. */
  readonly destinationPeakRss: Summary | null;
  /** Peak RSS (VmHWM) of a TypeScript source process, bytes. */
  readonly sourcePeakRss: Summary | null;
  /**
   * CPU seconds of each side's process over its own span, all threads (absent in older reports):
   * QEMU's from `/proc/<pid>/stat`, a TypeScript side's from `getrusage` in its own process.
   */
  readonly sourceCpuSeconds?: Summary | null;
  readonly destinationCpuSeconds?: Summary | null;
  /** Why runs failed, one line each. */
  readonly failures: readonly string[];
}

/** The loopback ceiling at one channel count. */
export interface CeilingResult {
  readonly channels: number;
  /** Bytes each run moved, as the receiver counted them (median). */
  readonly bytes: number | null;
  readonly mbps: Summary | null;
  readonly failures: readonly string[];
}

/** Wall time of `deno task conformance --impl NAME`. */
export interface SuiteResult {
  readonly impl: string;
  /** Seconds of the whole command, per run. */
  readonly wallSeconds: Summary | null;
  /** Results (rows) of the last run, and how many were unexpected. */
  readonly results: number | null;
  readonly unexpected: number | null;
  /** Median seconds of one case as the suite timed it (last run). */
  readonly caseSeconds: number | null;
  /** Exit codes of the runs. */
  readonly exitCodes: readonly number[];
  /** Processes (by command name) the runs left running after they exited; the bench kills them. */
  readonly leaked: readonly string[];
  /** Why the figure is missing, when it is. */
  readonly missing?: string;
}

/** The bare cost of a QEMU: launch `-M none -m 16M -S`, `qmp_capabilities`, `quit`, exit. */
export interface QemuStartResult {
  readonly impl: string;
  readonly version: string;
  readonly seconds: Summary | null;
  /** The suite's median seconds per case of this implementation, if the suite ran. */
  readonly caseSeconds: number | null;
  /** `caseSeconds - seconds.median`: what the harness adds to one case. */
  readonly overheadSeconds: number | null;
  readonly failures: readonly string[];
}

/** The machine a run was measured on. */
export interface MachineInfo {
  readonly cores: number;
  readonly cpu: string;
  readonly memoryBytes: number;
  readonly kernel: string;
  readonly deno: string;
  readonly v8: string;
  /** 1, 5 and 15 minute load averages at the start: other work on the same cores skews figures. */
  readonly loadavg: readonly number[];
}

/** Name and version of something measured or measuring. */
export interface VersionInfo {
  readonly name: string;
  readonly version: string;
  /** Path or package, when it helps. */
  readonly detail?: string;
}

/** How a run was set up. */
export interface BenchSettings {
  readonly quick: boolean;
  readonly ramMib: number;
  /** Share of non-zero pages: 1. */
  readonly density: number;
  readonly seed: number;
  readonly runs: number;
  readonly channels: readonly number[];
  readonly transports: readonly Transport[];
  readonly pairs: readonly Pair[];
  readonly reference: Pair;
  /** Where the QEMU guest RAM files lived. */
  readonly qemuRam: string;
  /** What was done about QEMU's bandwidth limit, and what every QEMU source reported. */
  readonly maxBandwidth: string;
  /** Whether and how guest RAM was preallocated on each side (absent in older reports). */
  readonly prealloc?: string;
  /** Transparent huge pages for each side's guest RAM (absent in older reports). */
  readonly hugePages?: string;
  /** How transfer time is measured on each side. */
  readonly timing: string;
}

/** A hot function of a CPU profile. */
export interface ProfileEntry {
  readonly functionName: string;
  /** `path:line` of the function, or empty for V8's own entries (`(garbage collector)`). */
  readonly location: string;
  /** Milliseconds in the function's own code, and their share of the busy time. */
  readonly selfMs: number;
  readonly selfShare: number;
  /** Milliseconds in the function and everything it called, and their share. */
  readonly totalMs: number;
  readonly totalShare: number;
}

/** The CPU profile of one TypeScript side. */
export interface ProfileResult {
  readonly role: "source" | "destination";
  readonly pair: Pair;
  readonly channels: number;
  readonly transport: Transport;
  /** The `.cpuprofile` written, relative to the output directory. */
  readonly file: string | null;
  /** Transfer MB/s of the profiled run (slowed by the profiler). */
  readonly mbps: number | null;
  readonly totalMs: number;
  readonly idleMs: number;
  readonly top: readonly ProfileEntry[];
  readonly failure?: string;
}

/** Everything one run measured: `bench.json`. */
export interface BenchReport {
  readonly format: typeof REPORT_FORMAT;
  readonly startedAt: string;
  readonly seconds: number;
  readonly machine: MachineInfo;
  /** Load averages at the end of the run. */
  readonly loadavgEnd: readonly number[];
  readonly implementations: readonly VersionInfo[];
  readonly tools: readonly VersionInfo[];
  readonly settings: BenchSettings;
  readonly throughput: readonly ThroughputResult[];
  readonly ceiling: readonly CeilingResult[];
  readonly suite: readonly SuiteResult[];
  readonly qemuStart: readonly QemuStartResult[];
  readonly profiles: readonly ProfileResult[];
  /** Sections not measured and why, e.g. `ceiling: iperf3 missing`. */
  readonly skipped: readonly string[];
}

/**
 * `src→dst`, the way the report names a pair.
 *
 * @example
 * ```ts
 * import { pairName } from "./report.ts";
 * console.log(pairName({ src: "qemu-10.0", dst: "ts" })); // "qemu-10.0→ts"
 * ```
 */
export function pairName(pair: Pair): string {
  return `${pair.src}→${pair.dst}`;
}
