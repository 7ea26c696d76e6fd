/**
 * The other side of a case: the TypeScript observing destination (when a source is under test) and
 * the scripted TypeScript source (when a destination is under test). Cases reach them only through
 * {@linkcode Harness}, so the framework's own tests can run without them.
 *
 * @module
 */

import type {
  DestinationOptions,
  ImplementationInfo,
  RunningDestination,
  RunningSource,
  SourceOptions,
} from "../harness/implementation.ts";

/** Overrides of one channel's 64-byte init packet, or how to cut it short. */
export interface InitOverride {
  readonly magic?: number;
  readonly version?: number;
  /** 8-4-4-4-12 text or 16 bytes. */
  readonly uuid?: string | Uint8Array;
  readonly id?: number;
  readonly unused1?: Uint8Array;
  readonly unused2?: Uint8Array;
  /** Send these bytes instead of an encoded init. */
  readonly raw?: Uint8Array;
  /** Send this many bytes of the init, then close. */
  readonly truncateAt?: number;
  /** Send this many bytes of the init, then stall until disposed. */
  readonly stallAt?: number;
}

/** A mutation applied to the packets of one multifd channel. */
export interface PacketMutation {
  /** Which channel (by id); every channel when absent. */
  readonly channel?: number;
  /** Which RAM packet of that channel, counted from 0; the first when absent. */
  readonly packet?: number;
  readonly magic?: number;
  readonly version?: number;
  readonly flags?: number;
  readonly pagesAlloc?: number;
  readonly normalPages?: number;
  readonly zeroPages?: number;
  /** Replaces the first page offset. */
  readonly offset?: bigint;
  readonly ramblock?: string;
  /** Send this many bytes of the packet (header + payload) then close. */
  readonly truncateAt?: number;
}

/** What the scripted source does differently from a well-behaved one. */
export interface SourceScript {
  /** Per-channel init overrides, keyed by channel index (0..N-1). */
  readonly init?: Readonly<Record<number, InitOverride>>;
  /** Order connections are made in. */
  readonly order?: "main-first" | "main-last" | readonly ("main" | number)[];
  /** Delay before the main channel connects, in milliseconds. */
  readonly mainDelayMs?: number;
  /** Further multifd channels beyond the N configured ones (e.g. a duplicate id). */
  readonly extraChannels?: readonly InitOverride[];
  /** Send only the init packets, then wait (reject cases). */
  readonly stopAfterInit?: boolean;
  /** TLS: end every multifd channel with close_notify or without. */
  readonly close?: "clean" | "abrupt";
  readonly packets?: readonly PacketMutation[];
}

/** Options of the scripted source. */
export interface ScriptedSourceOptions extends SourceOptions {
  /** QEMU format to speak (`7.2`, `10.0`); default from `peer`. */
  readonly targetVersion?: string;
  readonly script?: SourceScript;
}

/** Options of the observing destination. */
export interface ObserverOptions extends DestinationOptions {
  /** Which QEMU format the source speaks; default from `peer`. */
  readonly sourceVersion?: string;
  readonly policy?: "peek-magic" | "arrival-order";
  readonly readTimeoutMs?: number;
}

/** One connection as the observing destination saw it. */
export interface ObservedConnection {
  /** Arrival index, from 0. */
  readonly index: number;
  readonly kind: "main" | "multifd" | "unknown";
  /** The first bytes, hex (at least 8 when that many arrived). */
  readonly head?: string;
  /** The decoded init packet of a multifd channel. */
  readonly init?: {
    readonly magic: number;
    readonly version: number;
    /** 8-4-4-4-12 text. */
    readonly uuid: string;
    readonly id: number;
    /** Offsets of non-zero reserved bytes within the 64. */
    readonly reservedNonZero: readonly number[];
  };
  readonly bytes: number;
  readonly packets?: number;
  readonly syncs?: number;
  /** How it ended. */
  readonly end: "fin" | "close_notify" | "abrupt" | "error" | "open";
  readonly errorClass?: string;
}

/** What the observing destination recorded. */
export interface DestinationTranscript {
  readonly connections: readonly ObservedConnection[];
  /** First fields of the main stream. */
  readonly main?: { readonly magic: number; readonly version: number };
  readonly [extra: string]: unknown;
}

/** A running observing destination. */
export interface ObservingDestination extends RunningDestination {
  transcript(): DestinationTranscript;
}

/** The harness a case drives. */
export interface Harness {
  /** Name and version the harness side reports as `peer` (the TypeScript implementation). */
  readonly info: ImplementationInfo;
  observer(options: ObserverOptions): Promise<ObservingDestination>;
  scriptedSource(options: ScriptedSourceOptions): Promise<RunningSource>;
}
