/**
 * A multifd channel received on a Worker of its own (`dst_channel_worker.ts`), so that channels
 * are copied into RAM by several cores at once, as QEMU's recv threads are; the destination's
 * thread keeps the main stream and the sync barrier. Used for plain TCP on native sockets, where
 * a connection's descriptor can be lent to a Worker; the result, the transcript counts and the
 * errors (class and message) are those of {@linkcode receiveMultifdChannel} on the destination's
 * own thread.
 *
 * @module
 */

import { Deadline, type WaitOptions, withTimeout } from "../net/wait.ts";
import { WireError, wireErrorFromData } from "../wire/errors.ts";
import type { PacketLayout } from "../wire/packet.ts";
import type { ChannelLoan } from "./dst_conn.ts";
import type { ChannelEnd, MultifdChannelContext } from "./dst_multifd.ts";
import type { ObservedConnection } from "./dst_transcript.ts";
import type { FromChannelWorker, ToChannelWorker } from "./dst_worker_messages.ts";
import { warmUpShortfall } from "./warm_up_packets.ts";

/** How long a Worker may take to report after it was told to stop. */
const STOP_GRACE_MS = 2_000;

/** How often the destination reads a Worker's progress. */
const PROGRESS_INTERVAL_MS = 50;

const WORKER_URL = new URL("./dst_channel_worker.ts", import.meta.url).href;

/**
 * Channel Workers started ahead of the transfer, as QEMU has its threads before the pages flow: a
 * Worker takes 30–200 ms to load its modules, which would otherwise count as transfer time.
 *
 * @example
 * ```ts ignore
 * using pool = await ChannelWorkerPool.start(4, { timeoutMs: 10_000 });
 * const worker = pool.take();
 * ```
 */
export class ChannelWorkerPool implements Disposable {
  readonly #idle: Worker[];
  readonly #retired: Worker[] = [];

  private constructor(workers: Worker[]) {
    this.#idle = workers;
  }

  /**
   * Starts `count` Workers and waits until each has loaded and, with `warmUp`, run its receiver
   * over that many made-up packets of that layout.
   */
  static async start(
    count: number,
    wait: WaitOptions,
    warmUp?: WarmUp,
  ): Promise<ChannelWorkerPool> {
    const workers = Array.from({ length: count }, () => new Worker(WORKER_URL, { type: "module" }));
    const progress = workers.map(() => ({ stage: "loading", syncs: 0 }));
    const deadline = new Deadline({ ...wait, what: `${count} channel workers to start` }, 10_000);
    try {
      await deadline.race(
        Promise.all(workers.map((worker, i) => started(worker, warmUp, progress[i]))),
      );
    } catch (error) {
      for (const worker of workers) worker.terminate();
      if (error instanceof WireError && error.errorClass === "E_TIMEOUT") {
        // Where each Worker got to: one that never loaded from one stuck in its warm-up.
        const states = progress.map((p, i) => `worker ${i} ${p.stage}, ${p.syncs} SYNC(s)`);
        throw new WireError("E_TIMEOUT", `${count} channel workers did not start in time`, {
          field: error.field,
          received: states.join(", "),
          expected: error.expected,
          cause: error,
        });
      }
      throw error;
    } finally {
      deadline.clear();
    }
    return new ChannelWorkerPool(workers);
  }

  /** A started Worker, or a new one once the pool is used up. */
  take(): Worker {
    return this.#idle.pop() ?? new Worker(WORKER_URL, { type: "module" });
  }

  /**
   * Takes back a Worker whose channel has ended, to end it with the pool: ending an isolate
   * frees its heap, tens of milliseconds of unmapping across four Workers, which would otherwise
   * fall among the last packets of the other channels, as QEMU joins its recv threads only after
   * the migration.
   */
  retire(worker: Worker): void {
    this.#retired.push(worker);
  }

