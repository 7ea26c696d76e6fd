/**
 * A channel received with blocking reads, as a channel Worker receives it: the receiver's core
 * over a `ChannelInput` and the loop that answers its steps (`channelSteps`). One core and one
 * loop for the Worker's channel and for its warm-up, so the code V8 optimises before the
 * transfer is the code the transfer runs, down to the closures it calls.
 *
 * @module
 */

import type { ChannelInput } from "./dst_channel_input.ts";
import type { ChannelCore, ChannelEnd, ChannelStep } from "./dst_multifd.ts";
import type { RamImage } from "./dst_ram_image.ts";
import type { ObservedConnection } from "./dst_transcript.ts";
import type { PacketLayout } from "../wire/packet.ts";

/** What a blocking channel's core is made of, besides its input. */
export interface BlockingChannelOptions {
  readonly layout: PacketLayout;
  readonly ram: RamImage;
  readonly cleanEnd: "fin" | "close_notify";
  readonly relaxedEof: boolean;
  readonly observed: ObservedConnection;
  /**
   * Index 0 is set to the bytes read after every packet: the destination polls it for progress,
   * where a message per packet would cost the channel's thread dearly.
   */
  readonly progress: BigInt64Array;
}

/**
 * The receiver's core for a channel read through `input`.
 *
 * @example
 * ```ts ignore
 * import { blockingChannelCore } from "./dst_channel_drive.ts";
 * const core = blockingChannelCore(input, { layout: "v10.0", ram, cleanEnd: "fin", ... });
 * ```
 */
export function blockingChannelCore(
  input: ChannelInput,
  options: BlockingChannelOptions,
): ChannelCore {
  const { progress } = options;
  return {
    layout: options.layout,
    ram: options.ram,
    cleanEnd: options.cleanEnd,
    relaxedEof: options.relaxedEof,
    observed: options.observed,
    bytesRead: () => input.bytesRead,
    onPacket: () => void Atomics.store(progress, 0, BigInt(input.bytesRead)),
  };
}

/** What the driver does for a receiver's waits. */
export interface ChannelWaits {
  /** Resolves once the main stream has announced the RAM blocks. */
  blocks(): Promise<void>;
  /** Resolves once the destination releases the channel after a SYNC packet. */
  sync(): Promise<void>;
}

/**
 * The waits of a channel whose RAM image is `image`: the blocks wait ends once the image's block
 * list is set (or `signal` aborts), the sync wait is `sync`.
 *
 * @example
 * ```ts ignore
 * import { channelWaits } from "./dst_channel_drive.ts";
 * const waits = channelWaits(image, signal, () => release.promise);
 * ```
 */
export function channelWaits(
  image: RamImage,
  signal: AbortSignal,
  sync: () => Promise<void>,
): ChannelWaits {
  return { blocks: () => image.whenAnnounced(signal), sync };
}

/**
 * Runs `steps` to their end: reads block this thread, as QEMU's recv thread blocks; only the
 * waits yield. A failed read or wait is thrown into the receiver, which decides.
 *
 * @throws {WireError} what the receiver throws.
 * @example
 * ```ts ignore
 * import { driveChannel } from "./dst_channel_drive.ts";
 * const end = await driveChannel(channelSteps(core), input, { blocks, sync });
 * ```
 */
export async function driveChannel(
  steps: Generator<ChannelStep, ChannelEnd, boolean>,
  input: ChannelInput,
  waits: ChannelWaits,
): Promise<ChannelEnd> {
  let next = steps.next();
  while (!next.done) {
    const step = next.value;
    let answer = true;
    try {
      if (step.kind === "read") {
        answer = input.read(step.into, step.what, step.endOk, step.readAhead);
      } else if (step.kind === "blocks") await waits.blocks();
      else await waits.sync();
    } catch (error) {
      next = steps.throw(error);
      continue;
    }
    next = steps.next(answer);
  }
  return next.value;
}
