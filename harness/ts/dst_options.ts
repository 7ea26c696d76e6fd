/**
 * Options of the TypeScript destination and how their defaults follow from the source's QEMU
 * version (the one table in `harness/wire/versions.ts`).
 *
 * @module
 */

import type {
  DestinationOptions,
  ImplementationInfo,
  Outcome,
  RunningDestination,
} from "../implementation.ts";
import type { ErrorClass } from "../wire/errors.ts";
import type { PacketLayout } from "../wire/packet.ts";
import { DEFAULT_HANDSHAKE_TIMEOUT_MS } from "../net/tls.ts";
import { NIL_UUID, parseUuid } from "../wire/uuid.ts";
import { type FlushStyle, versionInfo } from "../wire/versions.ts";
import type { DestinationTranscript } from "./dst_transcript.ts";

/** How the destination tells the main channel from the multifd channels. */
export type DestinationPolicy = "peek-magic" | "arrival-order";

/** The version the TypeScript implementation speaks. */
export const TS_WIRE_VERSION = "10.0";

/** Default bound of every read on a channel, in milliseconds. */
export const DEFAULT_READ_TIMEOUT_MS = 30_000;

/** Default bound of the wait for the first connection, in milliseconds. */
export const DEFAULT_ACCEPT_TIMEOUT_MS = 120_000;

/** An event of a running destination, one JSON line each on the CLI. */
export type DestinationEvent =
  | { readonly event: "listening"; readonly hostname: string; readonly port: number }
  | {
    readonly event: "channel";
    readonly kind: "main" | "multifd";
    readonly index: number;
    readonly id?: number;
    readonly transport: "tcp" | "tls";
  }
  | { readonly event: "sync"; readonly point: number }
  | { readonly event: "error"; readonly class: ErrorClass; readonly message: string };

/** Options of {@linkcode startTsDestination}. */
export interface TsDestinationOptions extends DestinationOptions {
  /** Channel classification; default `peek-magic` (QEMU ≥ 8.0). TLS channels always go by order. */
  readonly policy?: DestinationPolicy;
  /**
   * QEMU version whose format the source speaks (`7.2`, `9.0`, `10.0.2`…): picks the packet
   * layout and the sync style. Default: from `peer` (`ts` speaks 10.0).
   */
  readonly sourceVersion?: string;
  /** Overrides the sync style the version implies. */
  readonly flushStyle?: FlushStyle;
  /** Bound of every read on a channel. Default {@linkcode DEFAULT_READ_TIMEOUT_MS}. */
  readonly readTimeoutMs?: number;
  /** With `tls`: bound of each TLS handshake. Default {@linkcode DEFAULT_HANDSHAKE_TIMEOUT_MS}. */
  readonly handshakeTimeoutMs?: number;
  /** Bound of the wait for the first connection. Default {@linkcode DEFAULT_ACCEPT_TIMEOUT_MS}. */
  readonly acceptTimeoutMs?: number;
  /** Writes the received guest RAM image to this file at the end. */
  readonly ramOut?: string;
  /** Compare the received RAM with the pattern of `ram` (default true). */
  readonly verifyPattern?: boolean;
  /** Receives every event as it happens. */
  readonly onEvent?: (event: DestinationEvent) => void;
  /**
   * With `tls`: accept every connection and never answer its ClientHello, holding it until the
   * destination ends (a destination that stalls in the handshake, for negative cases).
   */
  readonly stallTlsHandshakes?: boolean;
}

/** A running TypeScript destination. */
export interface TsRunningDestination extends RunningDestination {
  /** What the destination has seen so far (a snapshot; complete once `outcome()` resolved). */
  transcript(): DestinationTranscript;
  /** Bytes received so far over every channel. */
  readonly bytesReceived: number;
}

/** Options with every default filled in. */
export interface ResolvedDestinationOptions {
  readonly policy: DestinationPolicy;
  readonly sourceVersion: string;
  readonly layout: PacketLayout;
  readonly flushStyle: FlushStyle;
  readonly uuid: Uint8Array;
  readonly uuidText: string;
  readonly channels: number;
  readonly readTimeoutMs: number;
  readonly handshakeTimeoutMs: number;
  readonly acceptTimeoutMs: number;
}