  /** Ends the Workers never taken and those retired. */
  [Symbol.dispose](): void {
    for (const worker of [...this.#idle.splice(0), ...this.#retired.splice(0)]) {
      worker.terminate();
    }
  }
}

/** What a pool's Workers warm their receiver with before they are used (`dst_warm_up.ts`). */
export interface WarmUp {
  readonly layout: PacketLayout;
  readonly packets: number;
  /**
   * Full packets each Worker decodes apart from the read path (`packets` when absent): every
   * Worker's V8 compiles its own decoder, whatever share of the packets its channel carries.
   */
  readonly decodes?: number;
}

/** How far a starting Worker got, for the error when it does not start in time. */
interface StartProgress {
  stage: string;
  syncs: number;
}

function started(
  worker: Worker,
  warmUp: WarmUp | undefined,
  progress: StartProgress,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<FromChannelWorker>) => {
      const message = event.data;
      if (message.type === "synced") {
        // A warm-up SYNC packet waits as a channel's does; nothing holds it here.
        progress.syncs++;
        worker.postMessage({ type: "released" } satisfies ToChannelWorker);
      } else if (message.type === "ready" && warmUp && warmUp.packets > 0) {
        progress.stage = "warming up";
        worker.postMessage({ type: "warm-up", ...warmUp } satisfies ToChannelWorker);
      } else if (message.type === "ready") {
        progress.stage = "ready";
        resolve();
      } else if (message.type === "warmed") {
        progress.stage = "warmed";
        const shortfall = warmUpShortfall("channel worker", message.packets, warmUp?.packets ?? 0);
        if (shortfall) reject(shortfall);
        else resolve();
      } else if (message.type === "warm-up-failed") {
        reject(wireErrorFromData(message.error));
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new WireError("E_IO", `channel worker failed to start: ${event.message}`));
    };
  });
}

/** What the Worker did. */
export interface WorkerChannelResult {
  readonly end: ChannelEnd;
  /** Bytes the Worker read, the lent leftover included. */
  readonly bytes: number;
}

/** Options beyond the channel's context. */
export interface WorkerChannelOptions {
  /** The lent descriptor and the bytes already received. */
  readonly loan: ChannelLoan;
  /** Closes the connection: shuts the socket down, which wakes the Worker's blocking call. */
  readonly close: () => void;
  /** Name in errors, e.g. `connection from 127.0.0.1:40000`. */
  readonly name: string;
  /** The Worker to use (from a {@linkcode ChannelWorkerPool}); a new one when absent. */
  readonly worker?: Worker;
  /** Told the bytes the Worker read once it reports, whether it succeeded or failed. */
  readonly onBytesRead?: (bytes: number) => void;
  /**
   * Takes the Worker once it has reported, to end it later ({@linkcode ChannelWorkerPool.retire});
   * without it the Worker is ended at once.
   */
  readonly retire?: (worker: Worker) => void;
}

/**
 * Receives one channel on a Worker. Resolves like {@linkcode receiveMultifdChannel} (and with
 * the bytes read); rejects with its `WireError`.
 *
 * @example
 * ```ts ignore
 * const { end } = await receiveMultifdChannelInWorker(ctx, { loan: accepted.lend!(), close, name });
 * ```
 */
