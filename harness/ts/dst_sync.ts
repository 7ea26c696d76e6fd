/**
 * The multifd sync barrier of a destination, as QEMU's `multifd_recv_sync_main()` and the
 * `MULTIFD_FLAG_SYNC` handling of `multifd_recv_thread()` build it: at every sync point of the main
 * stream (`RAM_SAVE_FLAG_MULTIFD_FLUSH`, or `RAM_SAVE_FLAG_EOS` for sources that flush after each
 * section) the main stream waits for exactly one SYNC packet on every channel; a channel that has
 * received its SYNC packet stops reading until the main stream has reached the sync point.
 *
 * Unlike QEMU, a channel that ends before sending its SYNC packet fails the wait instead of
 * hanging it.
 *
 * @module
 */

import { WireError } from "../wire/errors.ts";

interface ChannelSyncState {
  /** A SYNC packet arrived and the channel waits for the main stream. */
  waiting: boolean;
  release?: () => void;
  reject?: (error: WireError) => void;
  ended: boolean;
}

/**
 * Pairs SYNC packets on the channels with sync points on the main stream.
 *
 * @example
 * ```ts
 * import { SyncBarrier } from "./dst_sync.ts";
 * const barrier = new SyncBarrier(2);
 * const channels = [0, 1].map((id) => barrier.channelSynced(id));
 * await barrier.syncMain();
 * await Promise.all(channels);
 * console.log(barrier.syncPoints); // 1
 * ```
 */
export class SyncBarrier {
  readonly #channels: ChannelSyncState[];
  #wake: (() => void) | null = null;
  #failure: WireError | null = null;
  #lastProgress = performance.now();
  /** Sync points the main stream has passed. */
  syncPoints = 0;

  constructor(channels: number) {
    this.#channels = Array.from({ length: channels }, () => ({ waiting: false, ended: false }));
  }

  /**
   * Channel side: a SYNC packet arrived on channel `id`. Resolves when the main stream has reached
   * the matching sync point; rejects when `signal` aborts or the barrier fails.
   */
  channelSynced(id: number, signal?: AbortSignal): Promise<void> {
    const state = this.#channels[id];
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(abortError(signal, `release after SYNC on channel ${id}`));
      if (signal?.aborted) return onAbort();
      signal?.addEventListener("abort", onAbort, { once: true });
      state.waiting = true;
      state.release = () => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      };
      state.reject = (error) => {
        signal?.removeEventListener("abort", onAbort);
        reject(error);
      };
      this.#wake?.();
    });
  }

  /** Channel side: channel `id` ended; a sync point still waiting for it fails. */
  channelEnded(id: number): void {
    const state = this.#channels[id];
    if (!state) return;
    state.ended = true;
    this.#wake?.();
  }

  /** Channel side: data arrived; keeps a waiting main stream from timing out. */
  touch(): void {
    this.#lastProgress = performance.now();
  }

  /**
   * Main side: waits for one SYNC packet on every channel, then lets every channel go on. The wait
   * fails when no channel has made progress for `stallMs`.
   *
   * @throws {WireError} `E_TRUNCATED` when a channel ended without its SYNC packet, `E_TIMEOUT`
   * when `signal` aborts or the channels stall.
   */
  async syncMain(signal?: AbortSignal, stallMs = Infinity): Promise<void> {
    this.touch();
    for (;;) {
      if (this.#failure) throw this.#failure;
      const ended = this.#channels.findIndex((c) => !c.waiting && c.ended);
      if (ended >= 0) {
        throw new WireError(
          "E_TRUNCATED",
          `multifd channel ${ended} ended before its SYNC packet for sync point ${
            this.syncPoints + 1
          }`,
          { field: `channel[${ended}].sync`, expected: "one SYNC packet per sync point" },
        );
      }
      if (this.#channels.every((c) => c.waiting)) break;
      const idle = performance.now() - this.#lastProgress;
      if (idle >= stallMs) {
        const missing = this.#channels.flatMap((c, i) => c.waiting ? [] : [i]);
        throw new WireError(
          "E_TIMEOUT",
          `no multifd progress for ${Math.round(idle)} ms while waiting for SYNC packets`,
          {
            field: `sync point ${this.syncPoints + 1}`,
            received: `no SYNC yet on channel(s) ${missing.join(", ")}`,
            expected: `within ${stallMs} ms`,
          },
        );
      }
      await new Promise<void>((resolve, reject) => {
        const timer = Number.isFinite(stallMs)
          ? setTimeout(() => done(), Math.max(10, Math.min(1000, stallMs - idle)))
          : undefined;
        const onAbort = () => {
          clearTimeout(timer);
          this.#wake = null;
          reject(abortError(signal, `SYNC packets on every channel`));
        };
        const done = () => {
          clearTimeout(timer);
          this.#wake = null;
          signal?.removeEventListener("abort", onAbort);
          resolve();
        };
        if (signal?.aborted) return onAbort();
        signal?.addEventListener("abort", onAbort, { once: true });
        this.#wake = done;
      });
    }
    this.syncPoints++;
    for (const state of this.#channels) {
      state.waiting = false;
      const release = state.release;
      state.release = undefined;
      state.reject = undefined;
      release?.();
    }
  }

  /** Channels that have sent their SYNC packet for the coming sync point. */
  get waitingChannels(): number {
    return this.#channels.filter((c) => c.waiting).length;
  }

  /** Fails every present and future wait with `error`. */
  fail(error: WireError): void {
    this.#failure ??= error;
    this.#wake?.();
    for (const state of this.#channels) {
      const reject = state.reject;
      state.release = state.reject = undefined;
      reject?.(this.#failure);
    }
  }
}

function abortError(signal: AbortSignal | undefined, what: string): WireError {
  const reason = signal?.reason;
  if (reason instanceof WireError) return reason;
  const why = reason instanceof Error ? reason.message : String(reason ?? "aborted");
  return new WireError("E_TIMEOUT", `aborted while waiting for ${what}: ${why}`, {
    field: what,
    cause: reason,
  });
}
