/**
 * The source's channel Workers (`src_channel_worker.ts`), one per multifd channel, started before
 * the channels connect so that their start-up stays out of the transfer. They share the source's
 * RAM (a `SharedArrayBuffer`) and one abort flag.
 *
 * @module
 */

import { Deadline, DEFAULT_TIMEOUT_MS, type WaitOptions } from "../net/wait.ts";
import { wireErrorFromData } from "../wire/errors.ts";
import type { PacketLayout } from "../wire/packet.ts";
import type { FromChannel, StartMessage, ToChannel } from "./src_channel_messages.ts";
import { warmUpShortfall } from "./warm_up_packets.ts";

/** One channel Worker. */
export class ChannelThread {
  /** Resolves once the Worker runs (its module loaded); never rejects. */
  readonly ready: Promise<void>;
  readonly #worker: Worker;
  #onReply: (reply: FromChannel) => void = () => {};
  #terminated = false;

  constructor() {
    this.#worker = new Worker(new URL("./src_channel_worker.ts", import.meta.url).href, {
      type: "module",
    });
    const { promise, resolve } = Promise.withResolvers<void>();
    this.ready = promise;
    this.#worker.onmessage = (event: MessageEvent<FromChannel>) => {
      if (event.data.type === "ready") resolve();
      else this.#onReply(event.data);
    };
    this.#worker.onerror = (event: ErrorEvent) => {
      // An uncaught error ends the Worker: report it as the channel's failure.
      event.preventDefault();
      this.#onReply({
        type: "error",
        error: { errorClass: "E_IO", message: `E_IO: channel thread failed: ${event.message}` },
      });
    };
  }

  /** Where the Worker's replies go (`written`, `error`), in order. */
  set onReply(handler: (reply: FromChannel) => void) {
    this.#onReply = handler;
  }

  /** Posts `start`; resolves once the Worker has warmed up on every packet asked for. */
  start(message: StartMessage): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#onReply = (reply) => {
      if (reply.type === "error") reject(wireErrorFromData(reply.error));
      else if (reply.type === "warmed") {
        const shortfall = warmUpShortfall("channel thread", reply.packets, message.warmUpPackets);
        if (shortfall) reject(shortfall);
        else resolve();
      }
    };
    this.post(message);
    return promise;
  }

  /** Posts a message to the Worker. */
  post(message: ToChannel): void {
    if (!this.#terminated) this.#worker.postMessage(message);
  }

  /** Stops the Worker. A blocking call it is in returns first (shut the socket down). */
  terminate(): void {
    if (this.#terminated) return;
    this.#terminated = true;
    this.#worker.terminate();
  }
}

/**
 * The Workers of every multifd channel of one source.
 *
 * @example
 * ```ts ignore
 * import { ChannelThreads } from "./src_channel_threads.ts";
 * const ram = new Uint8Array(new SharedArrayBuffer(1 << 20));
 * using threads = new ChannelThreads(4);
 * await threads.start(ram, "v10.0", "pc.ram", 32, { timeoutMs: 10_000 });
 * ```
 */
export class ChannelThreads implements Disposable {
  /** Non-zero at index 0: every channel's blocking calls stop. */
  readonly abort: Int32Array = new Int32Array(new SharedArrayBuffer(4));
  readonly threads: readonly ChannelThread[];

  /** Starts `count` Workers: their modules load meanwhile (about 100 ms each on a busy core). */
  constructor(count: number) {
    this.threads = Array.from({ length: count }, () => new ChannelThread());
  }

  /**
   * Tells every Worker the RAM to pack from, and waits until each has warmed its packer up on
   * `warmUpPackets` packets of it (`src_warm_up.ts`), so that V8 has optimised it before the first
   * channel connects.
   *
   * @throws {TypeError} when `ram` is not backed by a `SharedArrayBuffer`.
   * @throws {WireError} a Worker's own error, or `E_TIMEOUT` past `wait`'s bound.
   */
  async start(
    ram: Uint8Array,
    layout: PacketLayout,
    ramBlock: string,
    warmUpPackets: number,
    wait: WaitOptions = {},
  ): Promise<void> {
    if (!(ram.buffer instanceof SharedArrayBuffer)) {
      throw new TypeError("channel threads need the RAM in a SharedArrayBuffer");
    }
    const start: StartMessage = {
      type: "start",
      ram,
      layout,
      ramBlock,
      abort: this.abort,
      warmUpPackets,
    };
    const what = `${this.threads.length} channel threads to warm up`;
    const deadline = new Deadline({ ...wait, what }, DEFAULT_TIMEOUT_MS);
    try {
      await deadline.race(Promise.all(this.threads.map((thread) => thread.start(start))));
    } finally {
      deadline.clear();
    }
  }

  /** Whether the abort flag is raised. */
  get aborted(): boolean {
    return Atomics.load(this.abort, 0) !== 0;
  }

  /** Raises the abort flag: a blocking call ends at its next check (a shutdown wakes it). */
  raiseAbort(): void {
    Atomics.store(this.abort, 0, 1);
  }

  /** Raises the abort flag and terminates every Worker. */
  [Symbol.dispose](): void {
    this.raiseAbort();
    for (const thread of this.threads) thread.terminate();
  }
}
