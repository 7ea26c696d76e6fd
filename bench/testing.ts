/**
 * Small reports for the tests of the pure parts (comparison, rendering).
 *
 * @module
 */

import { type BenchReport, REPORT_FORMAT, type ThroughputResult } from "./report.ts";
import { summarize } from "./stats.ts";

/**
 * A throughput row for qemu-10.0→ts, 4 channels, plain, with `overrides`.
 *
 * @example
 * ```ts
 * import { sampleThroughput } from "./testing.ts";
 * console.log(sampleThroughput({ channels: 8 }).channels); // 8
 * ```
 */
export function sampleThroughput(overrides: Partial<ThroughputResult> = {}): ThroughputResult {
  return {
    src: "qemu-10.0",
    dst: "ts",
    channels: 4,
    transport: "plain",
    runs: 3,
    mbps: summarize([900, 1000, 1100]),
    seconds: summarize([0.3, 0.27, 0.24]),
    sourceSeconds: summarize([0.29, 0.26, 0.23]),
    destinationSeconds: summarize([0.3, 0.27, 0.24]),
    wireBytes: 269_000_000,
    ratioToReference: 1.05,
    pairedRatioToReference: summarize([0.98, 1.02, 1.1]),
    ratioToCeiling: 0.4,
    destinationPeakRss: summarize([400e6]),
    sourcePeakRss: null,
    failures: [],
    ...overrides,
  };
}

/**
 * A complete report of a quick run on 2 cores, with `throughput` rows and a RAM size.
 *
 * @example
 * ```ts
 * import { sampleReport } from "./testing.ts";
 * console.log(sampleReport().settings.ramMib); // 256
 * ```
 */
export function sampleReport(
  options: { throughput?: ThroughputResult[]; ramMib?: number } = {},
): BenchReport {
  const ramMib = options.ramMib ?? 256;
  return {
    format: REPORT_FORMAT,
    startedAt: "2025-01-01T00:00:00.000Z",
    seconds: 60,
    machine: {
      cores: 2,
      cpu: "Test CPU",
      memoryBytes: 24 * 2 ** 30,
      kernel: "6.1.0",
      deno: "2.9.6",
      v8: "15.0",
      loadavg: [0.1, 0.2, 0.3],
    },
    loadavgEnd: [0.4, 0.3, 0.3],
    implementations: [
      { name: "qemu-10.0", version: "10.0.2" },
      { name: "ts", version: "0.1.0" },
    ],
    tools: [{ name: "iperf3", version: "3.12" }],
    settings: {
      quick: true,
      ramMib,
      density: 1,
      seed: 1,
      runs: 3,
      channels: [4],
      transports: ["plain"],
      pairs: [{ src: "qemu-10.0", dst: "ts" }],
      reference: { src: "qemu-10.0", dst: "qemu-10.0" },
      qemuRam: "tmpfs",
      maxBandwidth: "lifted",
      prealloc: "on for every side",
      timing: "source start to destination end",
    },
    throughput: options.throughput ?? [sampleThroughput()],
    ceiling: [{ channels: 4, bytes: ramMib * 1048576, mbps: summarize([2500]), failures: [] }],
    suite: [{
      impl: "ts",
      wallSeconds: summarize([40, 42, 41]),
      results: 120,
      unexpected: 0,
      caseSeconds: 0.3,
      exitCodes: [0, 0, 0],
      leaked: [],
    }],
    qemuStart: [{
      impl: "qemu-10.0",
      version: "10.0.2",
      seconds: summarize([0.05]),
      caseSeconds: 0.25,
      overheadSeconds: 0.2,
      failures: [],
    }],
    profiles: [],
    skipped: [],
  };
}
