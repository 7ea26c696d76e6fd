/**
 * Options of the TypeScript multifd source: what to migrate, to which destination version, and the
 * script that bends the connection order, the init packets and the packets for negative cases.
 *
 * @module
 */

import type { SourceOptions } from "../implementation.ts";
import type { InitPacketFields } from "../wire/init_packet.ts";

/** A channel slot in a connection order: `"main"`, or a multifd slot (`0..channels-1`, then extras). */
export type ChannelSlot = "main" | number;

/** Connection order of the channels. */
export type ConnectionOrder = "main-first" | "main-last" | readonly ChannelSlot[];

/** How the init packet of one multifd channel deviates from QEMU's. */
export interface InitOverride extends InitPacketFields {
  /** Send these bytes instead of an encoded init packet (any length). */
  readonly raw?: Uint8Array;
  /** Send only the first `truncateAt` bytes of the init, then close the channel. */
  readonly truncateAt?: number;
  /** Send only the first `stallAt` bytes of the init, then hold the channel open until aborted. */
  readonly stallAt?: number;
  /**
   * Instead of a TLS handshake, send the first `tlsStallAt` bytes of a ClientHello over the bare
   * TCP connection (0 to 11; 5 is a whole record header) and hold the channel open until aborted.
   * No init packet follows.
   */
  readonly tlsStallAt?: number;
}

/** The fixed part of one RAM packet as the mutation hook sees it, editable in place. */
export interface PacketView {
  /** The packet header, `packetLength` bytes (1344 on x86): magic, version, flags, …, `offset[]`. */
  readonly header: Uint8Array;
  /** The page payload that follows, `normal_pages × 4096` bytes. */
  readonly payload: Uint8Array;
  /** Whether this is a SYNC packet. */
  readonly sync: boolean;
}

/**
 * What a mutation hook returns: nothing to send the packet as edited and go on; `truncatePayload:
 * k` to send the header and only `k` bytes of the payload, then close the channel; `stop` to send
 * the packet and end the transfer there (the source then holds its channels like
 * `stopAfterInit`). Either ends the transfer.
 */
export type PacketMutationResult = void | {
  readonly truncatePayload?: number;
  readonly stop?: boolean;
};

/**
 * Edits a packet before it is sent. `index` counts the packets of `channel` (the multifd id),
 * SYNC packets included, from 0.
 */
export type MutatePacket = (
  channel: number,
  index: number,
  packet: PacketView,
) => PacketMutationResult;

/** A declarative packet mutation, applied to the first RAM packet carrying pages on a channel. */
export type PacketMutation =
  | { readonly kind: "magic"; readonly value?: number }
  | { readonly kind: "version"; readonly value?: number }
  | { readonly kind: "pages-alloc"; readonly value?: number }
  | { readonly kind: "normal-pages"; readonly value?: number }
  | { readonly kind: "zero-pages"; readonly value?: number }
  | { readonly kind: "offset"; readonly value?: number }
  | { readonly kind: "ramblock"; readonly value?: string }
  | { readonly kind: "flags"; readonly value: number }
  | { readonly kind: "truncate-payload"; readonly value?: number };

/** A declarative mutation and where it applies. */
export interface PacketMutationSpec {
  readonly mutation: PacketMutation;
  /** Multifd channel id, default 0. */
  readonly channel?: number;
}

/** How the source departs from a well-behaved QEMU source, for negative and ordering cases. */
export interface SourceScript {
  /** Connection order; default `"main-first"` (QEMU's). */
  readonly order?: ConnectionOrder;
  /** Wait this long before connecting the main channel (in its place in `order`). */
  readonly mainDelayMs?: number;
  /** Per multifd slot (index = slot): how its init packet deviates. */
  readonly inits?: Readonly<Record<number, InitOverride>>;
  /**
   * More multifd connections after the regular ones (slots `channels..`), each with its own init,
   * e.g. `[{ id: 0 }]` for a duplicate id.
   */
  readonly extraChannels?: readonly InitOverride[];
  /**
   * Send only the main stream's header and configuration and the init packets, then hold the
   * connections until the destination closes one, `holdMs` passes or the signal aborts.
   */
  readonly stopAfterInit?: boolean;
  /** How long `stopAfterInit` and stalls hold the connections. Default 10 000 ms. */
  readonly holdMs?: number;
  /** Edits packets before they are sent. Runs before `mutations`. */
  readonly mutatePacket?: MutatePacket;
  /** Declarative packet mutations. */
  readonly mutations?: readonly PacketMutationSpec[];
}

/** Options of {@linkcode startTsSource}. */
export interface TsSourceOptions extends SourceOptions {
  /**
   * QEMU version whose wire layout to speak, `major.minor[.micro]`; default from `peer`
   * (`qemu-7.2` → 7.2, `ts` → 10.0), else 10.0.
   */
  readonly targetVersion?: string;
  /** Departures from QEMU's behaviour. */
  readonly script?: SourceScript;
  /** Guest RAM image to send instead of the pattern of `ram`; its size must be `ram.mib` MiB. */
  readonly ramFile?: string;
  /**
   * A captured main stream (file path or bytes) whose device sections, EOF and VM description are
   * replayed; default: the capture for the target version under `fixtures/`.
   */
  readonly mainTemplate?: string | Uint8Array;
  /** Bound of every single wait (connect, write), default 30 000 ms. */
  readonly timeoutMs?: number;
  /** With `tls`: bound of each TLS handshake, default 10 000 ms. */
  readonly handshakeTimeoutMs?: number;
  /** Called for every event (connections, errors, progress); the CLI prints them. */
  readonly onEvent?: (event: SourceEvent) => void;
}

/** Something the source reports while it runs. */
export type SourceEvent =
  | { readonly event: "connected"; readonly kind: "main" | "multifd"; readonly id?: number }
  | { readonly event: "progress"; readonly bytes: number; readonly pages: number }
  | { readonly event: "error"; readonly class: string; readonly message: string };
