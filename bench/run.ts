/**
 * One benchmark run: throughput of every pair at every channel count and transport, the loopback
 * ceiling at every channel count, interleaved run by run so that drift hits every figure alike;
 * then the suite's speed and the QEMU start cost; then, when asked, CPU profiles.
 *
 * @module
 */

import type { Implementation, RamSpec } from "../harness/implementation.ts";
import { resolveImplementation } from "../harness/interop.ts";
import type { QemuImplementation } from "../harness/qemu/implementation.ts";
import { hugePagesNote } from "./huge_pages.ts";
import { ensureIperf3, type Iperf3Result, runIperf3 } from "./iperf3.ts";
import { describeMachine } from "./machine.ts";
import { type BenchOptions, SUITE_IMPLEMENTATIONS } from "./options.ts";
import { type PairRun, runPair } from "./pair.ts";
import { patternSha256 } from "./pattern_digest.ts";
import { profileSide } from "./profile.ts";
import { bareQemuSeconds } from "./qemu_start.ts";
import { useTmpfsForRam } from "./ram_dir.ts";
import {
  type BenchReport,
  type CeilingResult,
  type Pair,
  pairName,
  type ProfileResult,
  type QemuStartResult,
  REPORT_FORMAT,
  type SuiteResult,
  type ThroughputResult,
  type Transport,
  type VersionInfo,
} from "./report.ts";
import { median, megabytesPerSecond, pairedRatio, ratio, summarize } from "./stats.ts";
import { runSuite, type SuiteRun } from "./suite.ts";
import { PEER_DENO_FLAGS, tsProcessImplementation } from "./ts_process.ts";
import { roundOrder } from "./round_order.ts";

/** Bound of one migration: two minutes plus 0.2 s per MiB. */
export function pairTimeoutMs(ramMib: number): number {
  return 120_000 + ramMib * 200;
}

const SUITE_TIMEOUT_MS = 60 * 60_000;
const QEMU_START_TIMEOUT_MS = 20_000;
const PROFILE_CHANNELS = 4;

const TIMING = "a run's transfer time is the longer of the two sides' own spans. QEMU source: " +
  "`total-time` of `query-migrate` (from `migrate` to completion, setup and connections " +
  "included). TypeScript source: from its first connection until its last byte is handed to the kernel. " +
  "TypeScript destination: from its first accepted connection until it has loaded the main " +
  "stream to its end, every channel past the last sync point, where QEMU's destination sets " +
  "`completed` (the source closing its channels after that is not timed, as QEMU's destination " +
  "shuts them itself). " +
  "QEMU destination: from its `active` to its `completed` MIGRATION event, by the events' " +
  "timestamps (`active` once every channel is connected and loading starts). RAM seeding, " +
  "preallocation, pattern generation and digests are outside the timed part; every run's " +
  "destination digest is checked against the pattern's.";

const PREALLOC = "on for every side of every run: a QEMU's `memory-backend-file` has " +
  "`prealloc=on` and QEMU then reads every page itself (`pmemsave` to `/dev/null`), a " +
  "TypeScript destination touches every page of its RAM image before it listens, and a " +
  "TypeScript source writes and hashes its RAM before it connects. Without it, a destination's " +
  "first-touch page faults (seconds per GiB on a small VM) fall in the timed transfer and " +
  "dominate the figures. Each side's kernel still meets every page first inside the transfer, " +
  "in its socket copies: QEMU refuses `dump-guest-memory` during an incoming migration, so a " +
  "QEMU destination's first kernel access cannot be moved out, and no side's is.";

/**
 * Runs the benchmark and returns its report; `log` receives progress lines.
 *
 * @example
 * ```ts ignore
 * import { runBench } from "./run.ts";
 * import { benchOptions } from "./options.ts";
 * const report = await runBench(benchOptions({ quick: true }), console.error);
 * ```
 */
