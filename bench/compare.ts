/**
 * `--compare BASELINE`: every figure of a run against the same figure of a baseline run, flagging
 * those more than a tolerance (10%) worse. Throughput and memory figures are keyed by guest RAM
 * size, so runs of different sizes only share the size-independent figures.
 *
 * @module
 */

import { markdownTable } from "./markdown.ts";
import { type BenchReport, pairName } from "./report.ts";

/** Default tolerance: a figure more than 10% worse is flagged. */
export const DEFAULT_TOLERANCE = 0.1;

/** One comparable figure of a report. */
export interface Figure {
  /** Stable name, e.g. `throughput 1024MiB qemu-10.0→ts 4ch plain MB/s`. */
  readonly key: string;
  readonly value: number;
  /** Which direction is better. */
  readonly better: "higher" | "lower";
}

/** A figure present in both runs. */
export interface Comparison extends Figure {
  readonly baseline: number;
  /** Relative change towards worse: 0.15 is 15% worse, negative is better. */
  readonly worse: number;
  readonly flagged: boolean;
}

/** The outcome of a comparison. */
export interface CompareResult {
  readonly tolerance: number;
  readonly compared: readonly Comparison[];
  readonly flagged: readonly Comparison[];
  /** Keys only the current run has. */
  readonly onlyCurrent: readonly string[];
  /** Keys only the baseline has. */
  readonly onlyBaseline: readonly string[];
  /** Differences in setup worth knowing, e.g. other core counts. */
  readonly warnings: readonly string[];
}

/**
 * Every comparable figure of a report: medians of MB/s, ratios, peak RSS, suite and QEMU start
 * times.
 *
 * @example
 * ```ts ignore
 * import { figures } from "./compare.ts";
 * for (const f of figures(report)) console.log(f.key, f.value);
 * ```
 */
export function figures(report: BenchReport): Figure[] {
  const out: Figure[] = [];
  const size = `${report.settings.ramMib}MiB`;
  const push = (key: string, value: number | null | undefined, better: Figure["better"]) => {
    if (value !== null && value !== undefined && Number.isFinite(value)) {
      out.push({ key, value, better });
    }
  };
  for (const row of report.throughput) {
    const base = `throughput ${size} ${pairName(row)} ${row.channels}ch ${row.transport}`;
    push(`${base} MB/s`, row.mbps?.median, "higher");
    const reference = pairName(row) === pairName(report.settings.reference);
    if (!reference) {
      push(`${base} ×reference`, row.ratioToReference, "higher");
      push(`${base} ×reference round by round`, row.pairedRatioToReference?.median, "higher");
    }
    push(`${base} ×ceiling`, row.ratioToCeiling, "higher");
    const mem = `memory ${size} ${pairName(row)} ${row.channels}ch ${row.transport}`;
    push(`${mem} destination peak RSS`, row.destinationPeakRss?.median, "lower");
    push(`${mem} source peak RSS`, row.sourcePeakRss?.median, "lower");
    const cpu = `cpu ${size} ${pairName(row)} ${row.channels}ch ${row.transport}`;
    push(`${cpu} source s`, row.sourceCpuSeconds?.median, "lower");
    push(`${cpu} destination s`, row.destinationCpuSeconds?.median, "lower");
  }
  for (const row of report.ceiling) {
    push(`ceiling ${size} ${row.channels}ch MB/s`, row.mbps?.median, "higher");
  }
  for (const row of report.suite) {
    push(`suite ${row.impl} wall s`, row.wallSeconds?.median, "lower");
  }
  for (const row of report.qemuStart) {
    push(`qemu start ${row.impl} s`, row.seconds?.median, "lower");
    push(`qemu case overhead ${row.impl} s`, row.overheadSeconds, "lower");
  }
  return out;
}

