/**
 * A multifd channel of the source on a thread of its own, as QEMU's `multifd_send_thread`: it
 * packs each packet's header from the RAM shared with the main thread, with the zero-page
 * detection of {@linkcode PagePacker}, and writes header and payload with one blocking `sendmsg`
 * on the socket the main thread lent it, the payload straight from the RAM. The main thread
 * numbers the packets and picks the channel; this thread reports each packet once written. Before
 * its channel it warms the packer and its write path up on the RAM (`src_warm_up.ts`).
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
import type { FromChannel, PacketMessage, ToChannel } from "./src_channel_messages.ts";
import { PacketBuffer, PagePacker, type StaleFields } from "./src_packer.ts";
import { warmUpPacker, warmUpWrites } from "./src_warm_up.ts";

let packer: PagePacker | undefined;
let abort: Int32Array | undefined;
let socket: SyncSocket | undefined;
const header = new PacketBuffer(0);
const stale: StaleFields = { ramBlock: "", nextPacketSize: 0 };
let failed = false;

function post(message: FromChannel): void {
  self.postMessage(message);
}

/** Packs and writes one packet to `target`; returns its bytes on the wire. */
function writePacket(target: SyncSocket, message: PacketMessage): number {
  const pages = message.pages ??
    packer!.packRangeHeader(header, message.first, message.count, message.packetNum);
  if (message.pages) packer!.packPagesHeader(header, pages, message.count, message.packetNum);
  stale.ramBlock = packer!.ramBlock;
  stale.nextPacketSize = header.normalPages * PAGE_SIZE;
  target.writeAllv([header.header, ...packer!.payloadViews(pages, header.normalPages)], "packet");
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

function handle(message: ToChannel): void {
  switch (message.type) {
    case "start":
      packer = new PagePacker(message.ram, message.layout, message.ramBlock);
      abort = message.abort;
      post({ type: "warmed", packets: warmUp(packer, message.abort, message.warmUpPackets) });
      return;
    case "attach":
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
        bytes += writePacket(socket!, packet);
        normalPages += header.normalPages;
        zeroPages += header.zeroPages;
      }
      post({ type: "written", packets: message.packets.length, bytes, normalPages, zeroPages });
      return;
    }
    case "sync":
      packer!.fillSync(header, message.packetNum, message.pure ? null : stale);
      socket!.writeAll(header.header, "packet");
      post({ type: "written", packets: 1, bytes: header.length, normalPages: 0, zeroPages: 0 });
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

// Opened before `ready`: opening compiles a call stub per symbol, tens of milliseconds that
// would otherwise fall inside the transfer.
loadLibc();
post({ type: "ready" });
