/**
 * Summaries of repeated measurements: every benchmark figure is the median of its runs, shown
 * with the smallest and largest run.
 *
 * @module
 */

/** The median of some runs with their range. */
export interface Summary {
  /** Median of the runs (mean of the middle two for an even count). */
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Every run, in the order measured. */
  readonly values: readonly number[];
}

/**
 * Summarises `values`, or returns `null` when there are none (every run failed).
 *
 * @example
 * ```ts
 * import { summarize } from "./stats.ts";
 * console.log(summarize([3, 1, 2])); // { median: 2, min: 1, max: 3, values: [3, 1, 2] }
 * console.log(summarize([])); // null
 * ```
 */
export function summarize(values: readonly number[]): Summary | null {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return null;
  const sorted = [...finite].sort((a, b) => a - b);
  return {
    median: median(sorted),
    min: sorted[0],
    max: sorted[sorted.length - 1],
    values: [...finite],
  };
}

/**
 * The median of `values` (mean of the middle two for an even count); `NaN` for none.
 *
 * @example
 * ```ts
 * import { median } from "./stats.ts";
 * console.log(median([4, 1, 3, 2])); // 2.5
 * ```
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/**
 * `a / b` of two medians, or `null` when either is missing or `b` is zero.
 *
 * @example
 * ```ts
 * import { ratio, summarize } from "./stats.ts";
 * console.log(ratio(summarize([2]), summarize([4]))); // 0.5
 * console.log(ratio(null, summarize([4]))); // null
 * ```
 */
export function ratio(a: Summary | null, b: Summary | null): number | null {
  if (!a || !b || b.median === 0) return null;
  return a.median / b.median;
}

/**
 * Decimal megabytes per second (10^6 bytes, as `iperf3` and QEMU's `mbps / 8` count).
 *
 * @example
 * ```ts
 * import { megabytesPerSecond } from "./stats.ts";
 * console.log(megabytesPerSecond(1_000_000_000, 2)); // 500
 * ```
 */
export function megabytesPerSecond(bytes: number, seconds: number): number {
  return seconds > 0 ? bytes / 1e6 / seconds : NaN;
}

/**
 * Per-round ratios `a[i] / b[i]` of two series measured in the same rounds (round `i` of each
 * runs back to back), summarised; rounds where either is missing (`null` or not finite) are left
 * out. A slow spell of the machine then weighs on both sides of one ratio rather than on one
 * side of the ratio of medians.
 *
 * @example
 * ```ts
 * import { pairedRatio } from "./stats.ts";
 * console.log(pairedRatio([900, 1800, null], [1000, 2000, 3000])?.median); // 0.9
 * ```
 */
export function pairedRatio(
  a: readonly (number | null)[],
  b: readonly (number | null)[],
): Summary | null {
  const ratios: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === null || y === null || !Number.isFinite(x) || !Number.isFinite(y) || y === 0) continue;
    ratios.push(x / y);
  }
  return summarize(ratios);
}