/**
 * The QEMU version a peer speaks: `ts*` speaks {@linkcode TS_WIRE_VERSION}, QEMU its own.
 *
 * @example
 * ```ts
 * import { peerWireVersion } from "./dst_options.ts";
 * console.log(peerWireVersion({ name: "qemu-7.2", version: "7.2.22" })); // "7.2.22"
 * ```
 */
export function peerWireVersion(peer: ImplementationInfo | undefined): string {
  if (!peer || peer.name.startsWith("ts")) return TS_WIRE_VERSION;
  return peer.version;
}

/**
 * Fills in the defaults and checks every option, naming the option and value that is wrong.
 *
 * @throws {RangeError} or {TypeError} for a bad option.
 * @example
 * ```ts
 * import { resolveDestinationOptions } from "./dst_options.ts";
 * const r = resolveDestinationOptions({ channels: 2, ram: { mib: 16, seed: 1 }, sourceVersion: "7.2" });
 * console.log(r.layout, r.flushStyle); // "v7.2" "eos"
 * ```
 */
export function resolveDestinationOptions(
  options: TsDestinationOptions,
): ResolvedDestinationOptions {
  const { channels } = options;
  if (!Number.isInteger(channels) || channels < 1 || channels > 255) {
    throw new RangeError(`channels must be an integer in 1..255, got ${channels}`);
  }
  const policy = options.policy ?? "peek-magic";
  if (policy !== "peek-magic" && policy !== "arrival-order") {
    throw new TypeError(
      `policy must be peek-magic or arrival-order, got ${JSON.stringify(policy)}`,
    );
  }
  const sourceVersion = options.sourceVersion ?? peerWireVersion(options.peer);
  const info = versionInfo(sourceVersion);
  const flushStyle = options.flushStyle ?? info.flushStyle.value;
  if (flushStyle !== "eos" && flushStyle !== "multifd-flush") {
    throw new TypeError(
      `flushStyle must be eos or multifd-flush, got ${JSON.stringify(flushStyle)}`,
    );
  }
  if (options.stallTlsHandshakes && !options.tls) {
    throw new TypeError("stallTlsHandshakes needs tls: a plain destination has no handshake");
  }
  const uuid = options.uuid === undefined ? new Uint8Array(NIL_UUID) : parseUuid(options.uuid);
  const readTimeoutMs = positive("readTimeoutMs", options.readTimeoutMs, DEFAULT_READ_TIMEOUT_MS);
  const handshakeTimeoutMs = positive(
    "handshakeTimeoutMs",
    options.handshakeTimeoutMs,
    DEFAULT_HANDSHAKE_TIMEOUT_MS,
  );
  const acceptTimeoutMs = positive(
    "acceptTimeoutMs",
    options.acceptTimeoutMs,
    DEFAULT_ACCEPT_TIMEOUT_MS,
  );
  return {
    policy,
    sourceVersion,
    layout: info.packetLayout.value,
    flushStyle,
    uuid,
    uuidText: options.uuid?.toLowerCase() ?? "00000000-0000-0000-0000-000000000000",
    channels,
    readTimeoutMs,
    handshakeTimeoutMs,
    acceptTimeoutMs,
  };
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value > 0)) {
    throw new RangeError(`${name} must be a positive number of milliseconds, got ${value}`);
  }
  return value;
}

/**
 * A failed outcome with its canonical class.
 *
 * @example
 * ```ts
 * import { failedOutcome } from "./dst_options.ts";
 * console.log(failedOutcome("E_UUID", "uuid mismatch").status); // "failed"
 * ```
 */
export function failedOutcome(
  errorClass: ErrorClass,
  message: string,
  extra: Partial<Outcome> = {},
): Outcome {
  return { status: "failed", errorClass, message, ...extra };
}
