/**
 * The multifd side of the source: hands packets to channels like QEMU's `multifd_send()` (round
 * robin from the channel after the last one used, to the first that is free), numbers them with
 * one global `packet_num`, and sends one SYNC packet per channel at each sync point
 * (`multifd_send_sync_main()`), resolving once every SYNC has been written.
 *
 * Each channel owns two packet buffers: one is written while the next is packed, and no buffer is
 * touched again before its write has resolved.
 *
 * @module
 */

import type { WaitOptions } from "../net/wait.ts";
import { WireError } from "../wire/errors.ts";
import { PacketBuffer, type PagePacker, PAGES_PER_PACKET, type StaleFields } from "./src_packer.ts";
import type { SourceConnection } from "./src_connection.ts";
import type { MutatePacket, PacketView } from "./source_options.ts";

const BUFFERS_PER_CHANNEL = 2;

/**
 * What the RAM section sends packets through: {@linkcode MultifdSender} on this thread, or
 * `ThreadedSender` with a Worker per channel. Both put the same bytes on the wire.
 */
export interface PacketSender extends AsyncDisposable {
  /** What the sender has numbered and written so far. */
  readonly counts: Readonly<SendCounts>;
  /** Sends the first `count` of `pages` as normal pages in one packet (layout `v7.2`). */
  sendPages(pages: Int32Array, count: number): Promise<void>;
  /**
   * Sends pages `first..end-1` in packets of 128 consecutive pages, numbered in page order
   * (layouts with zero pages); `onProgress` gets the pages sent so far about every
   * {@linkcode PROGRESS_EVERY} packets.
   */
  sendRun(first: number, end: number, onProgress?: (pages: number) => void): Promise<void>;
  /** Sends one SYNC packet per channel and resolves once all of them have been written. */
  sync(): Promise<void>;
  /** Resolves once every packet handed over has been written. */
  flush(): Promise<void>;
}

/** Packets between two progress reports of {@linkcode PacketSender.sendRun}. */
export const PROGRESS_EVERY = 512;

/** What a {@linkcode PacketSender} has numbered and written. */
export class SendCounts {
  /** Packets numbered so far. */
  packets = 0;
  /** Bytes of packets written (init packets not included). */
  bytes = 0;
  /** Normal pages in packets written so far (complete after {@linkcode PacketSender.flush}). */
  normalPages = 0;
  /** Zero pages listed in packets written so far. */
  zeroPages = 0;
}

/** Thrown to end the transfer early because the script said so (a mutation that stops). */
export class ScriptStop extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ScriptStop";
  }
}

/** One multifd channel in use for packets. */
class Lane {
  readonly id: number;
  readonly connection: SourceConnection;
  readonly buffers: PacketBuffer[] = [];
  readonly busy: boolean[] = [];
  /** Packets handed to this channel so far (SYNC included). */
  sent = 0;
  readonly stale: StaleFields = { ramBlock: "", nextPacketSize: 0 };
  inflight: Promise<void>[] = [];

  constructor(id: number, connection: SourceConnection) {
    this.id = id;
    this.connection = connection;
    for (let i = 0; i < BUFFERS_PER_CHANNEL; i++) {
      this.buffers.push(new PacketBuffer());
      this.busy.push(false);
    }
  }

  freeBuffer(): number {
    for (let i = 0; i < this.busy.length; i++) if (!this.busy[i]) return i;
    return -1;
  }
}

/** A packet being filled: the channel it goes to and its buffer. */
export interface PacketSlot {
  readonly lane: number;
  readonly buffer: PacketBuffer;
  readonly bufferIndex: number;
}

/** Options of a {@linkcode MultifdSender}. */
export interface MultifdSenderOptions extends WaitOptions {
  /** Sync packets as QEMU 9.2+ (zeroed) rather than with stale fields. */
  readonly pureSyncPackets: boolean;
  readonly mutatePacket?: MutatePacket;
}

/**
 * Sends packets over a set of multifd channels.
 *
 * @example
 * ```ts ignore
 * import { MultifdSender } from "./src_multifd.ts";
 * const sender = new MultifdSender(channels, packer, { pureSyncPackets: true });
 * await sender.sendRun(0, 1024);
 * await sender.sync();
 * ```
 */
export class MultifdSender implements PacketSender {
  readonly #lanes: Lane[];
  readonly #packer: PagePacker;
  readonly #options: MultifdSenderOptions;
  #next = 0;
  /** Packets numbered, bytes and pages written. */
  readonly counts: SendCounts = new SendCounts();
  #error: WireError | null = null;
  #wake: (() => void) | null = null;

  constructor(
    channels: readonly { readonly id: number; readonly connection: SourceConnection }[],
    packer: PagePacker,
    options: MultifdSenderOptions,
  ) {
    if (channels.length === 0) throw new RangeError("no multifd channel to send packets on");
    this.#lanes = channels.map((c) => new Lane(c.id, c.connection));
    this.#packer = packer;
    this.#options = options;
  }

