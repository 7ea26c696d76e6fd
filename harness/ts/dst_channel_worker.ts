/**
 * Worker entry: receives one multifd channel on a descriptor lent by the destination, with the
 * same receiver as the destination's own thread (`receiveMultifdChannel`), reading with blocking
 * calls straight into the shared RAM image. A SYNC packet waits for the destination's word that
 * the main stream reached its sync point, as QEMU's recv thread waits on `sem_sync`. Before its
 * channel it may be told to warm the receiver up on made-up packets (`dst_warm_up.ts`).
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { loadLibc } from "../net/libc.ts";
import { SyncSocket } from "../net/native_sync.ts";
import { WireError, wireErrorToData } from "../wire/errors.ts";
import { blockingChannelCore, channelWaits, driveChannel } from "./dst_channel_drive.ts";
import { ChannelInput } from "./dst_channel_input.ts";
import { channelSteps } from "./dst_multifd.ts";
import { RamImage } from "./dst_ram_image.ts";
import type { ObservedConnection } from "./dst_transcript.ts";
import { warmUpReceiver } from "./dst_warm_up.ts";
import type { FromChannelWorker, ToChannelWorker } from "./dst_worker_messages.ts";

type Start = Extract<ToChannelWorker, { type: "start" }>;

const abort = new AbortController();
let ram: RamImage | null = null;
let pendingBlocks: Extract<ToChannelWorker, { type: "blocks" }> | null = null;
let release: (() => void) | null = null;

function post(message: FromChannelWorker): void {
  self.postMessage(message);
}

self.onmessage = (event: MessageEvent<ToChannelWorker>) => {
  const message = event.data;
  switch (message.type) {
    case "start":
      void run(message);
      break;
    case "warm-up":
      warmUpReceiver(message.layout, message.packets, syncWithDestination, message.decodes).then(
        (packets) => post({ type: "warmed", packets }),
        (error) => post({ type: "warm-up-failed", error: wireErrorToData(error) }),
      );
      break;
    case "blocks":
      if (ram) ram.setBlocks(message.blocks);
      else pendingBlocks = message;
      break;
    case "released":
      release?.();
      release = null;
      break;
    case "abort":
      abort.abort(new WireError("E_TIMEOUT", message.reason));
      break;
  }
};

// Opened before `ready`: opening compiles a call stub per symbol, tens of milliseconds that
// would otherwise fall inside the transfer.
loadLibc();
post({ type: "ready" });

/**
 * After a SYNC packet: tells the destination and waits until it lets the channel go on. The
 * warm-up waits here too (the pool answers at once), so the transfer's first SYNC, which QEMU
 * sends right after setup, meets optimised code that has seen this call.
 */
function syncWithDestination(): Promise<void> {
  post({ type: "synced" });
  return waitForRelease();
}

function waitForRelease(): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (abort.signal.aborted) return reject(abort.signal.reason);
    release = resolve;
    abort.signal.addEventListener("abort", () => reject(abort.signal.reason), { once: true });
  });
}

async function run(start: Start): Promise<void> {
  const observed: ObservedConnection = {} as ObservedConnection;
  let input: ChannelInput | null = null;
  try {
    const image = new RamImage(start.ram.byteLength / (1024 * 1024), start.ram);
    const blocks = start.blocks ?? pendingBlocks?.blocks;
    if (blocks) image.setBlocks(blocks);
    ram = image;
    const socket = new SyncSocket(start.fd, {
      timeoutMs: start.readTimeoutMs,
      name: start.name,
      abort: new Int32Array(start.abort),
    });
    const channel = new ChannelInput(socket, start.leftover, start.name);
    input = channel;
    const steps = channelSteps(blockingChannelCore(channel, {
      layout: start.layout,
      ram: image,
      cleanEnd: start.cleanEnd,
      relaxedEof: start.relaxedEof,
      observed,
      progress: new BigInt64Array(start.progress),
    }));
    const end = await driveChannel(
      steps,
      channel,
      channelWaits(image, abort.signal, syncWithDestination),
    );
    post({ type: "done", end, observed, bytesRead: channel.bytesRead });
  } catch (error) {
    post({
      type: "failed",
      error: wireErrorToData(error),
      observed,
      bytesRead: input?.bytesRead ?? 0,
    });
  }
}
