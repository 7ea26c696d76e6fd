/**
 * The multifd side of the source with one Worker per channel (`src_channel_worker.ts`), as QEMU's
 * `multifd_send_thread`s: this thread keeps what `multifd_send()` does (one global `packet_num`,
 * round robin to the first free channel, one SYNC per channel at each sync point) and posts each
 * packet's page range; the Worker packs and writes it on the socket lent to it, and says when it
 * is written. Up to 32 packets wait per channel, posted 16 at a time: a message per packet
 * cost more than packing it. A run of pages ({@linkcode ThreadedSender.sendRun}, the bulk of the
 * RAM) posts no message per packet at all: every Worker claims the run's next packet number from
 * a shared counter once it is free, which is the first free channel without this thread waking
 * for each packet. The bytes on the wire are those of {@linkcode MultifdSender}.
 *
 * @module
 */

import { nativeTcpServes } from "../net/native_tcp.ts";
import { WireError, wireErrorFromData } from "../wire/errors.ts";
import type { Endpoint } from "../implementation.ts";
import type { FromChannel, PacketMessage } from "./src_channel_messages.ts";
import type { ChannelThread, ChannelThreads } from "./src_channel_threads.ts";
import type { SourceConnection } from "./src_connection.ts";
import { type PacketSender, PROGRESS_EVERY, SendCounts } from "./src_multifd.ts";
import { PAGES_PER_PACKET } from "./src_packer.ts";
import type { SourceScript } from "./source_options.ts";

/** Packets handed to a channel and not yet written, at most. */
const OUTSTANDING_PER_CHANNEL = 32;
/** Packets posted to a Worker in one message once that many wait for it. */
const BATCH_SIZE = 16;
/** Beyond the write bound, how long disposal waits for a Worker to return from its call. */
const STOP_GRACE_MS = 1_000;

/**
 * Whether a source with these settings runs its multifd channels on Workers: plain TCP over
 * native sockets to an IPv4 address, and no per-packet script hook (those run JavaScript for
 * each packet and keep the main-thread path).
 *
 * @example
 * ```ts
 * import { useChannelThreads } from "./src_threaded_sender.ts";
 * const endpoint = { hostname: "127.0.0.1", port: 4444 };
 * console.log(useChannelThreads({ connect: endpoint, tls: { dir: "pki" } })); // false
 * ```
 */
export function useChannelThreads(options: {
  readonly connect: Endpoint;
  readonly tls?: unknown;
  readonly script?: SourceScript;
}): boolean {
  const script = options.script ?? {};
  return options.tls === undefined && script.mutatePacket === undefined &&
    !script.mutations?.length && nativeTcpServes(options.connect.hostname);
}

/** Options of a {@linkcode ThreadedSender}. */
export interface ThreadedSenderOptions {
  /** Sync packets as QEMU 9.2+ (zeroed) rather than with stale fields. */
  readonly pureSyncPackets: boolean;
  readonly signal?: AbortSignal;
  /** Bound of each write without progress, in the Workers. */
  readonly timeoutMs: number;
}

/** A multifd channel and the Worker that writes it. */
class Lane {
  readonly connection: SourceConnection;
  readonly thread: ChannelThread;
  /**
   * Packets and SYNCs given to the channel and not yet written, the queued ones included; a run
   * counts once until the Worker has finished its share.
   */
  outstanding = 0;
  /** Packets given to the channel and not yet posted to its Worker. */
  queued: PacketMessage[] = [];
  lent = false;

  constructor(connection: SourceConnection, thread: ChannelThread) {
    this.connection = connection;
    this.thread = thread;
  }
}

/**
 * Sends packets over multifd channels each written by its own Worker.
 *
 * @example
 * ```ts ignore
 * import { ThreadedSender } from "./src_threaded_sender.ts";
 * await using sender = await ThreadedSender.start(lanes, threads, { pureSyncPackets: true, timeoutMs: 30_000 });
 * await sender.sendRun(0, 1024);
 * await sender.sync();
 * ```
 */
export class ThreadedSender implements PacketSender {
  readonly #lanes: Lane[];
  readonly #threads: ChannelThreads;
  readonly #options: ThreadedSenderOptions;
  #next = 0;
  /** Packets numbered, bytes and pages written. */
  readonly counts: SendCounts = new SendCounts();
  #error: WireError | null = null;
  #wake: (() => void) | null = null;
  readonly #onAbort = (): void => this.#fail(this.#abortError());
  #disposed = false;
  /** The latest run's pages written and when to report them next. */
  #run: { pages: number; next: number; onProgress?: (pages: number) => void } | null = null;

