/**
 * Packs guest pages into multifd RAM packets in place: header, `offset[]` and page payload in one
 * reusable buffer per packet, so a packet goes out in one write and packing allocates nothing per
 * page. Layouts `"v9.0"`/`"v10.0"` list zero pages in the packet (QEMU's
 * `multifd_send_zero_page_detect`, which moves normal pages left and zero pages right by
 * swapping); layout `"v7.2"` packets hold only normal pages, zero pages go to the main stream.
 *
 * @module
 */

import { writeCString } from "../wire/bytes.ts";
import { MULTIFD_MAGIC, MULTIFD_VERSION } from "../wire/init_packet.ts";
import { MULTIFD_FLAG_NOCOMP, MULTIFD_FLAG_SYNC } from "../wire/flags.ts";
import {
  IDSTR_SIZE,
  type PacketLayout,
  packetLength,
  pageCount,
  RAM_PACKET_FIXED_SIZE,
} from "../wire/packet.ts";
import { PAGE_SIZE } from "../ram/pattern.ts";

/** Pages per packet on x86 (`MULTIFD_PACKET_SIZE / 4096`). */
export const PAGES_PER_PACKET: number = pageCount(PAGE_SIZE);
/** Bytes of a RAM packet header including `offset[]` (1344). */
export const PACKET_HEADER_LENGTH: number = packetLength(PAGE_SIZE);

const OFFSET_ZERO_PAGES = 32;
const OFFSET_RAMBLOCK = 64;
const WORDS_PER_PAGE = PAGE_SIZE >>> 2;
/** Copy runs shorter than this word by word: a view per page would allocate. */
const MIN_RUN_FOR_SET = 2;

/** One packet's buffer: header, `offset[]` and room for a full payload. */
export class PacketBuffer {
  /** Header followed by payload. */
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** The payload as words, for copying single pages without allocating. */
  readonly payloadWords: Int32Array;
  /** Bytes to send: header plus the payload of the normal pages. */
  length = 0;
  normalPages = 0;
  zeroPages = 0;
  sync = false;

  /** `payloadPages`: room for that many pages; 0 for a header-only buffer (payload sent from RAM). */
  constructor(payloadPages: number = PAGES_PER_PACKET) {
    this.bytes = new Uint8Array(PACKET_HEADER_LENGTH + payloadPages * PAGE_SIZE);
    this.view = new DataView(this.bytes.buffer);
    this.payloadWords = new Int32Array(this.bytes.buffer, PACKET_HEADER_LENGTH);
  }

  /** The header part (`offset[]` included). */
  get header(): Uint8Array {
    return this.bytes.subarray(0, PACKET_HEADER_LENGTH);
  }

  /** The payload part that is sent. */
  get payload(): Uint8Array {
    return this.bytes.subarray(PACKET_HEADER_LENGTH, this.length);
  }
}

/** What the sender of the last packet on a channel left in its packet (QEMU < 9.2 reuses it). */
export interface StaleFields {
  ramBlock: string;
  nextPacketSize: number;
}

/**
 * Packs pages of one RAM block into packets of one layout.
 *
 * @example
 * ```ts
 * import { PacketBuffer, PagePacker } from "./src_packer.ts";
 * const ram = new Uint8Array(1 << 20);
 * ram.fill(1, 0, 4096);
 * const packer = new PagePacker(ram, "v10.0", "ram");
 * const packet = new PacketBuffer();
 * packer.packRange(packet, 0, 128, 0);
 * console.log(packet.normalPages, packet.zeroPages); // 1 127
 * ```
 */
export class PagePacker {
  readonly ram: Uint8Array;
  readonly layout: PacketLayout;
  readonly ramBlock: string;
  readonly pages: number;
  readonly #words: Int32Array;
  readonly #order = new Int32Array(PAGES_PER_PACKET);

