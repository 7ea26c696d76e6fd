/**
 * Runs a source channel's packer over its own RAM before any channel connects, so that V8 has
 * optimised zero-page detection, header packing and the payload's views by the time real packets
 * are packed (how many: `warm_up_packets.ts`). Nothing is written and the RAM is only read.
 *
 * @module
 */

import { PAGE_SIZE } from "../ram/pattern.ts";
import { PacketBuffer, type PagePacker, PAGES_PER_PACKET } from "./src_packer.ts";

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