export function receiveMultifdChannelInWorker(
  ctx: MultifdChannelContext,
  options: WorkerChannelOptions,
): Promise<WorkerChannelResult> {
  const { loan } = options;
  const abortFlag = new Int32Array(new SharedArrayBuffer(4));
  const progress = new BigInt64Array(new SharedArrayBuffer(8));
  let counted = 0;
  // The Worker's bytes since the last look: they keep a waiting main stream alive.
  const takeProgress = () => {
    const read = Number(Atomics.load(progress, 0));
    if (read === counted) return;
    ctx.barrier.touch();
    ctx.onBytes?.(read - counted);
    counted = read;
  };
  const worker = options.worker ?? new Worker(WORKER_URL, { type: "module" });
  const result = Promise.withResolvers<WorkerChannelResult>();
  const reported = Promise.withResolvers<void>();
  let bytes = 0;
  let hasReported = false;
  // Its channel's run returned: no call of the Worker's uses the descriptor any more.
  let leftChannel = false;
  const settle = (bytesRead: number) => {
    bytes = bytesRead;
    options.onBytesRead?.(bytesRead);
    hasReported = true;
    leftChannel = true;
    reported.resolve();
  };
  const post = (message: ToChannelWorker) => worker.postMessage(message);
  const stop = () => {
    Atomics.store(abortFlag, 0, 1);
    post({ type: "abort", reason: `receive of multifd channel ${ctx.id} stopped` });
    options.close();
  };
  const onAbort = () => {
    stop();
    result.reject(
      ctx.signal.reason instanceof WireError
        ? ctx.signal.reason
        : new WireError("E_TIMEOUT", `multifd channel ${ctx.id} aborted`, {
          field: `multifd channel ${ctx.id}`,
        }),
    );
  };
  const merge = (observed: ObservedConnection) => {
    const target = ctx.observed as unknown as Record<string, unknown>;
    for (const [key, value] of Object.entries(observed)) target[key] = value;
  };
  worker.onmessage = (event: MessageEvent<FromChannelWorker>) => {
    const message = event.data;
    switch (message.type) {
      case "synced":
        takeProgress();
        ctx.barrier.channelSynced(ctx.id, ctx.signal).then(
          () => post({ type: "released" }),
          () => {}, // The destination fails on its own; the abort stops the Worker.
        );
        break;
      case "done":
        takeProgress();
        merge(message.observed);
        settle(message.bytesRead);
        result.resolve({ end: message.end, bytes });
        break;
      case "failed":
        takeProgress();
        merge(message.observed);
        settle(message.bytesRead);
        result.reject(wireErrorFromData(message.error));
        break;
    }
  };
  worker.onerror = (event) => {
    event.preventDefault();
    hasReported = true;
    reported.resolve();
    result.reject(new WireError("E_IO", `multifd channel ${ctx.id} worker: ${event.message}`));
  };
  if (ctx.signal.aborted) onAbort();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  if (ctx.ram.blocks.length === 0) {
    ctx.ram.whenAnnounced(ctx.signal).then(
      () => post({ type: "blocks", blocks: blockList(ctx) }),
      () => {},
    );
  }
  const memory = ctx.ram.bytes;
  if (!(memory.buffer instanceof SharedArrayBuffer)) {
    throw new TypeError("a channel Worker needs the RAM image in a SharedArrayBuffer");
  }
  const progressTimer = setInterval(takeProgress, PROGRESS_INTERVAL_MS);
  post({
    type: "start",
    fd: loan.fd,
    leftover: loan.leftover,
    id: ctx.id,
    name: options.name,
    layout: ctx.layout,
    ram: memory,
    blocks: ctx.ram.blocks.length > 0 ? blockList(ctx) : null,
    readTimeoutMs: ctx.readTimeoutMs,
    cleanEnd: ctx.cleanEnd,
    relaxedEof: ctx.relaxedEof,
    abort: abortFlag.buffer as SharedArrayBuffer,
    progress: progress.buffer as SharedArrayBuffer,
  });
  return result.promise.finally(async () => {
    clearInterval(progressTimer);
    ctx.signal.removeEventListener("abort", onAbort);
    if (!hasReported) {
      stop();
      const what = `multifd channel ${ctx.id} worker to stop`;
      await withTimeout(reported.promise, { timeoutMs: STOP_GRACE_MS, what }).catch(() => {});
    }
    if (leftChannel && options.retire) options.retire(worker);
    else worker.terminate();
    // Only now can no call of the Worker's be using the descriptor.
    loan.giveBack();
  });
}

function blockList(ctx: MultifdChannelContext): { name: string; length: number }[] {
  return ctx.ram.blocks.map((b) => ({ name: b.name, length: b.length }));
}
