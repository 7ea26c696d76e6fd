/**
 * What the observing destination records: every connection in arrival order with its
 * classification, decoded init packet, counts and how it ended, and the main stream's decoded
 * records. The conformance suite judges a source under test from it.
 *
 * @module
 */

import type { ErrorClass } from "../wire/errors.ts";

/** How a connection ended. */
export type ConnectionEnd =
  /** TCP FIN at a record boundary (plain transport). */
  | "fin"
  /** TLS close_notify at a record boundary. */
  | "close_notify"
  /** TLS transport closed without close_notify. */
  | "abrupt"
  /** Failed with an error (see `errorClass`). */
  | "error"
  /** Still open when the migration ended; closed by the destination. */
  | "open";

/** The decoded `MultiFDInit_t` of a multifd channel, every field. */
export interface ObservedInit {
  readonly magic: number;
  readonly version: number;
  /** 8-4-4-4-12 text. */
  readonly uuid: string;
  readonly id: number;
  /** The 7 bytes at 25, hex. */
  readonly unused1: string;
  /** The 32 bytes at 32, hex. */
  readonly unused2: string;
  /** Offsets of non-zero reserved bytes within the 64. */
  readonly reservedNonZero: readonly number[];
  /** All 64 bytes, hex. */
  readonly raw: string;
}

/** One connection as the destination saw it. */
export interface ObservedConnection {
  /** Arrival index, from 0. */
  index: number;
  /** What it was taken for; `unknown` until (or unless) it was classified. */
  kind: "main" | "multifd" | "unknown";
  transport: "tcp" | "tls";
  /** Milliseconds after the destination started listening. */
  acceptedAtMs: number;
  /** The first bytes, hex (the peeked magic, or the init packet's first 8). */
  head?: string;
  init?: ObservedInit;
  /** Channel id of an accepted multifd channel. */
  channelId?: number;
  /** Bytes received, after TLS. */
  bytes: number;
  /** Multifd packets (RAM and device state). */
  packets?: number;
  /** Packets with `MULTIFD_FLAG_SYNC`. */
  syncs?: number;
  normalPages?: number;
  zeroPages?: number;
  deviceStatePackets?: number;
  /** Packets whose reserved bytes were not zero. */
  packetsWithReservedBytes?: number;
  /** SYNC packets that also carried pages (sources before 9.0 may do this). */
  syncsWithPages?: number;
  end: ConnectionEnd;
  errorClass?: ErrorClass;
  error?: string;
}

/** One record of the main stream. */
export interface MainRecord {
  /**
   * `configuration`, `subsection`, `start`, `part`, `end`, `full`, `command`, `eof`,
   * `vmdescription`.
   */
  readonly type: string;
  readonly sectionId?: number;
  readonly idstr?: string;
  readonly instanceId?: number;
  readonly versionId?: number;
  /** Byte offset in the main stream where the record starts. */
  readonly at: number;
  /** For RAM parts: what they carried. */
  readonly ram?: {
    zeroPages: number;
    normalPages: number;
    flushes: number;
    eos: number;
    blocks?: { name: string; length: number }[];
  };
  /** For commands: `MIG_CMD_*` number and payload length. */
  readonly command?: { readonly cmd: number; readonly length: number };
  /**
   * For device sections: fields decoded through the VM description (`field`, `field[i]`,
   * `struct.field`, `subsection/field`), integers in decimal, bytes in hex.
   */
  readonly fields?: Readonly<Record<string, string>>;
  /** For the configuration: the machine type. */
  readonly machine?: string;
}

/** The main stream as decoded. */
export interface ObservedMain {
  readonly magic: number;
  readonly version: number;
  readonly records: MainRecord[];
  /** Sync points (flushes honoured). */
  syncPoints: number;
  /** `RAM_SAVE_FLAG_MULTIFD_FLUSH` records seen. */
  flushes: number;
  /** `RAM_SAVE_FLAG_EOS` records seen. */
  eos: number;
  /** Pages carried on the main stream. */
  zeroPages: number;
  normalPages: number;
  /** Whether `QEMU_VM_EOF` arrived. */
  eof: boolean;
  /** The VM description trailer, parsed (when it was JSON). */
  vmdescription?: unknown;
}

/** Everything the destination recorded. */
export interface DestinationTranscript {
  readonly policy: "peek-magic" | "arrival-order";
  readonly sourceVersion: string;
  readonly layout: string;
  readonly flushStyle: string;
  readonly channels: number;
  readonly uuid: string;
  readonly tls: boolean;
  readonly connections: ObservedConnection[];
  main?: ObservedMain;
  /** Per-block digests and the pattern comparison, once the migration completed. */
  result?: {
    readonly status: string;
    readonly errorClass?: ErrorClass;
    readonly ramSha256?: string;
  };
}
