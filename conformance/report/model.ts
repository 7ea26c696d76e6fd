/**
 * What every reporter shows, computed once: the case × implementation matrix, the source ×
 * destination interop grids, the divergences with their reasons, the summary counts.
 *
 * @module
 */

import type { ImplementationInfo } from "../../harness/implementation.ts";
import { type CaseSpec, formatRef, type Status, STATUSES } from "../case.ts";
import type { ResultRow } from "../runner.ts";
import { formatExpected } from "../verdict.ts";

/** Everything a report is made from. */
export interface ReportInput {
  readonly implementations: readonly ImplementationInfo[];
  /** The cases that were run. */
  readonly cases: readonly CaseSpec[];
  readonly results: readonly ResultRow[];
  /** Expectation entries that matched no case (each one fails the run). */
  readonly unusedExpectations?: readonly { implementation: string; pattern: string }[];
  readonly seconds?: number;
}

/** One matrix cell: every repetition of a case against one implementation (or pair). */
export interface Cell {
  /** The worst status of the repetitions. */
  readonly status: Status;
  readonly expected: Status;
  readonly unexpected: boolean;
  /** e.g. `2/3 pass` when repetitions disagree. */
  readonly tally?: string;
  readonly detail: string;
  readonly reason?: string;
  readonly ref?: string;
}

/** One row of the case matrix. */
export interface MatrixRow {
  readonly spec: CaseSpec;
  readonly refs: string;
  readonly expectedVerdict: string;
  /** Keyed by implementation name; absent where the case does not apply. */
  readonly cells: Readonly<Record<string, Cell>>;
}

/** One interop grid: a pair case, sources down, destinations across. */
export interface Grid {
  readonly spec: CaseSpec;
  readonly sources: readonly string[];
  readonly destinations: readonly string[];
  /** `cells[source][destination]`. */
  readonly cells: Readonly<Record<string, Readonly<Record<string, Cell>>>>;
}

/** The computed report. */
export interface ReportModel {
  readonly implementations: readonly ImplementationInfo[];
  readonly families: readonly { family: string; rows: readonly MatrixRow[] }[];
  readonly grids: readonly Grid[];
  /** Every non-passing result, expected ones with their reasons. */
  readonly divergences: readonly ResultRow[];
  readonly unexpected: readonly ResultRow[];
  readonly unusedExpectations: readonly { implementation: string; pattern: string }[];
  readonly counts: Readonly<Record<Status, number>>;
  readonly total: number;
  readonly cases: number;
  readonly seconds?: number;
  /** True when nothing is unexpected and no expectation is unused. */
  readonly ok: boolean;
}

const SEVERITY: Record<Status, number> = {
  pass: 0,
  skip: 1,
  fail: 2,
  timeout: 3,
  frozen: 4,
  crash: 5,
};

function cellOf(rows: readonly ResultRow[]): Cell {
  const worst = rows.reduce((a, b) => (SEVERITY[b.status] > SEVERITY[a.status] ? b : a));
  const unexpected = rows.find((r) => r.unexpected);
  const shown = unexpected ?? worst;
  const statuses = new Set(rows.map((r) => r.status));
  const tally = statuses.size > 1
    ? [...statuses].map((s) => `${rows.filter((r) => r.status === s).length}/${rows.length} ${s}`)
      .join(", ")
    : undefined;
  return {
    status: shown.status,
    expected: shown.expected,
    unexpected: unexpected !== undefined,
    ...(tally ? { tally } : {}),
    detail: shown.detail,
    ...(shown.reason ? { reason: shown.reason } : {}),
    ...(shown.ref ? { ref: shown.ref } : {}),
  };
}

/**
 * Builds the report model from a run.
 *
 * @example
 * ```ts
 * import { buildReport } from "./model.ts";
 * const model = buildReport({ implementations: [], cases: [], results: [] });
 * console.log(model.ok); // true
 * ```
 */
export function buildReport(input: ReportInput): ReportModel {
  const byKey = new Map<string, ResultRow[]>();
  for (const row of input.results) {
    const key = `${row.case}\u0000${row.implementation}\u0000${
      row.role === "pair" ? row.peer : ""
    }`;
    byKey.set(key, [...(byKey.get(key) ?? []), row]);
  }
  const names = input.implementations.map((i) => i.name);
  const families = new Map<string, MatrixRow[]>();
  const grids: Grid[] = [];
  for (const spec of input.cases) {
    if (spec.role === "pair") {
      const sources = names.filter((s) => names.some((d) => byKey.has(`${spec.id}\0${s}\0${d}`)));
      const destinations = names.filter((d) =>
        names.some((s) => byKey.has(`${spec.id}\0${s}\0${d}`))
      );
      const cells: Record<string, Record<string, Cell>> = {};
      for (const s of sources) {
        cells[s] = {};
        for (const d of destinations) {
          const rows = byKey.get(`${spec.id}\0${s}\0${d}`);
          if (rows) cells[s][d] = cellOf(rows);
        }
      }
      if (sources.length > 0) grids.push({ spec, sources, destinations, cells });
      continue;
    }
    const cells: Record<string, Cell> = {};
    for (const name of names) {
      const rows = byKey.get(`${spec.id}\0${name}\0`);
      if (rows) cells[name] = cellOf(rows);
    }
    if (Object.keys(cells).length === 0) continue;
    const rows = families.get(spec.family) ?? [];
    rows.push({
      spec,
      refs: spec.refs.map(formatRef).join("; "),
      expectedVerdict: formatExpected(spec.expected),
      cells,
    });
    families.set(spec.family, rows);
  }
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<Status, number>;
  for (const row of input.results) counts[row.status]++;
  const unexpected = input.results.filter((r) => r.unexpected);
  const unused = input.unusedExpectations ?? [];
  return {
    implementations: input.implementations,
    families: [...families].map(([family, rows]) => ({ family, rows })),
    grids,
    divergences: input.results.filter((r) => r.status !== "pass"),
    unexpected,
    unusedExpectations: unused,
    counts,
    total: input.results.length,
    cases: new Set(input.results.map((r) => r.case)).size,
    ...(input.seconds === undefined ? {} : { seconds: input.seconds }),
    ok: unexpected.length === 0 && unused.length === 0,
  };
}

/** Short text of a cell for tables, e.g. `pass`, `fail (expected)`, `FAIL! (expected pass)`. */
export function cellText(cell: Cell): string {
  const tally = cell.tally ? ` [${cell.tally}]` : "";
  if (cell.unexpected) return `${cell.status.toUpperCase()}! (expected ${cell.expected})${tally}`;
  return `${cell.status}${cell.status !== "pass" ? " (expected)" : ""}${tally}`;
}
