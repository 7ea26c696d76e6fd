/**
 * Writes a run to a directory: `results.json`, `report.md`, `report.html`, and
 * `transcripts/<case>.<implementation>.json` for every result that did not pass.
 *
 * @module
 */

import type { ImplementationInfo } from "../../harness/implementation.ts";
import type { RunResult } from "../runner.ts";
import { renderHtml } from "./html.ts";
import { renderMarkdown } from "./markdown.ts";
import { buildReport, type ReportInput, type ReportModel } from "./model.ts";

/** The `results.json` document. */
export interface ResultsDocument {
  readonly implementations: readonly ImplementationInfo[];
  readonly results: readonly unknown[];
  readonly unusedExpectations: readonly { implementation: string; pattern: string }[];
  readonly ok: boolean;
}

/** Converts bigints (e.g. packet offsets) and byte arrays so evidence always serialises. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array) {
    return Array.from(value.subarray(0, 256), (b) => b.toString(16).padStart(2, "0")).join("") +
      (value.length > 256 ? `…(${value.length} bytes)` : "");
  }
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}

/**
 * The `results.json` document (rows without transcripts).
 *
 * @example
 * ```ts
 * import { resultsDocument } from "./write.ts";
 * console.log(resultsDocument({ implementations: [], cases: [], results: [] }).ok); // true
 * ```
 */
export function resultsDocument(input: ReportInput): ResultsDocument {
  const model = buildReport(input);
  return {
    implementations: input.implementations.map(({ name, version }) => ({ name, version })),
    results: input.results.map((row) => {
      const { transcript: _, ...rest } = row as RunResult;
      return rest;
    }),
    unusedExpectations: model.unusedExpectations,
    ok: model.ok,
  };
}

/** A file-name-safe form of a case id or implementation name. */
export function safeName(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, "_");
}

/**
 * Writes every report file under `dir` and returns the model (its `ok` decides the exit code).
 *
 * @example
 * ```ts ignore
 * import { writeReports } from "./write.ts";
 * const model = await writeReports("out/conformance", { implementations, cases, results });
 * ```
 */
export async function writeReports(
  dir: string,
  input: ReportInput & { readonly results: readonly RunResult[] },
): Promise<ReportModel> {
  const model = buildReport(input);
  await Deno.mkdir(`${dir}/transcripts`, { recursive: true });
  await Deno.writeTextFile(
    `${dir}/results.json`,
    `${JSON.stringify(resultsDocument(input), jsonReplacer, 2)}\n`,
  );
  await Deno.writeTextFile(`${dir}/report.md`, renderMarkdown(model));
  await Deno.writeTextFile(`${dir}/report.html`, renderHtml(model));
  for (const row of input.results) {
    if (row.status === "pass" || row.status === "skip") continue;
    const who = row.role === "pair" ? `${row.implementation}->${row.peer}` : row.implementation;
    const suffix = row.repeat === undefined ? "" : `.${row.repeat}`;
    const path = `${dir}/transcripts/${safeName(row.case)}.${safeName(who)}${suffix}.json`;
    const { transcript, ...rest } = row;
    await Deno.writeTextFile(
      path,
      `${JSON.stringify({ result: rest, transcript: transcript ?? null }, jsonReplacer, 2)}\n`,
    );
  }
  return model;
}
