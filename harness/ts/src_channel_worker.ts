/**
 * A multifd channel of the source on a thread of its own, as QEMU's `multifd_send_thread`: it
 * packs each packet's header from the RAM shared with the main thread, with the zero-page
 * detection of {@linkcode PagePacker}, and writes header and payload with one blocking `sendmsg`
 * on the socket the main thread lent it, the payload straight from the RAM, then yields the CPU
 * as QEMU's thread does waiting for its next packet (`src_channel_pacing.ts`). The bulk of the RAM
 * comes as a run shared by every channel's thread: each claims the run's next packet, with its
 * number, once free (QEMU's first free channel), so no message travels per packet; it tallies
 * what it wrote every {@linkcode TALLY_EVERY} packets and once the run is claimed. Single packets
 * and SYNCs come numbered from the main thread. Before its channel it warms the packer and its
 * write path up on the RAM (`src_warm_up.ts`).
 *
 * Messages: `src_channel_messages.ts`. Run as a module Worker.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { loadLibc } from "../net/libc.ts";
import { SyncSocket } from "../net/native_sync.ts";
import { wireErrorToData } from "../wire/errors.ts";
import { PAGE_SIZE } from "../ram/pattern.ts";
import type { FromChannel, RunMessage, ToChannel } from "./src_channel_messages.ts";
import { PacketBuffer, PagePacker, PAGES_PER_PACKET, type StaleFields } from "./src_packer.ts";
import { warmUpPacker, warmUpWrites } from "./src_warm_up.ts";
import { limitUnsent, yieldAfterPacket } from "./src_channel_pacing.ts";

// Opened before `ready`: opening compiles a call stub per symbol, tens of milliseconds that
// would otherwise fall inside the transfer. A Worker is only started where libc loads.
const libc = loadLibc()!;
let packer: PagePacker | undefined;
let abort: Int32Array | undefined;
let socket: SyncSocket | undefined;
const header = new PacketBuffer(0);
const stale: StaleFields = { ramBlock: "", nextPacketSize: 0 };
let failed = false;
/** A run's packets between two tallies to the main thread: its progress and byte counts. */
const TALLY_EVERY = 64;

function post(message: FromChannel): void {
  self.postMessage(message);
}

/**
 * Packs and writes one packet to `target`: pages `first..first+count-1`, or the first `count` of
 * `pages` (layout `v7.2`). Returns its bytes on the wire.
 */
function writePacket(
  target: SyncSocket,
  packetNum: number,
  first: number,
  count: number,
  pages?: Int32Array,
): number {
  const order = pages ?? packer!.packRangeHeader(header, first, count, packetNum);
  if (pages) packer!.packPagesHeader(header, pages, count, packetNum);
  stale.ramBlock = packer!.ramBlock;
  stale.nextPacketSize = header.normalPages * PAGE_SIZE;
  target.writeAllv([header.header, ...packer!.payloadViews(order, header.normalPages)], "packet");
  yieldAfterPacket(libc);
  return header.length;
}

/** Warms packing and the write path up; returns the packets written. */
function warmUp(warmPacker: PagePacker, stop: Int32Array, packets: number): number {
  warmUpPacker(warmPacker, packets);
  const written = warmUpWrites(writePacket, warmPacker, stop, packets);
  // The warm-up's packets were never the channel's: a SYNC before its first real packet carries
  // no stale fields (QEMU 7.2 repeats the last packet's in a SYNC).
  stale.ramBlock = "";
  stale.nextPacketSize = 0;
  return written;
}

/** Claims and writes a run's packets until every one is claimed, tallying now and then. */
function writeRun(target: SyncSocket, run: RunMessage): void {
  const { claim, first, end, packetNumBase } = run;
  let bytes = 0;
  let normalPages = 0;
  let zeroPages = 0;
  let packets = 0;
  for (;;) {
    const index = Atomics.add(claim, 0, 1);
    const from = first + index * PAGES_PER_PACKET;
    if (from >= end) break;
    const count = Math.min(PAGES_PER_PACKET, end - from);
    bytes += writePacket(target, packetNumBase + index, from, count);
    normalPages += header.normalPages;
    zeroPages += header.zeroPages;
    if (++packets % TALLY_EVERY === 0) {
      post({ type: "written", answers: 0, bytes, normalPages, zeroPages });
      bytes = normalPages = zeroPages = 0;
    }
  }
  post({ type: "written", answers: 1, bytes, normalPages, zeroPages });
}

function handle(message: ToChannel): void {
  switch (message.type) {
    case "start":
      packer = new PagePacker(message.ram, message.layout, message.ramBlock);
      abort = message.abort;
      post({ type: "warmed", packets: warmUp(packer, message.abort, message.warmUpPackets) });
      return;
    case "attach":
      limitUnsent(libc, message.fd);
      socket = new SyncSocket(message.fd, {
        timeoutMs: message.timeoutMs,
        name: message.name,
        abort,
      });
      return;
    case "packets": {
      let bytes = 0;
      let normalPages = 0;
      let zeroPages = 0;
      for (const packet of message.packets) {
        bytes += writePacket(socket!, packet.packetNum, packet.first, packet.count, packet.pages);
        normalPages += header.normalPages;
        zeroPages += header.zeroPages;
      }
      post({ type: "written", answers: message.packets.length, bytes, normalPages, zeroPages });
      return;
    }
    case "run":
      writeRun(socket!, message);
      return;
    case "sync":
      packer!.fillSync(header, message.packetNum, message.pure ? null : stale);
      socket!.writeAll(header.header, "packet");
      post({ type: "written", answers: 1, bytes: header.length, normalPages: 0, zeroPages: 0 });
      return;
  }
}

self.onmessage = (event: MessageEvent<ToChannel>): void => {
  // After a failure the channel is dead: later packets are dropped, the first error stands.
  if (failed) return;
  try {
    handle(event.data);
  } catch (error) {
    failed = true;
    post({ type: "error", error: wireErrorToData(error) });
  }
};

post({ type: "ready" });
