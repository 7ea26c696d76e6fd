/**
 * One timed migration between two implementations, judged like `runInterop` (both sides
 * completed, the destination's RAM digest equals the pattern's) and timed by the sides
 * themselves, so that RAM seeding, pattern generation and digesting stay outside the timed part:
 *
 * - QEMU source: `total-time` of `query-migrate` (from `migrate` to completion, setup included);
 * - TypeScript source: from its first connection attempt until its last byte is handed to the kernel;
 * - TypeScript destination: from its first accepted connection until it has loaded the main stream
 *   to its end, every channel past the last sync point, where QEMU's destination sets `completed`;
 * - QEMU destination: from its `active` to its `completed` MIGRATION event, by the events'
 *   timestamps (`evidence.transferSeconds`), so the wait for the source stays outside.
 *
 * A run's transfer time is the longer of the two sides' spans. Each side also reports the CPU
 * seconds its process used over its span (`evidence.transferCpuSeconds`, all threads): on a
 * machine with few cores the two sides compete for them, so CPU per byte bounds the pair.
 *
 * @module
 */

import type { Implementation, Outcome, RamSpec } from "../harness/implementation.ts";
import { testTls } from "../harness/interop.ts";
import type { Transport } from "./report.ts";

/** Options of {@linkcode runPair}. */
export interface PairRunOptions {
  readonly src: Implementation;
  readonly dst: Implementation;
  readonly channels: number;
  readonly transport: Transport;
  readonly ram: RamSpec;
  /** SHA-256 of the pattern `ram` describes. */
  readonly expectedSha256: string;
  readonly timeoutMs: number;
}

/** What one run measured. */
export interface PairRun {
  /** Both sides completed and the digests match. */
  readonly ok: boolean;
  readonly reason?: string;
  /** Transfer seconds: the longer of the two spans. */
  readonly seconds: number;
  readonly sourceSeconds: number | null;
  readonly destinationSeconds: number | null;
  /** Bytes on the wire, as the source counted them. */
  readonly wireBytes: number | null;
  /** Peak RSS of the sides that run as measured processes (TypeScript). */
  readonly sourcePeakRss: number | null;
  readonly destinationPeakRss: number | null;
  /** CPU seconds each side's process used over its own span. */
  readonly sourceCpuSeconds: number | null;
  readonly destinationCpuSeconds: number | null;
  /** `max-bandwidth` a QEMU source was configured with, as its evidence shows. */
  readonly maxBandwidth: number | null;
}

/**
 * Runs one migration and times it.
 *
 * @example
 * ```ts ignore
 * import { runPair } from "./pair.ts";
 * const run = await runPair({ src, dst, channels: 4, transport: "plain", ram, expectedSha256, timeoutMs: 120_000 });
 * console.log(run.ok, run.seconds);
 * ```
 */
export async function runPair(options: PairRunOptions): Promise<PairRun> {
  const signal = AbortSignal.timeout(options.timeoutMs);
  const common = {
    channels: options.channels,
    ram: options.ram,
    signal,
    ...(options.transport === "tls" ? { tls: testTls() } : {}),
  };
  const peerOf = (impl: Implementation) => ({ name: impl.name, version: impl.version });
  await using dst = await options.dst.destination({ ...common, peer: peerOf(options.src) });
  await using src = await options.src.source({
    ...common,
    connect: dst.endpoint,
    peer: peerOf(options.dst),
  });
  const [source, destination] = await Promise.all([src.outcome(signal), dst.outcome(signal)]);
  return judgeRun(source, destination, options.expectedSha256);
}

/**
 * Judges and times a run from both outcomes.
 *
 * @example
 * ```ts
 * import { judgeRun } from "./pair.ts";
 * const run = judgeRun(
 *   { status: "completed", seconds: 0.8, bytes: 100 },
 *   { status: "completed", ramSha256: "ab", evidence: { transferSeconds: 0.9 } },
 *   "ab",
 * );
 * console.log(run.ok, run.seconds); // true 0.9
 * ```
 */
export function judgeRun(source: Outcome, destination: Outcome, expectedSha256: string): PairRun {
  const sourceSeconds = positive(source.seconds);
  const destinationSeconds = positive(destination.evidence?.transferSeconds);
  const spans = [sourceSeconds, destinationSeconds].filter((s): s is number => s !== null);
  const reason = source.status !== "completed"
    ? `source ${source.status}: ${source.message ?? "no message"}`
    : destination.status !== "completed"
    ? `destination ${destination.status}: ${destination.message ?? "no message"}`
    : destination.ramSha256 !== expectedSha256
    ? `destination RAM digest ${destination.ramSha256 ?? "missing"} differs from the pattern's`
    : spans.length === 0
    ? "neither side reported a transfer time"
    : undefined;
  const parameters = source.evidence?.parameters as Record<string, unknown> | undefined;
  const bandwidth = parameters?.["max-bandwidth"];
  return {
    ok: reason === undefined,
    ...(reason === undefined ? {} : { reason }),
    seconds: spans.length > 0 ? Math.max(...spans) : NaN,
    sourceSeconds,
    destinationSeconds,
    wireBytes: positive(source.bytes ?? destination.bytes),
    sourcePeakRss: positive(source.evidence?.peakRssBytes),
    destinationPeakRss: positive(destination.evidence?.peakRssBytes),
    sourceCpuSeconds: positive(source.evidence?.transferCpuSeconds),
    destinationCpuSeconds: positive(destination.evidence?.transferCpuSeconds),
    maxBandwidth: typeof bandwidth === "number" ? bandwidth : null,
  };
}

function positive(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : null;
}