  constructor(ram: Uint8Array, layout: PacketLayout, ramBlock: string) {
    if (ram.byteLength % PAGE_SIZE !== 0 || ram.byteOffset % 4 !== 0) {
      throw new RangeError(
        `RAM must be whole ${PAGE_SIZE}-byte pages, got ${ram.byteLength} bytes`,
      );
    }
    this.ram = ram;
    this.layout = layout;
    this.ramBlock = ramBlock;
    this.pages = ram.byteLength / PAGE_SIZE;
    this.#words = new Int32Array(ram.buffer, ram.byteOffset, ram.byteLength >>> 2);
  }

  /** Whether page `page` is all zeros (QEMU's `buffer_is_zero`). */
  isZero(page: number): boolean {
    const words = this.#words;
    let at = page * WORDS_PER_PAGE;
    const end = at + WORDS_PER_PAGE;
    for (; at < end; at += 8) {
      if (
        (words[at] | words[at + 1] | words[at + 2] | words[at + 3] | words[at + 4] |
          words[at + 5] | words[at + 6] | words[at + 7]) !== 0
      ) return false;
    }
    return true;
  }

  /**
   * Packs pages `first..first+count-1` (layouts with zero pages): normal pages first in QEMU's
   * swap order, then zero pages; payload holds the normal pages. Returns the buffer.
   */
  packRange(buffer: PacketBuffer, first: number, count: number, packetNum: number): PacketBuffer {
    this.#copyPayload(
      buffer,
      this.packRangeHeader(buffer, first, count, packetNum),
      buffer.normalPages,
    );
    return buffer;
  }

  /**
   * Like {@linkcode PagePacker.packRange}, but fills only the header: returns the pages in packet
   * order (normal ones first; valid until the next call) for {@linkcode PagePacker.payloadViews}.
   */
  packRangeHeader(
    buffer: PacketBuffer,
    first: number,
    count: number,
    packetNum: number,
  ): Int32Array {
    if (this.layout === "v7.2") throw new RangeError('layout "v7.2" packets hold no zero pages');
    if (count < 1 || count > PAGES_PER_PACKET || first + count > this.pages) {
      throw new RangeError(`page range ${first}+${count} outside 0..${this.pages}`);
    }
    const order = this.#order;
    for (let k = 0; k < count; k++) order[k] = first + k;
    let i = 0;
    let j = count - 1;
    while (i <= j) {
      const page = order[i];
      if (!this.isZero(page)) {
        i++;
        continue;
      }
      order[i] = order[j];
      order[j] = page;
      j--;
    }
    this.#finish(buffer, order, i, count - i, packetNum);
    return order;
  }

  /**
   * Packs the given normal pages (layout `"v7.2"`: the caller keeps zero pages for the main
   * stream). `pages` holds page indices; the first `count` are used.
   */
  packPages(
    buffer: PacketBuffer,
    pages: Int32Array,
    count: number,
    packetNum: number,
  ): PacketBuffer {
    this.packPagesHeader(buffer, pages, count, packetNum);
    this.#copyPayload(buffer, pages, count);
    return buffer;
  }

  /** Like {@linkcode PagePacker.packPages}, but fills only the header. */
  packPagesHeader(buffer: PacketBuffer, pages: Int32Array, count: number, packetNum: number): void {
    if (count < 1 || count > PAGES_PER_PACKET) throw new RangeError(`page count ${count}`);
    this.#finish(buffer, pages, count, 0, packetNum);
  }

  /**
   * The payload of a packet as views of the RAM, one per run of consecutive pages among the first
   * `normal` of `pages`: written after the header with one `sendmsg`, nothing is copied.
   */
  payloadViews(pages: Int32Array, normal: number): Uint8Array[] {
    const views: Uint8Array[] = [];
    for (let k = 0; k < normal;) {
      let run = 1;
      while (k + run < normal && pages[k + run] === pages[k] + run) run++;
      const from = pages[k] * PAGE_SIZE;
      views.push(this.ram.subarray(from, from + run * PAGE_SIZE));
      k += run;
    }
    return views;
  }

  /**
   * Fills a SYNC packet. `stale` carries what QEMU before 9.2 leaves in its reused packet
   * (`ramblock`, `next_packet_size`); `null` zeroes them and `pages_alloc` as 9.2+ does.
   */
  fillSync(buffer: PacketBuffer, packetNum: number, stale: StaleFields | null): PacketBuffer {
    const { bytes, view } = buffer;
    bytes.fill(0, 0, PACKET_HEADER_LENGTH);
    view.setUint32(0, MULTIFD_MAGIC);
    view.setUint32(4, MULTIFD_VERSION);
    view.setUint32(8, MULTIFD_FLAG_NOCOMP | MULTIFD_FLAG_SYNC);
    view.setUint32(12, stale ? PAGES_PER_PACKET : 0);
    view.setUint32(20, stale ? stale.nextPacketSize : 0);
    setU64(view, 24, packetNum);
    if (stale) {
      writeCString(bytes.subarray(OFFSET_RAMBLOCK, OFFSET_RAMBLOCK + IDSTR_SIZE), stale.ramBlock);
    }
    buffer.length = PACKET_HEADER_LENGTH;
    buffer.normalPages = 0;
    buffer.zeroPages = 0;
    buffer.sync = true;
    return buffer;
  }

  #copyPayload(buffer: PacketBuffer, pages: Int32Array, normal: number): void {
    const ram = this.ram;
    const words = this.#words;
    const out = buffer.payloadWords;
    let k = 0;
    while (k < normal) {
      let run = 1;
      while (k + run < normal && pages[k + run] === pages[k] + run) run++;
      if (run >= MIN_RUN_FOR_SET) {
        const from = pages[k] * PAGE_SIZE;
        buffer.bytes.set(
          ram.subarray(from, from + run * PAGE_SIZE),
          PACKET_HEADER_LENGTH + k * PAGE_SIZE,
        );
      } else {
        let src = pages[k] * WORDS_PER_PAGE;
        let dst = k * WORDS_PER_PAGE;
        const end = src + WORDS_PER_PAGE;
        while (src < end) {
          out[dst] = words[src];
          out[dst + 1] = words[src + 1];
          out[dst + 2] = words[src + 2];
          out[dst + 3] = words[src + 3];
          src += 4;
          dst += 4;
        }
      }
      k += run;
    }
  }

  #finish(
    buffer: PacketBuffer,
    pages: Int32Array,
    normal: number,
    zero: number,
    packetNum: number,
  ): void {
    const { bytes, view } = buffer;
    view.setUint32(0, MULTIFD_MAGIC);
    view.setUint32(4, MULTIFD_VERSION);
    view.setUint32(8, MULTIFD_FLAG_NOCOMP);
    view.setUint32(12, PAGES_PER_PACKET);
    view.setUint32(16, normal);
    view.setUint32(20, normal * PAGE_SIZE);
    setU64(view, 24, packetNum);
    bytes.fill(0, OFFSET_ZERO_PAGES, OFFSET_RAMBLOCK);
    if (this.layout !== "v7.2") view.setUint32(OFFSET_ZERO_PAGES, zero);
    writeCString(bytes.subarray(OFFSET_RAMBLOCK, OFFSET_RAMBLOCK + IDSTR_SIZE), this.ramBlock);
    const total = normal + zero;
    let at = RAM_PACKET_FIXED_SIZE;
    for (let k = 0; k < total; k++, at += 8) setU64(view, at, pages[k] * PAGE_SIZE);
    bytes.fill(0, at, PACKET_HEADER_LENGTH);
    buffer.length = PACKET_HEADER_LENGTH + normal * PAGE_SIZE;
    buffer.normalPages = normal;
    buffer.zeroPages = zero;
    buffer.sync = false;
  }
}

/** Writes a big-endian u64 given as a number below 2^53, without BigInt. */
export function setU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, Math.floor(value / 0x1_0000_0000));
  view.setUint32(at + 4, value >>> 0);
}
