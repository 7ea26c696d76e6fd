/**
 * The benchmark's settings and how they follow from the command line: `--quick` migrates 256 MiB
 * of guest RAM instead of 1024 and runs the conformance suite once per implementation.
 *
 * @module
 */

import type { Pair, Transport } from "./report.ts";

/** Sections of a run that can be left out with `--skip`. */
export const SECTIONS = ["throughput", "ceiling", "suite"] as const;
/** A section of a run. */
export type Section = typeof SECTIONS[number];

/** The reference pair every throughput figure is compared with. */
export const REFERENCE_PAIR: Pair = { src: "qemu-10.0", dst: "qemu-10.0" };

/** The pairs measured by default, the reference first. */
export const DEFAULT_PAIRS: readonly Pair[] = [
  REFERENCE_PAIR,
  { src: "qemu-10.0", dst: "ts" },
  { src: "ts", dst: "qemu-10.0" },
  { src: "ts", dst: "ts" },
  { src: "qemu-7.2", dst: "ts" },
];

/** Implementations the suite's wall time is measured for (`deno task conformance --impl`). */
export const SUITE_IMPLEMENTATIONS: readonly string[] = [
  "ts",
  "ts-arrival-order",
  "qemu-7.2",
  "qemu-10.0",
];

/** Guest RAM of a full run and of a `--quick` run, MiB. */
export const FULL_RAM_MIB = 1024;
/** Guest RAM of a `--quick` run, MiB. */
export const QUICK_RAM_MIB = 256;
/** Default output directory. */
export const DEFAULT_OUT = "out/bench";

/** Everything a benchmark run is told. */
export interface BenchOptions {
  readonly quick: boolean;
  readonly ramMib: number;
  readonly seed: number;
  readonly channels: readonly number[];
  readonly transports: readonly Transport[];
  readonly pairs: readonly Pair[];
  /** Runs of every throughput and ceiling figure and of the QEMU start cost. */
  readonly runs: number;
  /** Runs of every suite figure (a suite run takes minutes). */
  readonly suiteRuns: number;
  readonly out: string;
  readonly compare?: string;
  readonly skip: ReadonlySet<Section>;
  /** Profile the TypeScript destination and source (one extra run each). */
  readonly profile: boolean;
}

/**
 * Reads the parsed command-line values into {@linkcode BenchOptions}.
 *
 * @throws {RangeError} naming the option and value that is wrong.
 * @example
 * ```ts
 * import { benchOptions } from "./options.ts";
 * const options = benchOptions({ quick: true, channels: "1,4" });
 * console.log(options.ramMib, options.channels); // 256 [1, 4]
 * ```
 */
export function benchOptions(values: Record<string, unknown>): BenchOptions {
  const quick = values.quick === true;
  const ramMib = integer(values, "ram-mib", 1, 16384, quick ? QUICK_RAM_MIB : FULL_RAM_MIB);
  const runs = integer(values, "runs", 1, 100, 3);
  const suiteRuns = integer(values, "suite-runs", 0, 100, quick ? 1 : 3);
  const channels = list(values.channels, "1,2,4,8").map((text) => {
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1 || n > 255) {
      throw new RangeError(`--channels: ${JSON.stringify(text)} is not a channel count 1..255`);
    }
    return n;
  });
  const transports = list(values.transports, "plain,tls").map((text) => {
    if (text !== "plain" && text !== "tls") {
      throw new RangeError(`--transports: ${JSON.stringify(text)} is neither plain nor tls`);
    }
    return text as Transport;
  });
  const pairs = values.pairs === undefined ? [...DEFAULT_PAIRS] : list(values.pairs, "").map(
    parsePair,
  );
  const skip = new Set(
    list(values.skip, "").map((text) => {
      if (!(SECTIONS as readonly string[]).includes(text)) {
        throw new RangeError(
          `--skip: ${JSON.stringify(text)} is not one of ${SECTIONS.join(", ")}`,
        );
      }
      return text as Section;
    }),
  );
  return {
    quick,
    ramMib,
    seed: integer(values, "seed", 0, 0xffff_ffff, 1),
    channels: [...new Set(channels)],
    transports: [...new Set(transports)],
    pairs: withReference(pairs),
    runs,
    suiteRuns,
    out: typeof values.out === "string" ? values.out : DEFAULT_OUT,
    ...(typeof values.compare === "string" ? { compare: values.compare } : {}),
    skip,
    profile: values.profile === true,
  };
}

/**
 * Parses `SRC:DST` (or `SRC>DST`) into a pair.
 *
 * @example
 * ```ts
 * import { parsePair } from "./options.ts";
 * console.log(parsePair("qemu-7.2:ts")); // { src: "qemu-7.2", dst: "ts" }
 * ```
 */
export function parsePair(text: string): Pair {
  const match = /^([^:>]+)[:>]([^:>]+)$/.exec(text);
  if (!match) throw new RangeError(`--pairs: ${JSON.stringify(text)} is not SRC:DST`);
  return { src: match[1], dst: match[2] };
}

/** The reference pair is always measured, first: every ratio needs it. */
function withReference(pairs: Pair[]): Pair[] {
  const same = (a: Pair, b: Pair) => a.src === b.src && a.dst === b.dst;
  const rest = pairs.filter((p) => !same(p, REFERENCE_PAIR));
  return [REFERENCE_PAIR, ...rest.filter((p, i) => rest.findIndex((q) => same(p, q)) === i)];
}

function list(value: unknown, fallback: string): string[] {
  const raw = value === undefined ? [fallback] : Array.isArray(value) ? value : [value];
  return raw.flatMap((v) => String(v).split(",")).map((v) => v.trim()).filter((v) => v);
}

function integer(
  values: Record<string, unknown>,
  name: string,
  min: number,
  max: number,
  fallback: number,
): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `--${name} must be an integer in ${min}..${max}, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}