export async function runBench(
  options: BenchOptions,
  log: (line: string) => void,
): Promise<BenchReport> {
  const startedAt = new Date().toISOString();
  const started = performance.now();
  const machine = describeMachine();
  const skipped: string[] = [];
  await using ramDir = await useTmpfsForRam();

  const impls = await resolveAll(options, skipped);
  const tools: VersionInfo[] = [];
  let ceilingOn = !options.skip.has("ceiling") && !options.skip.has("throughput");
  if (ceilingOn) {
    try {
      tools.push({ name: "iperf3", version: await ensureIperf3(log) });
    } catch (error) {
      ceilingOn = false;
      skipped.push(`loopback ceiling: ${(error as Error).message}`);
    }
  } else if (options.skip.has("ceiling")) {
    skipped.push("loopback ceiling: --skip ceiling");
  }

  // Preallocated on every side, so that first-touch page faults stay out of the timed part.
  const ram = { mib: options.ramMib, seed: options.seed, density: 1, prealloc: true };
  const pairs = options.pairs.filter((p) => impls.has(p.src) && impls.has(p.dst));
  let throughput: ThroughputResult[] = [];
  let ceiling: CeilingResult[] = [];
  const bandwidths: number[] = [];
  let expectedSha256 = "";
  if (!options.skip.has("throughput") && pairs.length > 0) {
    log(`bench: hashing the ${options.ramMib} MiB pattern`);
    expectedSha256 = patternSha256(ram);
    const measured = await measureThroughput(options, pairs, impls, ram, expectedSha256, {
      ceiling: ceilingOn,
      log,
      bandwidths,
    });
    throughput = measured.throughput;
    ceiling = measured.ceiling;
  } else if (options.skip.has("throughput")) {
    skipped.push("throughput, memory: --skip throughput");
  }

  const suite = options.skip.has("suite") || options.suiteRuns === 0
    ? []
    : await measureSuite(options, ramDir.previous ?? "/tmp", log);
  if (suite.length === 0) skipped.push("suite speed: --skip suite or --suite-runs 0");
  const qemuStart = options.skip.has("suite")
    ? []
    : await measureQemuStart(options, impls, suite, log);

  const profiles: ProfileResult[] = [];
  if (options.profile) {
    const qemu = impls.get("qemu-10.0");
    if (!qemu) skipped.push("profiles: qemu-10.0 is not available");
    else {
      expectedSha256 ||= patternSha256(ram);
      for (const transport of options.transports) {
        for (const role of ["destination", "source"] as const) {
          log(`bench: profiling the TypeScript ${role} (${transport})`);
          profiles.push(
            await profileSide({
              role,
              peer: qemu,
              channels: PROFILE_CHANNELS,
              transport,
              ram,
              expectedSha256,
              out: options.out,
              timeoutMs: pairTimeoutMs(options.ramMib),
            }),
          );
        }
      }
    }
  }

  return {
    format: REPORT_FORMAT,
    startedAt,
    seconds: (performance.now() - started) / 1000,
    machine,
    loadavgEnd: describeMachine().loadavg,
    implementations: [...impls.values()].map(versionOf),
    tools,
    settings: {
      quick: options.quick,
      ramMib: options.ramMib,
      density: 1,
      seed: options.seed,
      runs: options.runs,
      channels: options.channels,
      transports: options.transports,
      pairs,
      reference: options.pairs[0],
      qemuRam: `${ramDir.description} for the throughput runs (the driver backs guest RAM ` +
        "with a file in the temporary directory; on disk, a QEMU destination's writes become " +
        "page-cache writeback)",
      maxBandwidth: bandwidthNote(bandwidths),
      prealloc: PREALLOC,
      hugePages: hugePagesNote(ramDir.path),
      timing: TIMING,
    },
    throughput,
    ceiling,
    suite,
    qemuStart,
    profiles,
    skipped,
  };
}

async function resolveAll(
  options: BenchOptions,
  skipped: string[],
): Promise<Map<string, Implementation>> {
  const names = new Set(options.pairs.flatMap((p) => [p.src, p.dst]));
  if (!options.skip.has("suite")) { for (const n of ["qemu-7.2", "qemu-10.0"]) names.add(n); }
  const impls = new Map<string, Implementation>();
  for (const name of names) {
    try {
      impls.set(
        name,
        name === "ts" ? tsProcessImplementation() : await resolveImplementation(name),
      );
    } catch (error) {
      skipped.push(`${name}: ${(error as Error).message}`);
    }
  }
  return impls;
}

function versionOf(impl: Implementation): VersionInfo {
  const binary = (impl as Partial<QemuImplementation>).binary;
  const detail = binary
    ? `${binary.path}${binary.package ? `, ${binary.package}` : ""}`
    : `own processes: deno run -A ${PEER_DENO_FLAGS.join(" ")} cli/main.ts destination|source`;
  return { name: impl.name, version: impl.version, detail };
}

interface ThroughputContext {
  readonly ceiling: boolean;
  readonly log: (line: string) => void;
  /** Receives the `max-bandwidth` of every QEMU source run. */
  readonly bandwidths: number[];
}

