/**
 * Markdown tables and the number formats the benchmark report uses.
 *
 * @module
 */

import type { Summary } from "./stats.ts";

/** Column alignment. */
export type Align = "left" | "right";

/**
 * Renders a Markdown table with padded columns; `|` inside cells is escaped.
 *
 * @example
 * ```ts
 * import { markdownTable } from "./markdown.ts";
 * console.log(markdownTable(["Pair", "MB/s"], [["ts→ts", "812"]], ["left", "right"]));
 * // | Pair  | MB/s |
 * // | :---- | ---: |
 * // | ts→ts |  812 |
 * ```
 */
export function markdownTable(
  headers: readonly string[],
  rows: readonly (readonly string[])[],
  align: readonly Align[] = [],
): string {
  const escape = (cell: string) => cell.replaceAll("|", "\\|");
  const all = [headers, ...rows].map((row) => headers.map((_, i) => escape(row[i] ?? "")));
  const widths = headers.map((_, i) => Math.max(3, ...all.map((row) => width(row[i]))));
  const pad = (cell: string, i: number) => {
    const fill = " ".repeat(widths[i] - width(cell));
    return align[i] === "right" ? fill + cell : cell + fill;
  };
  const line = (row: readonly string[]) => `| ${row.map(pad).join(" | ")} |`;
  const rule = widths.map((w, i) =>
    align[i] === "right" ? `${"-".repeat(w - 1)}:` : `:${"-".repeat(w - 1)}`
  );
  return [line(all[0]), `| ${rule.join(" | ")} |`, ...all.slice(1).map(line)].join("\n");
}

/**
 * A number with `digits` decimals, or `—` when missing.
 *
 * @example
 * ```ts
 * import { fixed } from "./markdown.ts";
 * console.log(fixed(1.2345, 2), fixed(null)); // "1.23" "—"
 * ```
 */
export function fixed(value: number | null | undefined, digits = 0): string {
  return value === null || value === undefined || !Number.isFinite(value)
    ? "—"
    : value.toFixed(digits);
}

/**
 * A ratio as `0.93×`, or `—` when missing.
 *
 * @example
 * ```ts
 * import { times } from "./markdown.ts";
 * console.log(times(0.9321)); // "0.93×"
 * ```
 */
export function times(value: number | null | undefined): string {
  const text = fixed(value, 2);
  return text === "—" ? text : `${text}×`;
}

/**
 * A summary as `median (min–max)`, or `—` when there is none.
 *
 * @example
 * ```ts
 * import { span } from "./markdown.ts";
 * console.log(span({ median: 812.4, min: 790, max: 830.2, values: [] })); // "812 (790–830)"
 * ```
 */
export function span(summary: Summary | null | undefined, digits = 0, scale = 1): string {
  if (!summary) return "—";
  const f = (v: number) => (v * scale).toFixed(digits);
  return summary.min === summary.max
    ? f(summary.median)
    : `${f(summary.median)} (${f(summary.min)}–${f(summary.max)})`;
}

/**
 * Bytes as whole MiB, e.g. `1084 MiB`.
 *
 * @example
 * ```ts
 * import { mib } from "./markdown.ts";
 * console.log(mib(3 * 1024 * 1024)); // "3 MiB"
 * ```
 */
export function mib(bytes: number | null | undefined): string {
  const text = fixed(bytes === null || bytes === undefined ? bytes : bytes / 1048576);
  return text === "—" ? text : `${text} MiB`;
}

/** Display width: code points, so `→` and `×` count once. */
function width(text: string): number {
  return [...text].length;
}
