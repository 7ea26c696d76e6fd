/**
 * The TypeScript implementation behind the {@linkcode Implementation} interface: `ts` classifies
 * channels by peeking at their magic (QEMU ≥ 8.0), `ts-arrival-order` by arrival order (QEMU 7.2).
 *
 * @module
 */

import type {
  DestinationOptions,
  Implementation,
  RunningSource,
  SourceOptions,
  TlsOptions,
} from "../implementation.ts";
import { knobsFor } from "../qemu/knobs.ts";
import { startTsDestination } from "./destination.ts";
import type { DestinationPolicy, TsRunningDestination } from "./dst_options.ts";
import { startTsSource } from "./source.ts";

/** migwire's own version, reported as the `ts` implementation's version. */
export const TS_IMPLEMENTATION_VERSION = "0.1.0";

/** Options of {@linkcode tsImplementation}. */
export interface TsImplementationOptions {
  /** Channel classification of the destination; default `peek-magic`. */
  readonly policy?: DestinationPolicy;
}

/** The TypeScript implementation; its destinations also keep a transcript. */
export interface TsImplementation extends Implementation {
  destination(options: DestinationOptions): Promise<TsRunningDestination>;
}

/**
 * The TypeScript implementation, named `ts` (peek-magic) or `ts-arrival-order`.
 *
 * @example Receive a migration from any source implementation
 * ```ts ignore
 * import { tsImplementation } from "./implementation.ts";
 * const ts = tsImplementation();
 * await using dst = await ts.destination({ channels: 2, ram: { mib: 16, seed: 1 } });
 * console.log(dst.endpoint.port);
 * ```
 */
export function tsImplementation(options: TsImplementationOptions = {}): TsImplementation {
  const policy = options.policy ?? "peek-magic";
  const self = {
    name: policy === "arrival-order" ? "ts-arrival-order" : "ts",
    version: TS_IMPLEMENTATION_VERSION,
  };
  return {
    ...self,
    destination: (destination) =>
      startTsDestination({
        policy,
        ...destination,
        tls: destinationTls(self, destination),
      }),
    source: (source: SourceOptions): Promise<RunningSource> => startTsSource(source),
  };
}

/**
 * Like a QEMU ≥ 10.0 destination, the TS destination is strict about close_notify unless its peer
 * predates clean TLS termination: then the same knob the QEMU driver applies
 * (`multifd-clean-tls-termination=false`) makes it relaxed. An explicit `tls.eof` wins.
 */
function destinationTls(
  self: { name: string; version: string },
  options: DestinationOptions,
): TlsOptions | undefined {
  const tls = options.tls;
  if (!tls || tls.eof !== undefined) return tls;
  const relaxed = knobsFor("destination", self, options.peer, { tls: true }).some((knob) =>
    knob.name.endsWith("multifd-clean-tls-termination") && knob.value === "false"
  );
  return relaxed ? { ...tls, eof: "relaxed" } : tls;
}
