/**
 * The messages between the destination and a Worker that receives one multifd channel
 * (`dst_channel_worker.ts`). A failure crosses as `WireErrorData`.
 *
 * @module
 */

import type { PacketLayout } from "../wire/packet.ts";
import type { WireErrorData } from "../wire/errors.ts";
import type { ChannelEnd } from "./dst_multifd.ts";
import type { ObservedConnection } from "./dst_transcript.ts";

/** A RAM block as the Worker lays it out. */
export interface BlockEntry {
  readonly name: string;
  readonly length: number;
}

/** Destination → Worker. */
export type ToChannelWorker =
  | {
    readonly type: "start";
    readonly fd: number;
    readonly leftover: Uint8Array;
    readonly id: number;
    readonly name: string;
    readonly layout: PacketLayout;
    /** The RAM image: a page-aligned view into a `SharedArrayBuffer`. */
    readonly ram: Uint8Array;
    /** The block list, when the main stream has announced it already. */
    readonly blocks: readonly BlockEntry[] | null;
    readonly readTimeoutMs: number;
    readonly cleanEnd: "fin" | "close_notify";
    readonly relaxedEof: boolean;
    /** Index 0 non-zero: stop (read between calls, so a blocked call needs a shutdown too). */
    readonly abort: SharedArrayBuffer;
    /** A `BigInt64Array` whose index 0 the Worker sets to its bytes read after every packet. */
    readonly progress: SharedArrayBuffer;
  }
  | {
    /** Before any `start`: run the receiver over made-up packets (`dst_warm_up.ts`). */
    readonly type: "warm-up";
    readonly layout: PacketLayout;
    readonly packets: number;
    /** Full packets to decode apart from the read path; `packets` when absent. */
    readonly decodes?: number;
  }
  | { readonly type: "blocks"; readonly blocks: readonly BlockEntry[] }
  | { readonly type: "released" }
  | { readonly type: "abort"; readonly reason: string };

/** Worker → destination. */
export type FromChannelWorker =
  | { readonly type: "ready" }
  | { readonly type: "warmed"; readonly packets: number }
  | { readonly type: "warm-up-failed"; readonly error: WireErrorData }
  | { readonly type: "synced" }
  | {
    readonly type: "done";
    readonly end: ChannelEnd;
    readonly observed: ObservedConnection;
    /** Bytes the Worker read, the lent leftover included. */
    readonly bytesRead: number;
  }
  | {
    readonly type: "failed";
    readonly error: WireErrorData;
    readonly observed: ObservedConnection;
    readonly bytesRead: number;
  };