async function measureThroughput(
  options: BenchOptions,
  pairs: readonly Pair[],
  impls: ReadonlyMap<string, Implementation>,
  ram: RamSpec,
  expectedSha256: string,
  context: ThroughputContext,
): Promise<{ throughput: ThroughputResult[]; ceiling: CeilingResult[] }> {
  const bytes = ram.mib * 1048576;
  const runs = new Map<string, PairRun[]>();
  /** MB/s by round (`null` where the run failed), to pair each pair's round with the reference's. */
  const rounds = new Map<string, (number | null)[]>();
  const failures = new Map<string, string[]>();
  const iperf = new Map<number, Iperf3Result[]>();
  const iperfFailures = new Map<number, string[]>();
  const total = options.channels.length * options.runs *
    (options.transports.length * pairs.length + (context.ceiling ? 1 : 0));
  let done = 0;
  const progress = (what: string, result: string) =>
    context.log(`[${String(++done).padStart(String(total).length)}/${total}] ${what}: ${result}`);

  for (const channels of options.channels) {
    for (let run = 0; run < options.runs; run++) {
      if (context.ceiling) {
        const what = `iperf3 ${channels}ch run ${run + 1}`;
        try {
          const result = await runIperf3({
            bytes,
            streams: channels,
            timeoutMs: pairTimeoutMs(ram.mib),
          });
          push(iperf, channels, result);
          progress(what, `${megabytesPerSecond(result.bytes, result.seconds).toFixed(0)} MB/s`);
        } catch (error) {
          push(iperfFailures, channels, (error as Error).message);
          progress(what, `FAILED ${(error as Error).message}`);
        }
      }
      for (const transport of options.transports) {
        for (const pair of roundOrder(pairs, run)) {
          const key = keyOf(pair, channels, transport);
          const what = `${pairName(pair)} ${channels}ch ${transport} run ${run + 1}`;
          let result: PairRun;
          const round = rounds.get(key) ?? [];
          rounds.set(key, round);
          round[run] = null;
          try {
            result = await runPair({
              src: impls.get(pair.src)!,
              dst: impls.get(pair.dst)!,
              channels,
              transport,
              ram,
              expectedSha256,
              timeoutMs: pairTimeoutMs(ram.mib),
            });
          } catch (error) {
            push(failures, key, (error as Error).message);
            progress(what, `FAILED ${(error as Error).message}`);
            continue;
          }
          if (result.maxBandwidth !== null) context.bandwidths.push(result.maxBandwidth);
          if (!result.ok) {
            push(failures, key, result.reason ?? "failed");
            progress(what, `FAILED ${result.reason}`);
            continue;
          }
          push(runs, key, result);
          round[run] = megabytesPerSecond(bytes, result.seconds);
          progress(
            what,
            `${round[run]!.toFixed(0)} MB/s (${result.seconds.toFixed(2)} s)`,
          );
        }
      }
    }
  }

  const ceiling: CeilingResult[] = context.ceiling
    ? options.channels.map((channels) => {
      const results = iperf.get(channels) ?? [];
      return {
        channels,
        bytes: results.length > 0 ? median(results.map((r) => r.bytes)) : null,
        mbps: summarize(results.map((r) => megabytesPerSecond(r.bytes, r.seconds))),
        failures: iperfFailures.get(channels) ?? [],
      };
    })
    : [];
  const reference = options.pairs[0];
  const throughput: ThroughputResult[] = [];
  for (const transport of options.transports) {
    for (const channels of options.channels) {
      const refRuns = runs.get(keyOf(reference, channels, transport)) ?? [];
      const refRounds = rounds.get(keyOf(reference, channels, transport)) ?? [];
      const refMbps = summarize(refRuns.map((r) => megabytesPerSecond(bytes, r.seconds)));
      const ceil = ceiling.find((c) => c.channels === channels)?.mbps ?? null;
      for (const pair of pairs) {
        const key = keyOf(pair, channels, transport);
        const ok = runs.get(key) ?? [];
        const mbps = summarize(ok.map((r) => megabytesPerSecond(bytes, r.seconds)));
        const values = (pick: (r: PairRun) => number | null) =>
          summarize(ok.map(pick).filter((v): v is number => v !== null));
        const wire = ok.map((r) => r.wireBytes).filter((v): v is number => v !== null);
        throughput.push({
          ...pair,
          channels,
          transport,
          runs: options.runs,
          mbps,
          seconds: values((r) => r.seconds),
          sourceSeconds: values((r) => r.sourceSeconds),
          destinationSeconds: values((r) => r.destinationSeconds),
          wireBytes: wire.length > 0 ? median(wire) : null,
          ratioToReference: ratio(mbps, refMbps),
          pairedRatioToReference: pairedRatio(rounds.get(key) ?? [], refRounds),
          ratioToCeiling: ratio(mbps, ceil),
          destinationPeakRss: values((r) => r.destinationPeakRss),
          sourcePeakRss: values((r) => r.sourcePeakRss),
          sourceCpuSeconds: values((r) => r.sourceCpuSeconds),
          destinationCpuSeconds: values((r) => r.destinationCpuSeconds),
          failures: failures.get(key) ?? [],
        });
      }
    }
  }
  return { throughput, ceiling };
}

