/**
 * What the source's main thread and a channel Worker (`src_channel_worker.ts`) tell each other,
 * and how a {@linkcode WireError} crosses between them with its class and message intact.
 *
 * @module
 */

import type { WireErrorData } from "../wire/errors.ts";
import type { PacketLayout } from "../wire/packet.ts";

/**
 * Sets the Worker up: the RAM it packs from and the flag that stops its calls; it packs
 * `warmUpPackets` packets without writing them (`src_warm_up.ts`) and answers `warmed`.
 */
export interface StartMessage {
  readonly type: "start";
  /** The source's RAM; `ram.buffer` is a `SharedArrayBuffer`. */
  readonly ram: Uint8Array;
  readonly layout: PacketLayout;
  readonly ramBlock: string;
  /** Non-zero at index 0: stop (shared by every channel of the source). */
  readonly abort: Int32Array;
  readonly warmUpPackets: number;
}

/** Gives the Worker its channel: a socket lent by the main thread. */
export interface AttachMessage {
  readonly type: "attach";
  readonly fd: number;
  /** Name in errors, e.g. `multifd channel 1`. */
  readonly name: string;
  readonly timeoutMs: number;
}

/** One packet to pack and write: a page range (`v9.0`/`v10.0`) or a page list (`v7.2`). */
export interface PacketMessage {
  readonly packetNum: number;
  readonly first: number;
  readonly count: number;
  /** `v7.2`: the normal pages; absent for a range. */
  readonly pages?: Int32Array;
}

/** One SYNC packet; `pure`: zeroed as QEMU 9.2+, else with the channel's stale fields. */
export interface SyncMessage {
  readonly type: "sync";
  readonly packetNum: number;
  readonly pure: boolean;
}

/** Packets for one channel, written in order: a message per packet costs more than its packing. */
export interface PacketsMessage {
  readonly type: "packets";
  readonly packets: readonly PacketMessage[];
}

/**
 * A run of pages `first..end-1` shared out over every channel's Worker: each claims the run's
 * next packet (128 consecutive pages; packet `i` is numbered `packetNumBase + i`) by adding 1 to
 * `claim[0]` until the run is claimed, as a free channel takes the next packet in QEMU.
 */
export interface RunMessage {
  readonly type: "run";
  readonly first: number;
  readonly end: number;
  readonly packetNumBase: number;
  /** The run's next packet index; `claim.buffer` is a `SharedArrayBuffer`. */
  readonly claim: Int32Array;
}

/** What the main thread posts to a channel Worker. */
export type ToChannel = StartMessage | AttachMessage | PacketsMessage | SyncMessage | RunMessage;

/** What a channel Worker posts back. */
export type FromChannel =
  | { readonly type: "ready" }
  /** Answers `start`: the packets the packer warmed up on. */
  | { readonly type: "warmed"; readonly packets: number }
  | {
    readonly type: "written";
    /**
     * Outstanding items this answers: the packets of a `packets` message, 1 for a `sync` or a
     * `run` once done, 0 for a tally of a run still going.
     */
    readonly answers: number;
    readonly bytes: number;
    readonly normalPages: number;
    readonly zeroPages: number;
  }
  | { readonly type: "error"; readonly error: WireErrorData };
