/**
 * The TypeScript side of the cases: the observing destination (`startTsDestination`) and the
 * scripted source (`startTsSource`), and the TypeScript implementation as implementations under
 * test.
 *
 * @module
 */

import type { Implementation, RunningSource } from "../harness/implementation.ts";
import { startTsDestination } from "../harness/ts/destination.ts";
import type { Harness, ObservingDestination, ScriptedSourceOptions } from "./harness.ts";

/** The version string migwire's own implementation reports. */
export const TS_VERSION = "0.1.0";

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
  info: { name: "ts", version: TS_VERSION },
  observer: (options): Promise<ObservingDestination> => startTsDestination(options),
  scriptedSource: (_options: ScriptedSourceOptions): Promise<RunningSource> =>
    Promise.reject(new Error("the scripted TypeScript source is not available yet")),
};

/** The TypeScript implementation under test, as `ts` and `ts-arrival-order`. */
export function tsImplementations(): Implementation[] {
  return [];
}