async function measureSuite(
  options: BenchOptions,
  tmpRoot: string,
  log: (line: string) => void,
): Promise<SuiteResult[]> {
  const results: SuiteResult[] = [];
  for (const impl of SUITE_IMPLEMENTATIONS) {
    const runs: SuiteRun[] = [];
    for (let run = 0; run < options.suiteRuns; run++) {
      log(`bench: deno task conformance --impl ${impl} (run ${run + 1}/${options.suiteRuns})`);
      const result = await runSuite(impl, `${options.out}/suite/${impl}`, {
        tmpRoot,
        timeoutMs: SUITE_TIMEOUT_MS,
      });
      runs.push(result);
      const left = result.leaked.length;
      log(
        `bench: conformance --impl ${impl}: ${result.seconds.toFixed(1)} s, ` +
          `exit ${result.exitCode}` +
          (result.missing ? `, ${result.missing}` : `, ${result.results} results`) +
          (left > 0 ? `; killed ${left} processes it left running` : ""),
      );
    }
    const complete = runs.filter((r) => !r.missing);
    const last = complete.at(-1);
    results.push({
      impl,
      wallSeconds: summarize(complete.map((r) => r.seconds)),
      results: last?.results ?? null,
      unexpected: last?.unexpected ?? null,
      caseSeconds: last?.caseSeconds ?? null,
      exitCodes: runs.map((r) => r.exitCode),
      leaked: runs.flatMap((r) => r.leaked),
      ...(complete.length === 0 && runs.length > 0 ? { missing: runs.at(-1)!.missing } : {}),
    });
  }
  return results;
}

async function measureQemuStart(
  options: BenchOptions,
  impls: ReadonlyMap<string, Implementation>,
  suite: readonly SuiteResult[],
  log: (line: string) => void,
): Promise<QemuStartResult[]> {
  const results: QemuStartResult[] = [];
  for (const impl of impls.values()) {
    const binary = (impl as Partial<QemuImplementation>).binary;
    if (!binary) continue;
    const seconds: number[] = [];
    const failures: string[] = [];
    for (let run = 0; run < Math.max(options.runs, 5); run++) {
      try {
        seconds.push(await bareQemuSeconds(binary.path, QEMU_START_TIMEOUT_MS));
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
    const bare = summarize(seconds);
    const caseSeconds = suite.find((s) => s.impl === impl.name)?.caseSeconds ?? null;
    log(
      `bench: bare ${impl.name} start+QMP+quit: ${bare ? (bare.median * 1000).toFixed(0) : "—"} ms`,
    );
    results.push({
      impl: impl.name,
      version: impl.version,
      seconds: bare,
      caseSeconds,
      overheadSeconds: caseSeconds !== null && bare ? caseSeconds - bare.median : null,
      failures,
    });
  }
  return results;
}

function bandwidthNote(bandwidths: readonly number[]): string {
  if (bandwidths.length === 0) return "no QEMU source ran.";
  const lifted = bandwidths.filter((b) => b >= 2 ** 50);
  const low = bandwidths.length - lifted.length;
  return `QEMU throttles a source to \`max-bandwidth\` (128 MiB/s by default); the driver sets ` +
    `\`max-bandwidth=${Number.MAX_SAFE_INTEGER}\` on every QEMU source, and every run's ` +
    `parameters were read back: ${lifted.length} of ${bandwidths.length} QEMU source runs ` +
    `unthrottled${low > 0 ? `, **${low} throttled**` : ""}. A destination does not throttle.`;
}

function keyOf(pair: Pair, channels: number, transport: Transport): string {
  return `${pairName(pair)} ${channels} ${transport}`;
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}
