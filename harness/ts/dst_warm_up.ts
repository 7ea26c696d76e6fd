/**
 * Runs a channel Worker's whole read path over packets made in memory before any source
 * connects, so that V8 has optimised it by the time real packets arrive (how many:
 * `warm_up_packets.ts`). QEMU's receiver is compiled before it runs; this is the closest a
 * JavaScript one gets. The packets go through a socket pair and are read back by the same
 * `ChannelInput`, `SyncSocket` and driver loop as a channel: a warm-up that skipped them left
 * those in V8's baseline tier for most of a 1 GiB transfer.
 *
 * @module
 */

import { MSG_DONTWAIT, MSG_NOSIGNAL, SHUT_WR } from "../net/libc.ts";
import { PAGE_SIZE } from "../ram/pattern.ts";
import { WireError } from "../wire/errors.ts";
import { MULTIFD_FLAG_NOCOMP, MULTIFD_FLAG_SYNC } from "../wire/flags.ts";
import {
  decodePacket,
  decodePacketHdr,
  encodePacket,
  type PacketLayout,
  pageCount,
  validatePacket,
  validatePacketHdr,
} from "../wire/packet.ts";
import { blockingChannelCore, channelWaits, driveChannel } from "./dst_channel_drive.ts";
import { ChannelInput } from "./dst_channel_input.ts";
import { channelSteps } from "./dst_multifd.ts";
import { RamImage } from "./dst_ram_image.ts";
import type { ObservedConnection } from "./dst_transcript.ts";
import { openWarmUpSocketPair, type WarmUpSocketPair } from "./warm_up_socket.ts";

/** Every this many made-up packets, one is a SYNC packet without pages. */
const SYNC_EVERY = 16;

/**
 * Normal pages of a made-up RAM packet. Its payload is read like a full packet's, straight into
 * RAM with one blocking read; a few pages keep a batch well inside a socket pair's buffer.
 */
const WARM_UP_PAGES = 2;

/** Packets written to a socket pair before it is read back (each pair ends cleanly). */
const PACKETS_PER_PAIR = 6;

/** The scratch RAM block the made-up packets fill. */
const BLOCK = { name: "warm-up", length: 1024 * 1024 };

/**
 * Feeds `packets` RAM packets of `layout` (every 16th a SYNC packet, whose wait is `sync`, by
 * default answered at once) through a channel's receiver, input and driver into a scratch RAM
 * image in shared memory whose blocks the first packet waits for, a few packets per socket pair,
 * each pair ending cleanly, after decoding `decodes` full packets (default `packets`). Returns
 * the packets the receiver counted.
 *
 * @throws {WireError} if the receiver rejects a made-up packet (a bug in either), or a socket
 * pair cannot be made or take a batch.
 * @example
 * ```ts
 * import { warmUpReceiver } from "./dst_warm_up.ts";
 * console.log(await warmUpReceiver("v10.0", 3)); // 3
 * ```
 */
export async function warmUpReceiver(
  layout: PacketLayout,
  packets: number,
  sync: () => Promise<void> = () => Promise.resolve(),
  decodes: number = packets,
): Promise<number> {
  const scratch = new RamImage(1, "shared").bytes;
  const never = new AbortController().signal;
  const full = encodePacket(layout, {
    normalOffsets: Array.from({ length: WARM_UP_PAGES }, (_, k) => k * PAGE_SIZE),
    ramBlock: BLOCK.name,
    packetNum: 1,
  });
  const payload = new Uint8Array(WARM_UP_PAGES * PAGE_SIZE).fill(0x5a);
  // Paths a real channel takes too: code optimised without them is thrown away mid-transfer.
  const syncPacket = encodePacket(layout, { flags: MULTIFD_FLAG_NOCOMP | MULTIFD_FLAG_SYNC });
  decodeFullPackets(layout, decodes, syncPacket);
  let counted = 0;
  const progress = new BigInt64Array(new SharedArrayBuffer(8));
  const abort = new Int32Array(new SharedArrayBuffer(4));
  for (let sent = 0; sent < packets;) {
    const batch: Uint8Array[] = [];
    for (let k = 0; k < PACKETS_PER_PAIR && sent < packets; k++, sent++) {
      if (sent % SYNC_EVERY === SYNC_EVERY - 1) batch.push(syncPacket);
      else batch.push(full, payload);
    }
    using pair = openWarmUpSocketPair(abort);
    fill(pair, batch);
    // Each pair a channel of its own, with the objects a channel has. A shape V8 first meets
    // after optimising throws the optimised code away: the transfer then runs unoptimised.
    // A channel's blocks are often announced only once its first packet waits for them.
    const ram = new RamImage(1, scratch);
    queueMicrotask(() => ram.setBlocks([BLOCK]));
    const input = new ChannelInput(pair.socket, new Uint8Array(0), "warm-up channel");
    const observed = {} as ObservedConnection;
    const core = { layout, ram, cleanEnd: "fin", relaxedEof: false, observed, progress } as const;
    const waits = channelWaits(ram, never, sync);
    await driveChannel(channelSteps(blockingChannelCore(input, core)), input, waits);
    counted += observed.packets ?? 0;
  }
  return counted;
}

/**
 * Decodes and checks `packets` full packets as the receiver does (every 16th a SYNC packet):
 * 128 offsets a packet take the decoder to V8's optimising compiler, where packets of a few pages
 * leave it a tier below.
 */
function decodeFullPackets(layout: PacketLayout, packets: number, syncPacket: Uint8Array): void {
  const count = pageCount(PAGE_SIZE);
  const full = encodePacket(layout, {
    normalOffsets: Array.from({ length: count }, (_, k) => k * PAGE_SIZE),
    ramBlock: BLOCK.name,
    packetNum: 1,
  });
  const offsets = new Float64Array(count);
  const ramBlocks = new Map([[BLOCK.name, BLOCK.length]]);
  for (let i = 0; i < packets; i++) {
    const packet = i % SYNC_EVERY === SYNC_EVERY - 1 ? syncPacket : full;
    if (layout === "v10.0") validatePacketHdr(decodePacketHdr(packet));
    const decoded = decodePacket(layout, packet, 0, PAGE_SIZE, offsets);
    validatePacket(layout, decoded, { ramBlocks, pageSize: PAGE_SIZE });
  }
}

/** Writes `parts` into the pair's far end and ends it, for `pair.socket` to read. */
function fill(pair: WarmUpSocketPair, parts: readonly Uint8Array[]): void {
  const { lib, peer } = pair;
  for (const bytes of parts) {
    const n = Number(lib.send(peer, bytes, BigInt(bytes.length), MSG_DONTWAIT | MSG_NOSIGNAL));
    if (n !== bytes.length) {
      throw new WireError("E_IO", "warm-up: a socket pair took too few bytes", {
        field: "warm-up batch",
        received: n,
        expected: bytes.length,
      });
    }
  }
  lib.shutdown(peer, SHUT_WR);
}
