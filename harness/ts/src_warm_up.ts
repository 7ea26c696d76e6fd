/**
 * Runs a source channel's packer over its own RAM before any channel connects, so that V8 has
 * optimised zero-page detection, header packing and the payload's views by the time real packets
 * are packed (how many: `warm_up_packets.ts`), then writes small packets through the Worker's own
 * write path into a socket pair. The RAM is only read.
 *
 * @module
 */

import { type Libc, MSG_DONTWAIT } from "../net/libc.ts";
import type { SyncSocket } from "../net/native_sync.ts";
import { PAGE_SIZE } from "../ram/pattern.ts";
import { WireError } from "../wire/errors.ts";
import { PacketBuffer, type PagePacker, PAGES_PER_PACKET } from "./src_packer.ts";
import { openWarmUpSocketPair } from "./warm_up_socket.ts";

/**
 * Packs the headers and payload views of `packets` packets of the RAM, as a channel Worker does
 * for each packet it writes (`packRangeHeader`, or `packPagesHeader` for layout `"v7.2"`), from
 * the RAM's start and round again when it runs out of pages. Returns the packets packed.
 *
 * @throws {RangeError} if a packet's payload views do not cover its normal pages (a packer bug).
 *
 * @example
 * ```ts
 * import { PagePacker } from "./src_packer.ts";
 * import { warmUpPacker } from "./src_warm_up.ts";
 * const packer = new PagePacker(new Uint8Array(1 << 20), "v10.0", "pc.ram");
 * console.log(warmUpPacker(packer, 3)); // 3
 * ```
 */
export function warmUpPacker(packer: PagePacker, packets: number): number {
  const count = Math.min(PAGES_PER_PACKET, packer.pages);
  if (count === 0) return 0;
  const header = new PacketBuffer(0);
  const ranges = Math.floor(packer.pages / count);
  const pages = new Int32Array(count);
  for (let packed = 0; packed < packets; packed++) {
    const first = (packed % ranges) * count;
    let order: Int32Array = pages;
    if (packer.layout === "v7.2") {
      for (let k = 0; k < count; k++) pages[k] = first + k;
      packer.packPagesHeader(header, pages, count, packed);
    } else {
      order = packer.packRangeHeader(header, first, count, packed);
    }
    let covered = 0;
    for (const view of packer.payloadViews(order, header.normalPages)) covered += view.length;
    if (covered !== header.normalPages * PAGE_SIZE) {
      throw new RangeError(
        `warm-up: packet ${packed} has ${header.normalPages} normal pages but views of ${covered} bytes`,
      );
    }
  }
  return packets;
}

/**
 * A channel Worker's packet write: pages `first..first+count-1`, or the first `count` of `pages`
 * (layout `"v7.2"`), numbered `packetNum`, packed and written to `socket`; returns the packet's
 * bytes on the wire.
 */
export type PacketWrite = (
  socket: SyncSocket,
  packetNum: number,
  first: number,
  count: number,
  pages?: Int32Array,
) => number;

/** Pages of a packet the write warm-up writes: a few keep it well inside a socket pair's buffer. */
const WRITE_WARM_UP_PAGES = 2;

/**
 * Writes `packets` small packets of the RAM with `write`, the channel Worker's own packing and
 * `sendmsg` path, into a socket pair and reads each back, so that V8 has optimised the write path
 * too before the first real packet (left to the transfer, it ran unoptimised for most of a 1 GiB
 * migration). Returns the packets written.
 *
 * @throws {WireError} if no socket pair can be made or a packet does not come back whole.
 * @example
 * ```ts ignore
 * import { warmUpWrites } from "./src_warm_up.ts";
 * warmUpWrites(writePacket, packer, abort, 100);
 * ```
 */
export function warmUpWrites(
  write: PacketWrite,
  packer: PagePacker,
  abort: Int32Array,
  packets: number,
): number {
  const count = Math.min(WRITE_WARM_UP_PAGES, packer.pages);
  if (count === 0 || packets === 0) return 0;
  using pair = openWarmUpSocketPair(abort);
  const { lib, socket, peer } = pair;
  const sink = new Uint8Array(64 * 1024);
  const ranges = Math.floor(packer.pages / count);
  let drained = 0;
  for (let written = 0; written < packets; written++) {
    const first = (written % ranges) * count;
    if (packer.layout === "v7.2") write(socket, written, 0, count, pageRange(first, count));
    else write(socket, written, first, count);
    drained += drain(lib, peer, sink, socket.bytesWritten - drained);
  }
  return packets;
}

function pageRange(first: number, count: number): Int32Array {
  return Int32Array.from({ length: count }, (_, k) => first + k);
}

/** Reads `bytes` bytes, already written, from the pair's other end; returns them. */
function drain(lib: Libc, fd: number, sink: Uint8Array, bytes: number): number {
  for (let got = 0; got < bytes;) {
    const n = Number(lib.recv(fd, sink, BigInt(Math.min(sink.length, bytes - got)), MSG_DONTWAIT));
    if (n <= 0) throw new WireError("E_IO", "warm-up: a written packet did not come back whole");
    got += n;
  }
  return bytes;
}
