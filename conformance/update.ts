/**
 * `--update-expectations`: rewrites each implementation's expectation file from a run, keeping the
 * reasons of the entries the run confirmed.
 *
 * @module
 */

import {
  type ExpectationFile,
  expectationFileName,
  EXPECTATIONS_DIR,
  formatExpectations,
  type ObservedKey,
  updateExpectations,
} from "./expectations.ts";
import { expectationKey } from "./expectations.ts";
import type { ResultRow } from "./runner.ts";

/**
 * The file a row belongs to: the one whose entry matched it; else its implementation's, or for an
 * interop row the destination's (most interop divergences are the destination's behaviour).
 */
export function fileOfRow(row: ResultRow): string {
  if (row.expectationFile) return row.expectationFile;
  return row.role === "pair" ? row.peer : row.implementation;
}

/**
 * The updated files for `implementations` (only those whose contents change are returned).
 *
 * @example
 * ```ts
 * import { updatedFiles } from "./update.ts";
 * console.log(updatedFiles(new Map(), [], ["ts"]).length); // 0
 * ```
 */
export function updatedFiles(
  current: ReadonlyMap<string, ExpectationFile>,
  rows: readonly ResultRow[],
  implementations: readonly string[],
): ExpectationFile[] {
  const out: ExpectationFile[] = [];
  for (const name of implementations) {
    const file = current.get(name) ?? { implementation: name, expectations: {} };
    const observed: ObservedKey[] = rows.filter((r) => fileOfRow(r) === name).map((r) => ({
      key: r.role === "pair" ? expectationKey(r.case, r.implementation, r.peer) : r.case,
      status: r.status,
      detail: r.detail,
      ...(r.expectationFile === name && r.pattern ? { pattern: r.pattern } : {}),
    }));
    const next = updateExpectations(file, observed);
    if (formatExpectations(next) !== formatExpectations(file)) out.push(next);
  }
  return out;
}

/** Writes `files` to `dir`; returns the paths written. */
export async function writeExpectationFiles(
  files: readonly ExpectationFile[],
  dir: string = EXPECTATIONS_DIR,
): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const paths: string[] = [];
  for (const file of files) {
    const path = `${dir}/${expectationFileName(file.implementation)}`;
    await Deno.writeTextFile(path, formatExpectations(file));
    paths.push(path);
  }
  return paths;
}
