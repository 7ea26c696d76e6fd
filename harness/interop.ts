/**
 * One migration between any two implementations: start the destination, start the source against
 * it (each told the other as `peer`, so cross-version knobs apply), wait for both outcomes and
 * compare the destination's RAM digest with the pattern the source was seeded with. Used by the
 * `interop` command, the conformance suite's interop family and the benchmarks.
 *
 * @module
 */

import type {
  Implementation,
  ImplementationInfo,
  Outcome,
  RamSpec,
  TlsOptions,
} from "./implementation.ts";
import { pkiDir } from "./pki/pki.ts";
import { resolveQemu } from "./qemu/discovery.ts";
import { qemuImplementation } from "./qemu/implementation.ts";
import { tsImplementation } from "./ts/implementation.ts";
import { DEFAULT_DENSITY, patternRam, sha256Hex } from "./ram/pattern.ts";

/** Default bound of a whole interop run. */
export const DEFAULT_INTEROP_TIMEOUT_MS = 60_000;

/** Options of {@linkcode runInterop}. */
export interface InteropOptions {
  readonly src: Implementation;
  readonly dst: Implementation;
  /** Multifd channels, 1..255. */
  readonly channels: number;
  /** TLS on every channel with the committed `good` test PKI. */
  readonly tls?: boolean;
  readonly ram: RamSpec;
  /** `-uuid` of both sides. */
  readonly uuid?: string;
  /** Bound of the whole run. Default {@linkcode DEFAULT_INTEROP_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Receives progress events as they happen (the CLI prints them as JSON lines). */
  readonly onEvent?: (event: InteropEvent) => void;
}

/** A progress event; the last one is always `result`. */
export type InteropEvent =
  | {
    readonly event: "destination";
    readonly impl: string;
    readonly version: string;
    readonly endpoint: string;
  }
  | { readonly event: "source"; readonly impl: string; readonly version: string }
  | {
    readonly event: "outcome";
    readonly role: "source" | "destination";
    readonly outcome: Outcome;
  }
  | InteropResultEvent;

/** The final event, also what {@linkcode runInterop} returns. */
export interface InteropResultEvent {
  readonly event: "result";
  /** `completed` only when both sides completed and the digests match. */
  readonly status: "completed" | "failed";
  readonly ramSha256: string | null;
  readonly expectedSha256: string;
  /** Bytes moved over all channels, as one of the sides counted them, if any did. */
  readonly bytes: number | null;
  readonly seconds: number;
  /** Cross-version knobs either side applied. */
  readonly knobs: string[];
  /** Why the run failed, when it did. */
  readonly reason?: string;
}

/** The result of {@linkcode runInterop}: the final event plus both outcomes. */
export interface InteropResult extends InteropResultEvent {
  readonly source: Outcome;
  readonly destination: Outcome;
}

/**
 * TLS options for one side with the committed test PKI (`fixtures/pki/good`, names `localhost`
 * and `127.0.0.1`).
 *
 * @example
 * ```ts
 * import { testTls } from "./interop.ts";
 * console.log(testTls().hostname); // "localhost"
 * ```
 */
export function testTls(): TlsOptions {
  return { dir: pkiDir("good"), hostname: "localhost" };
}

/**
 * Runs one migration from `options.src` to `options.dst` and judges it.
 *
 * @example
 * ```ts ignore
 * import { runInterop } from "./interop.ts";
 * const result = await runInterop({ src, dst, channels: 2, ram: { mib: 16, seed: 1 } });
 * console.log(result.status, result.ramSha256 === result.expectedSha256);
 * ```
 */
export async function runInterop(options: InteropOptions): Promise<InteropResult> {
  const started = performance.now();
  const timeout = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_INTEROP_TIMEOUT_MS);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  const emit = options.onEvent ?? (() => {});
  const ram: RamSpec = { density: DEFAULT_DENSITY, ...options.ram };
  const expectedSha256 = await sha256Hex(patternRam(ram.mib, ram.seed, ram.density));
  const common = {
    channels: options.channels,
    ram,
    signal,
    ...(options.uuid ? { uuid: options.uuid } : {}),
    ...(options.tls ? { tls: testTls() } : {}),
  };
  await using dst = await options.dst.destination({ ...common, peer: info(options.src) });
  emit({
    event: "destination",
    impl: options.dst.name,
    version: options.dst.version,
    endpoint: `${dst.endpoint.hostname}:${dst.endpoint.port}`,
  });
  await using src = await options.src.source({
    ...common,
    connect: dst.endpoint,
    peer: info(options.dst),
  });
  emit({ event: "source", impl: options.src.name, version: options.src.version });
  // Both at once: a side that fails early must not keep the other one waiting unobserved.
  const [source, destination] = await Promise.all([
    src.outcome(signal).then((outcome) => {
      emit({ event: "outcome", role: "source", outcome });
      return outcome;
    }),
    dst.outcome(signal).then((outcome) => {
      emit({ event: "outcome", role: "destination", outcome });
      return outcome;
    }),
  ]);
  const ramSha256 = destination.ramSha256 ?? null;
  const reason = source.status !== "completed"
    ? `source ${source.status}${source.message ? `: ${source.message}` : ""}`
    : destination.status !== "completed"
    ? `destination ${destination.status}${destination.message ? `: ${destination.message}` : ""}`
    : ramSha256 !== expectedSha256
    ? `destination RAM digest ${ramSha256 ?? "missing"} differs from the pattern's`
    : undefined;
  const result: InteropResultEvent = {
    event: "result",
    status: reason === undefined ? "completed" : "failed",
    ramSha256,
    expectedSha256,
    bytes: source.bytes ?? destination.bytes ?? null,
    seconds: Math.round(performance.now() - started) / 1000,
    knobs: [...new Set([...knobsOf(source), ...knobsOf(destination)])],
    ...(reason === undefined ? {} : { reason }),
  };
  emit(result);
  return { ...result, source, destination };
}

/**
 * Resolves an implementation name: `ts` (migwire's TypeScript implementation), `qemu-7.2`,
 * `qemu-10.0` (a discovered binary of that version), or `qemu:PATH`.
 *
 * @throws {Error} naming the value when nothing answers to it.
 * @example
 * ```ts ignore
 * import { resolveImplementation } from "./interop.ts";
 * console.log((await resolveImplementation("qemu-10.0")).version);
 * ```
 */
export async function resolveImplementation(
  name: string,
  signal?: AbortSignal,
): Promise<Implementation> {
  if (name === "ts") return tsImplementation();
  if (name.startsWith("qemu")) return qemuImplementation(await resolveQemu(name, { signal }));
  throw new Error(
    `unknown implementation '${name}': expected ts, qemu-<major>.<minor> or qemu:PATH`,
  );
}

function info(impl: ImplementationInfo): ImplementationInfo {
  return { name: impl.name, version: impl.version };
}

function knobsOf(outcome: Outcome): string[] {
  const knobs = outcome.evidence?.knobs;
  return Array.isArray(knobs) ? knobs.map(String) : [];
}
