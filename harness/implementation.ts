/**
 * The one adapter interface every implementation under test sits behind: the TypeScript
 * implementation, each QEMU binary, and any other program later. A conformance case never knows
 * which one it drives.
 *
 * @module
 */

import type { ErrorClass } from "./wire/errors.ts";

/** A TCP endpoint. */
export interface Endpoint {
  readonly hostname: string;
  readonly port: number;
}

/** Name and version of an implementation, e.g. `{name: "qemu-10.0", version: "10.0.2"}`. */
export interface ImplementationInfo {
  /** `ts`, `ts-arrival-order`, `qemu-7.2`, `qemu-10.0`, `qemu:/path`. */
  readonly name: string;
  /** Full version, e.g. `10.0.2` or migwire's own version for `ts`. */
  readonly version: string;
}

/** TLS settings of one side. Files use QEMU's names: `ca-cert.pem`, `server-cert.pem`, …. */
export interface TlsOptions {
  /** Directory holding the PKI in QEMU's file names. */
  readonly dir: string;
  /** Name the source checks the destination's certificate against (QEMU's `tls-hostname`). */
  readonly hostname?: string;
  /** Destination: require and verify a client certificate (QEMU `verify-peer`, default true). */
  readonly verifyPeer?: boolean;
  /**
   * Destination: `strict` rejects a multifd channel that ends without close_notify (QEMU ≥ 10.0
   * default), `relaxed` accepts it at a packet boundary (`multifd-clean-tls-termination=false`).
   */
  readonly eof?: "strict" | "relaxed";
  /** Source: `clean` sends close_notify on every channel (QEMU ≥ 10.0), `abrupt` does not. */
  readonly close?: "clean" | "abrupt";
}

/** Guest RAM seeded with a deterministic pattern (see `harness/ram/pattern.ts`). */
export interface RamSpec {
  /** Guest RAM size in MiB (the `-m` of `-M none`). */
  readonly mib: number;
  /** Pattern seed; the same seed gives the same bytes in every implementation. */
  readonly seed: number;
  /** Share of 4 KiB pages that are non-zero, 0..1. */
  readonly density?: number;
  /**
   * Every page of guest RAM is resident before the migration starts, like QEMU's `prealloc=on`,
   * so that first-touch page faults stay outside the transfer (default false).
   */
  readonly prealloc?: boolean;
}

/** Options shared by both roles. */
export interface CommonOptions {
  /** Number of multifd channels (QEMU `multifd-channels`), 1..255. */
  readonly channels: number;
  /** The VM UUID (QEMU `-uuid`), lower-case 8-4-4-4-12; all zeros when absent. */
  readonly uuid?: string;
  readonly tls?: TlsOptions;
  readonly ram: RamSpec;
  /** The implementation on the other side, so cross-version knobs can be applied. */
  readonly peer?: ImplementationInfo;
  /** Aborts waits; every wait also has its own timeout. */
  readonly signal?: AbortSignal;
}

/** Options for starting a destination. */
export interface DestinationOptions extends CommonOptions {
  /** Address to listen on, default `127.0.0.1`, port 0 (any). */
  readonly listen?: Partial<Endpoint>;
}

/** Options for starting a source. */
export interface SourceOptions extends CommonOptions {
  readonly connect: Endpoint;
}

/** Final state of one side, as evidence rather than a boolean. */
export type OutcomeStatus = "completed" | "failed" | "crashed" | "frozen" | "timeout";

/** What one side of a migration ended with. */
export interface Outcome {
  readonly status: OutcomeStatus;
  /** Canonical class of the failure, if any. */
  readonly errorClass?: ErrorClass;
  /** The failure as the implementation put it (QEMU's error-desc or stderr line). */
  readonly message?: string;
  /** SHA-256 (hex) of the guest RAM after the migration, destination side. */
  readonly ramSha256?: string;
  /** Bytes moved over all channels. */
  readonly bytes?: number;
  readonly seconds?: number;
  /** Process exit, for implementations that are processes. */
  readonly exit?: { readonly code: number | null; readonly signal: string | null };
  /** Whether the control plane (QMP) still answered after the migration ended. */
  readonly controlPlane?: "answering" | "frozen" | "gone";
  /** Further evidence: stderr lines, QMP replies, applied knobs, channel events. */
  readonly evidence?: Readonly<Record<string, unknown>>;
}

/** A destination that is listening. Dispose it to stop it and free everything it holds. */
export interface RunningDestination extends AsyncDisposable {
  /** Where sources connect to. */
  readonly endpoint: Endpoint;
  /** Resolves when the migration has ended one way or another (or the signal aborts). */
  outcome(signal?: AbortSignal): Promise<Outcome>;
}

/** A source that has started migrating. Dispose it to stop it and free everything it holds. */
export interface RunningSource extends AsyncDisposable {
  outcome(signal?: AbortSignal): Promise<Outcome>;
}

/**
 * An implementation under test.
 *
 * @example Drive any implementation
 * ```ts ignore
 * import type { Implementation } from "./implementation.ts";
 * async function migrate(src: Implementation, dst: Implementation) {
 *   const ram = { mib: 16, seed: 1 };
 *   await using d = await dst.destination({ channels: 2, ram, peer: src });
 *   await using s = await src.source({ channels: 2, ram, connect: d.endpoint, peer: dst });
 *   return [await s.outcome(), await d.outcome()];
 * }
 * ```
 */
export interface Implementation extends ImplementationInfo {
  destination(options: DestinationOptions): Promise<RunningDestination>;
  source(options: SourceOptions): Promise<RunningSource>;
}
