/**
 * Runs a channel receiver over packets made in memory before any source connects, so that V8 has
 * optimised its loop by the time real packets arrive (how many: `warm_up_packets.ts`). QEMU's
 * receiver is compiled before it runs; this is the closest a JavaScript one gets.
 *
 * @module
 */

import { PAGE_SIZE } from "../ram/pattern.ts";
import { encodePacket, type PacketLayout, pageCount } from "../wire/packet.ts";
import { MULTIFD_FLAG_NOCOMP, MULTIFD_FLAG_SYNC } from "../wire/flags.ts";
import { channelSteps } from "./dst_multifd.ts";
import { RamImage } from "./dst_ram_image.ts";
import type { ObservedConnection } from "./dst_transcript.ts";

/** Every this many made-up packets, one is a SYNC packet without pages. */
const SYNC_EVERY = 16;

/** The scratch RAM block the made-up packets fill. */
const BLOCK = { name: "warm-up", length: 1024 * 1024 };

/**
 * Feeds `packets` RAM packets of `layout` through {@linkcode channelSteps} into a scratch RAM
 * image, full ones and every 16th a SYNC packet, whose wait is answered at once: headers and
 * bodies are read from memory, payload reads are answered without copying. Returns the packets
 * the receiver counted.
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
  const full = encodePacket(layout, {
    normalOffsets: Array.from({ length: pages }, (_, k) => k * PAGE_SIZE),
    ramBlock: BLOCK.name,
    packetNum: 1,
  });
  // Paths a real channel takes too: code optimised without them is thrown away mid-transfer.
  const sync = encodePacket(layout, { flags: MULTIFD_FLAG_NOCOMP | MULTIFD_FLAG_SYNC });
  const observed = {} as ObservedConnection;
  let packet = full;
  let read = 0;
  let at = 0;
  let started = 0;
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
    if (step.kind === "sync") {
      next = steps.next(true);
      continue;
    }
    if (step.kind !== "read") throw new Error(`warm-up: unexpected ${step.kind} step`);
    if (step.what === "packet header") {
      if (started === packets) {
        next = steps.next(false);
        continue;
      }
      packet = started++ % SYNC_EVERY === SYNC_EVERY - 1 ? sync : full;
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
