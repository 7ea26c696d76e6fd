/**
 * Runs a channel receiver over packets made in memory before any source connects, so that V8 has
 * optimised its loop by the time real packets arrive. A channel Worker of a big migration gets a
 * few hundred packets, all of them in V8's slow tiers: measured in a loop, the receiver costs
 * about 30 µs a packet for the first 500 and 3 µs once optimised. QEMU's receiver is compiled
 * before it runs; this is the closest a JavaScript one gets.
 *
 * @module
 */

import { PAGE_SIZE } from "../ram/pattern.ts";
import { encodePacket, type PacketLayout, pageCount } from "../wire/packet.ts";
import { channelSteps } from "./dst_multifd.ts";
import { RamImage } from "./dst_ram_image.ts";
import type { ObservedConnection } from "./dst_transcript.ts";

/** Warm-up packets at most: enough for V8 to optimise the receiver's loop. */
export const MAX_WARM_UP_PACKETS = 2000;

/** The scratch RAM block the made-up packets fill. */
const BLOCK = { name: "warm-up", length: 1024 * 1024 };

/**
 * How many packets to warm a channel's receiver with: four per packet the channel is expected to
 * carry (the RAM shared out over the channels), at most {@linkcode MAX_WARM_UP_PACKETS}, so a
 * small migration pays next to nothing for it.
 *
 * @example
 * ```ts
 * import { warmUpPackets } from "./dst_warm_up.ts";
 * console.log(warmUpPackets(16, 4), warmUpPackets(1024, 4)); // 32 2000
 * ```
 */
export function warmUpPackets(ramMib: number, channels: number): number {
  const packets = Math.ceil((ramMib * 1024 * 1024) / (pageCount(PAGE_SIZE) * PAGE_SIZE));
  return Math.min(MAX_WARM_UP_PACKETS, 4 * Math.ceil(packets / Math.max(1, channels)));
}

/**
 * Feeds `packets` full RAM packets of `layout` through {@linkcode channelSteps} into a scratch
 * RAM image: headers and bodies are read from memory, payload reads are answered without
 * copying. Returns the packets the receiver counted.
 *
 * @throws {WireError} if the receiver rejects a made-up packet (a bug in either).
 * @example
 * ```ts
 * import { warmUpReceiver } from "./dst_warm_up.ts";
 * console.log(warmUpReceiver("v10.0", 3)); // 3
 * ```
 */
export function warmUpReceiver(layout: PacketLayout, packets: number): number {
  const pages = pageCount(PAGE_SIZE);
  const ram = new RamImage(1);
  ram.setBlocks([BLOCK]);
  const packet = encodePacket(layout, {
    normalOffsets: Array.from({ length: pages }, (_, k) => k * PAGE_SIZE),
    ramBlock: BLOCK.name,
    packetNum: 1,
  });
  const observed = {} as ObservedConnection;
  let read = 0;
  let at = 0;
  let left = packets;
  const steps = channelSteps({
    layout,
    ram,
    cleanEnd: "fin",
    relaxedEof: false,
    observed,
    bytesRead: () => read,
    onPacket: () => {},
  });
  for (let next = steps.next(); !next.done;) {
    const step = next.value;
    if (step.kind !== "read") throw new Error(`warm-up: unexpected ${step.kind} step`);
    if (step.what === "packet header") {
      if (left-- === 0) {
        next = steps.next(false);
        continue;
      }
      at = 0;
    }
    if (step.what !== "page payload") {
      step.into.set(packet.subarray(at, at + step.into.length));
      at += step.into.length;
    }
    read += step.into.length;
    next = steps.next(true);
  }
  return observed.packets ?? 0;
}
