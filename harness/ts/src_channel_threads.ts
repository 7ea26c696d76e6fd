/**
 * The source's channel Workers (`src_channel_worker.ts`), one per multifd channel, started before
 * the channels connect so that their start-up stays out of the transfer. They share the source's
 * RAM (a `SharedArrayBuffer`) and one abort flag.
 *
 * @module
 */

import type { PacketLayout } from "../wire/packet.ts";
import type { FromChannel, ToChannel } from "./src_channel_messages.ts";

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
 * threads.start(ram, "v10.0", "pc.ram");
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
   * Tells every Worker the RAM to pack from.
   *
   * @throws {TypeError} when `ram` is not backed by a `SharedArrayBuffer`.
   */
  start(ram: Uint8Array, layout: PacketLayout, ramBlock: string): void {
    if (!(ram.buffer instanceof SharedArrayBuffer)) {
      throw new TypeError("channel threads need the RAM in a SharedArrayBuffer");
    }
    const start: ToChannel = { type: "start", ram, layout, ramBlock, abort: this.abort };
    for (const thread of this.threads) thread.post(start);
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