  private constructor(
    channels: readonly { readonly connection: SourceConnection }[],
    threads: ChannelThreads,
    options: ThreadedSenderOptions,
  ) {
    this.#lanes = channels.map((c, i) => new Lane(c.connection, threads.threads[i]));
    this.#threads = threads;
    this.#options = options;
  }

  /**
   * Lends each channel's socket to its Worker (channel `i` to thread `i`) once the Workers are
   * up. On failure everything is given back.
   */
  static async start(
    channels: readonly { readonly connection: SourceConnection }[],
    threads: ChannelThreads,
    options: ThreadedSenderOptions,
  ): Promise<ThreadedSender> {
    if (channels.length === 0) throw new RangeError("no multifd channel to send packets on");
    if (channels.length > threads.threads.length) {
      throw new RangeError(`${channels.length} channels but ${threads.threads.length} threads`);
    }
    const sender = new ThreadedSender(channels, threads, options);
    try {
      await sender.#attach();
      return sender;
    } catch (error) {
      await sender[Symbol.asyncDispose]();
      throw error;
    }
  }

  /** Sends the first `count` of `pages` as normal pages in one packet (layout `v7.2`). */
  async sendPages(pages: Int32Array, count: number): Promise<void> {
    const lane = this.#tryAcquire() ?? await this.#acquire();
    this.#queue(lane, {
      packetNum: this.counts.packets++,
      first: 0,
      count,
      pages: pages.slice(0, count),
    });
  }

  /**
   * Sends pages `first..end-1` in packets of 128 consecutive pages, numbered in page order: every
   * channel's Worker claims the next packet once it is free, so no message travels per packet.
   */
  sendRun(first: number, end: number, onProgress?: (pages: number) => void): Promise<void> {
    this.#throwIfFailed();
    const packets = Math.ceil(Math.max(0, end - first) / PAGES_PER_PACKET);
    if (packets === 0) return Promise.resolve();
    this.#postQueued();
    const claim = new Int32Array(new SharedArrayBuffer(4));
    const packetNumBase = this.counts.packets;
    this.counts.packets += packets;
    this.#run = { pages: 0, next: PROGRESS_EVERY * PAGES_PER_PACKET, onProgress };
    for (const lane of this.#lanes) {
      lane.outstanding++;
      lane.thread.post({ type: "run", first, end, packetNumBase, claim });
    }
    return Promise.resolve();
  }

  /** Sends one SYNC packet per channel and resolves once all of them have been written. */
  async sync(): Promise<void> {
    this.#postQueued();
    for (const lane of this.#lanes) {
      while (lane.outstanding >= OUTSTANDING_PER_CHANNEL) {
        this.#throwIfFailed();
        await this.#waitForReply();
      }
      this.#throwIfFailed();
      lane.outstanding++;
      lane.thread.post({
        type: "sync",
        packetNum: this.counts.packets++,
        pure: this.#options.pureSyncPackets,
      });
    }
    await this.flush();
  }

  /** Resolves once every packet handed over has been written. */
  async flush(): Promise<void> {
    this.#postQueued();
    while (!this.#error && this.#lanes.some((lane) => lane.outstanding > 0)) {
      await this.#waitForReply();
    }
    this.#throwIfFailed();
  }

  /**
   * Gives the sockets back. With packets still outstanding (an abort or a failure) it first
   * raises the abort flag and closes the channels, which wakes the Workers' blocking calls, waits
   * for them to return, within the write bound, and ends the Workers. Idle Workers are left to
   * the threads' owner: ending an isolate frees its heap, tens of milliseconds of unmapping that
   * would fall in the transfer's last packets, which the destination is still reading.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#options.signal?.removeEventListener("abort", this.#onAbort);
    for (const lane of this.#lanes) {
      // Never posted: dropped with the transfer.
      lane.outstanding -= lane.queued.length;
      lane.queued = [];
    }
    const busy = this.#lanes.filter((lane) => lane.outstanding > 0);
    if (busy.length > 0) {
      this.#threads.raiseAbort();
      await Promise.all(busy.map((lane) => lane.connection[Symbol.asyncDispose]()));
      const deadline = performance.now() + this.#options.timeoutMs + STOP_GRACE_MS;
      while (busy.some((lane) => lane.outstanding > 0) && performance.now() < deadline) {
        await this.#waitForReply(deadline - performance.now());
      }
      this.#threads[Symbol.dispose]();
    }
    for (const lane of this.#lanes) {
      if (lane.lent) lane.connection.giveBack();
      lane.lent = false;
    }
  }

  async #attach(): Promise<void> {
    for (const lane of this.#lanes) lane.thread.onReply = (reply) => this.#onReply(lane, reply);
    const ready = this.#lanes.map((lane) => lane.thread.ready);
    const signal = this.#options.signal;
    if (signal?.aborted) throw this.#abortError();
    signal?.addEventListener("abort", this.#onAbort, { once: true });
    // Workers started while the channels connected; most are up by now.
    await Promise.race([Promise.all(ready), this.#waitForError()]);
    this.#throwIfFailed();
    for (const lane of this.#lanes) {
      const fd = lane.connection.lend();
      lane.lent = true;
      lane.thread.post({
        type: "attach",
        fd,
        name: lane.connection.name,
        timeoutMs: this.#options.timeoutMs,
      });
    }
  }

  #onReply(lane: Lane, reply: FromChannel): void {
    if (reply.type === "written") {
      lane.outstanding -= reply.answers;
      this.counts.bytes += reply.bytes;
      this.counts.normalPages += reply.normalPages;
      this.counts.zeroPages += reply.zeroPages;
      lane.connection.countWritten(reply.bytes);
      this.#progress(reply.normalPages + reply.zeroPages);
    } else if (reply.type === "error") {
      // The Worker drops what follows a failure: nothing more comes for this channel.
      lane.outstanding = 0;
      lane.queued = [];
      this.#fail(wireErrorFromData(reply.error));
    }
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** Reports a run's progress every {@linkcode PROGRESS_EVERY} packets' worth of pages. */
  #progress(pages: number): void {
    const run = this.#run;
    if (!run || pages === 0) return;
    run.pages += pages;
    if (run.pages < run.next) return;
    run.next += PROGRESS_EVERY * PAGES_PER_PACKET;
    run.onProgress?.(run.pages);
  }

  #tryAcquire(): Lane | null {
    this.#throwIfFailed();
    const count = this.#lanes.length;
    for (let k = 0; k < count; k++) {
      const i = (this.#next + k) % count;
      const lane = this.#lanes[i];
      if (lane.outstanding < OUTSTANDING_PER_CHANNEL) {
        this.#next = (i + 1) % count;
        lane.outstanding++;
        return lane;
      }
    }
    return null;
  }

  async #acquire(): Promise<Lane> {
    for (;;) {
      const lane = this.#tryAcquire();
      if (lane) return lane;
      // Every channel is full: what waits in a queue must go out before a reply can come.
      this.#postQueued();
      await this.#waitForReply();
    }
  }

  /** Queues a packet for its channel's Worker, posting the queue once it is a batch. */
  #queue(lane: Lane, packet: PacketMessage): void {
    lane.queued.push(packet);
    if (lane.queued.length >= BATCH_SIZE) this.#post(lane);
  }

  #postQueued(): void {
    for (const lane of this.#lanes) if (lane.queued.length > 0) this.#post(lane);
  }

  #post(lane: Lane): void {
    const packets = lane.queued;
    lane.queued = [];
    lane.thread.post({ type: "packets", packets });
  }

  /** Resolves at the next reply or failure, or after `ms`. */
  #waitForReply(ms = Infinity): Promise<void> {
    return new Promise((resolve) => {
      const previous = this.#wake;
      const timer = Number.isFinite(ms) ? setTimeout(resolve, Math.max(0, ms)) : undefined;
      this.#wake = () => {
        clearTimeout(timer);
        previous?.();
        resolve();
      };
    });
  }

  async #waitForError(): Promise<void> {
    while (!this.#error) await this.#waitForReply();
  }

  #fail(error: WireError): void {
    this.#error ??= error;
    // The source fails as a whole: stop every channel's calls now.
    this.#threads.raiseAbort();
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  #abortError(): WireError {
    const reason = this.#options.signal?.reason;
    const why = reason instanceof Error ? reason.message : String(reason ?? "aborted");
    return new WireError(
      "E_TIMEOUT",
      `aborted while waiting for packet to the multifd channels: ${why}`,
      {
        field: "packet",
        cause: reason,
      },
    );
  }

  #throwIfFailed(): void {
    if (this.#error) throw this.#error;
  }
}