/**
 * Compares `current` with `baseline`; a figure is flagged when it is more than `tolerance` worse.
 *
 * @example
 * ```ts ignore
 * import { compareReports } from "./compare.ts";
 * const result = compareReports(baseline, current);
 * if (result.flagged.length > 0) Deno.exitCode = 1;
 * ```
 */
export function compareReports(
  baseline: BenchReport,
  current: BenchReport,
  tolerance = DEFAULT_TOLERANCE,
): CompareResult {
  const before = new Map(figures(baseline).map((f) => [f.key, f]));
  const now = figures(current);
  const compared: Comparison[] = [];
  for (const figure of now) {
    const old = before.get(figure.key);
    if (!old) continue;
    const worse = relativeWorse(old.value, figure.value, figure.better);
    compared.push({ ...figure, baseline: old.value, worse, flagged: worse > tolerance });
  }
  const nowKeys = new Set(now.map((f) => f.key));
  const warnings: string[] = [];
  if (baseline.machine.cores !== current.machine.cores) {
    warnings.push(
      `baseline has ${baseline.machine.cores} cores, this run ${current.machine.cores}`,
    );
  }
  if (baseline.settings.ramMib !== current.settings.ramMib) {
    warnings.push(
      `baseline migrated ${baseline.settings.ramMib} MiB, this run ${current.settings.ramMib} MiB: ` +
        "throughput and memory figures are not compared",
    );
  }
  return {
    tolerance,
    compared,
    flagged: compared.filter((c) => c.flagged),
    onlyCurrent: now.filter((f) => !before.has(f.key)).map((f) => f.key),
    onlyBaseline: [...before.keys()].filter((k) => !nowKeys.has(k)),
    warnings,
  };
}

/**
 * How much worse `current` is than `baseline`, relative to the baseline: positive is worse.
 *
 * @example
 * ```ts
 * import { relativeWorse } from "./compare.ts";
 * console.log(relativeWorse(100, 80, "higher")); // 0.2
 * console.log(relativeWorse(10, 12, "lower")); // 0.2
 * ```
 */
export function relativeWorse(
  baseline: number,
  current: number,
  better: Figure["better"],
): number {
  if (baseline === 0) return current === 0 ? 0 : (better === "higher" ? -Infinity : Infinity);
  const change = (current - baseline) / Math.abs(baseline);
  return better === "higher" ? -change : change;
}

/**
 * The comparison as a Markdown section: flagged figures first, then a count of the rest.
 *
 * @example
 * ```ts ignore
 * import { compareReports, renderComparison } from "./compare.ts";
 * console.log(renderComparison(compareReports(baseline, current), "bench/baseline.json"));
 * ```
 */
export function renderComparison(result: CompareResult, baselinePath: string): string {
  const lines = [`## Compared with \`${baselinePath}\``, ""];
  for (const warning of result.warnings) lines.push(`- Note: ${warning}.`);
  lines.push(
    `- ${result.compared.length} figures compared, ${result.flagged.length} more than ` +
      `${Math.round(result.tolerance * 100)}% worse; ${result.onlyCurrent.length} only in this ` +
      `run, ${result.onlyBaseline.length} only in the baseline.`,
    "",
  );
  const rows = [...result.compared].sort((a, b) => b.worse - a.worse);
  if (rows.length > 0) {
    lines.push(
      markdownTable(
        ["Figure", "Baseline", "This run", "Worse by", "Flag"],
        rows.map((c) => [
          c.key,
          format(c.baseline),
          format(c.value),
          `${(c.worse * 100).toFixed(1)}%`,
          c.flagged ? "WORSE" : "",
        ]),
        ["left", "right", "right", "right", "left"],
      ),
      "",
    );
  }
  return lines.join("\n");
}

function format(value: number): string {
  if (Math.abs(value) >= 1e6) return `${(value / 1048576).toFixed(0)} MiB`;
  if (Math.abs(value) >= 100) return value.toFixed(0);
  return value.toFixed(3);
}