  /** Packs pages `first..first+count-1` into one packet and sends it. */
  async #sendRange(first: number, count: number): Promise<void> {
    const slot = this.tryAcquire() ?? await this.acquire();
    this.#packer.packRange(slot.buffer, first, count, this.nextPacketNum());
    this.counts.normalPages += slot.buffer.normalPages;
    this.counts.zeroPages += slot.buffer.zeroPages;
    this.send(slot);
  }

  /** Packs the first `count` of `pages` as normal pages into one packet and sends it. */
  async sendPages(pages: Int32Array, count: number): Promise<void> {
    const slot = this.tryAcquire() ?? await this.acquire();
    this.#packer.packPages(slot.buffer, pages, count, this.nextPacketNum());
    this.counts.normalPages += count;
    this.send(slot);
  }

  /** Sends a run of pages packet by packet (see {@linkcode PacketSender.sendRun}). */
  async sendRun(first: number, end: number, onProgress?: (pages: number) => void): Promise<void> {
    for (let from = first, n = 1; from < end; from += PAGES_PER_PACKET, n++) {
      throwIfAborted(this.#options.signal);
      await this.#sendRange(from, Math.min(PAGES_PER_PACKET, end - from));
      if (n % PROGRESS_EVERY === 0) onProgress?.(Math.min(end, from + PAGES_PER_PACKET) - first);
    }
  }

  /** Nothing to release: the writes belong to the connections. */
  [Symbol.asyncDispose](): Promise<void> {
    return Promise.resolve();
  }

  /** Takes the next global `packet_num`. */
  nextPacketNum(): number {
    return this.counts.packets++;
  }

  /** The next free channel in round-robin order with a buffer on it, or `null` if all are busy. */
  tryAcquire(): PacketSlot | null {
    this.#throwIfFailed();
    const count = this.#lanes.length;
    for (let k = 0; k < count; k++) {
      const i = (this.#next + k) % count;
      const free = this.#lanes[i].freeBuffer();
      if (free >= 0) {
        this.#next = (i + 1) % count;
        return this.#claim(i, free);
      }
    }
    return null;
  }

  /** Waits for the next free channel in round-robin order and returns a buffer on it. */
  async acquire(): Promise<PacketSlot> {
    for (;;) {
      const slot = this.tryAcquire();
      if (slot) return slot;
      await this.#waitForFree();
    }
  }

  /** Hands a filled packet to its channel; the write runs in the background. */
  send(slot: PacketSlot): void {
    const lane = this.#lanes[slot.lane];
    const buffer = slot.buffer;
    const index = lane.sent++;
    if (!buffer.sync) {
      lane.stale.ramBlock = this.#packer.ramBlock;
      lane.stale.nextPacketSize = buffer.normalPages * 4096;
    }
    let length = buffer.length;
    let stopAfter: string | null = null;
    const hook = this.#options.mutatePacket;
    if (hook) {
      const view: PacketView = {
        header: buffer.header,
        payload: buffer.payload,
        sync: buffer.sync,
      };
      const result = hook(lane.id, index, view);
      if (result && result.truncatePayload !== undefined) {
        length = Math.min(length, buffer.header.length + Math.max(0, result.truncatePayload));
        stopAfter = `payload of packet ${index} on multifd channel ${lane.id} cut to ` +
          `${length - buffer.header.length} bytes`;
      }
      if (result && result.stop) {
        stopAfter ??= `mutated packet ${index} sent on multifd channel ${lane.id}`;
      }
    }
    this.#write(slot, length, stopAfter !== null && length < buffer.length);
    if (stopAfter !== null) throw new ScriptStop(stopAfter);
  }

  /** Sends one SYNC packet per channel and resolves once all of them have been written. */
  async sync(): Promise<void> {
    for (let i = 0; i < this.#lanes.length; i++) {
      const slot = await this.#acquireOn(i);
      const lane = this.#lanes[i];
      this.#packer.fillSync(
        slot.buffer,
        this.nextPacketNum(),
        this.#options.pureSyncPackets ? null : lane.stale,
      );
      this.send(slot);
    }
    await this.flush();
  }

  /** Resolves once every packet handed over has been written. */
  async flush(): Promise<void> {
    for (const lane of this.#lanes) await Promise.all(lane.inflight);
    this.#throwIfFailed();
  }

  async #acquireOn(i: number): Promise<PacketSlot> {
    for (;;) {
      this.#throwIfFailed();
      const free = this.#lanes[i].freeBuffer();
      if (free >= 0) return this.#claim(i, free);
      await this.#waitForFree();
    }
  }

  #claim(lane: number, bufferIndex: number): PacketSlot {
    this.#lanes[lane].busy[bufferIndex] = true;
    return { lane, buffer: this.#lanes[lane].buffers[bufferIndex], bufferIndex };
  }

  #write(slot: PacketSlot, length: number, closeAfter: boolean): void {
    const lane = this.#lanes[slot.lane];
    const data = slot.buffer.bytes.subarray(0, length);
    const write = lane.connection.writer.write(data, {
      signal: this.#options.signal,
      timeoutMs: this.#options.timeoutMs,
      what: "packet",
    }).then(
      async () => {
        this.counts.bytes += length;
        if (closeAfter) await lane.connection.close("clean", { signal: this.#options.signal });
      },
      (error) => {
        this.#error ??= error instanceof WireError
          ? error
          : new WireError("E_IO", `write to ${lane.connection.name} failed: ${error}`);
      },
    ).finally(() => {
      lane.busy[slot.bufferIndex] = false;
      lane.inflight = lane.inflight.filter((p) => p !== write);
      const wake = this.#wake;
      this.#wake = null;
      wake?.();
    });
    lane.inflight.push(write);
  }

  #waitForFree(): Promise<void> {
    return new Promise((resolve) => {
      const previous = this.#wake;
      this.#wake = () => {
        previous?.();
        resolve();
      };
    });
  }

  #throwIfFailed(): void {
    if (this.#error) throw this.#error;
  }
}

/**
 * Throws `E_TIMEOUT` once `signal` has aborted: checked between packets while RAM is sent.
 *
 * @example
 * ```ts
 * import { throwIfAborted } from "./src_multifd.ts";
 * throwIfAborted(AbortSignal.timeout(1_000)); // not aborted yet: returns
 * ```
 */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw new WireError("E_TIMEOUT", `aborted while sending RAM: ${signal.reason}`, {
      field: "ram",
      cause: signal.reason,
    });
  }
}
