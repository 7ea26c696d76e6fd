/**
 * The TypeScript side of the cases: the observing destination (`startTsDestination`) and the
 * scripted source (`startTsSource`), and the TypeScript implementation as implementations under
 * test (`ts`, `ts-arrival-order`).
 *
 * @module
 */

import type { Implementation } from "../harness/implementation.ts";
import { startTsDestination } from "../harness/ts/destination.ts";
import { TS_IMPLEMENTATION_VERSION, tsImplementation } from "../harness/ts/implementation.ts";
import { startTsSource } from "../harness/ts/source.ts";
import type { Harness } from "./harness.ts";

/**
 * The harness every case drives: a TypeScript destination observing a source under test, and a
 * TypeScript source following a case's script.
 *
 * @example
 * ```ts ignore
 * import { tsHarness } from "./ts_harness.ts";
 * await using observer = await tsHarness.observer({ channels: 2, ram: { mib: 16, seed: 1 } });
 * ```
 */
export const tsHarness: Harness = {
  info: { name: "ts", version: TS_IMPLEMENTATION_VERSION },
  observer: (options) => startTsDestination(options),
  scriptedSource: (options) => startTsSource(options),
};

/** The TypeScript implementation under test, as `ts` (peek-magic) and `ts-arrival-order`. */
export function tsImplementations(): Implementation[] {
  return [tsImplementation(), tsImplementation({ policy: "arrival-order" })];
}
