import assert from "node:assert/strict";
import { decodePacket, encodePacket, validatePacket } from "../wire/packet.ts";
import { PAGE_SIZE } from "../ram/pattern.ts";
import { PACKET_HEADER_LENGTH, PacketBuffer, PagePacker, PAGES_PER_PACKET } from "./src_packer.ts";

/** A RAM of `pages` pages where the pages listed in `nonZero` hold their index + 1. */
function ramWith(pages: number, nonZero: number[]): Uint8Array {
  const ram = new Uint8Array(pages * PAGE_SIZE);
  for (const page of nonZero) ram.fill(page + 1, page * PAGE_SIZE, (page + 1) * PAGE_SIZE);
  return ram;
}

const BLOCKS = new Map([["ram", 1 << 20]]);

Deno.test("packRange orders pages like multifd_send_zero_page_detect and encodes like the codec", () => {
  const ram = ramWith(256, [1, 3, 4]);
  const packer = new PagePacker(ram, "v10.0", "ram");
  const packet = packer.packRange(new PacketBuffer(), 0, 5, 7);
  // [Z N Z N N]: page 0 swaps with 4, page 2 with 3 → normal [4 1 3], zero [2 0].
  const decoded = decodePacket("v10.0", packet.bytes);
  assert.deepEqual([...decoded.offsets], [4, 1, 3, 2, 0].map((p) => p * PAGE_SIZE));
  assert.equal(decoded.normalPages, 3);
  assert.equal(decoded.zeroPages, 2);
  assert.equal(decoded.packetNum, 7n);
  assert.equal(decoded.pagesAlloc, PAGES_PER_PACKET);
  assert.equal(decoded.nextPacketSize, 3 * PAGE_SIZE);
  validatePacket("v10.0", decoded, { ramBlocks: BLOCKS });
  const expected = encodePacket("v10.0", {
    ramBlock: "ram",
    normalOffsets: [4, 1, 3].map((p) => p * PAGE_SIZE),
    zeroOffsets: [2, 0].map((p) => p * PAGE_SIZE),
    packetNum: 7,
  });
  assert.deepEqual(packet.header, expected);
  assert.equal(packet.length, PACKET_HEADER_LENGTH + 3 * PAGE_SIZE);
  for (const [slot, page] of [4, 1, 3].entries()) {
    const at = PACKET_HEADER_LENGTH + slot * PAGE_SIZE;
    assert.deepEqual(
      packet.bytes.subarray(at, at + PAGE_SIZE),
      ram.subarray(page * PAGE_SIZE, (page + 1) * PAGE_SIZE),
    );
  }
});

Deno.test("packRange copies contiguous and scattered runs alike (layout v9.0)", () => {
  const nonZero = [0, 1, 2, 3, 10, 12, 13, 127];
  const ram = ramWith(128, nonZero);
  const packer = new PagePacker(ram, "v9.0", "ram");
  const packet = packer.packRange(new PacketBuffer(), 0, 128, 0);
  const decoded = decodePacket("v9.0", packet.bytes);
  assert.equal(decoded.normalPages, nonZero.length);
  assert.equal(decoded.zeroPages, 128 - nonZero.length);
  const normal = [...decoded.offsets.subarray(0, decoded.normalPages)].map((o) => o / PAGE_SIZE);
  assert.deepEqual([...normal].sort((a, b) => a - b), nonZero);
  normal.forEach((page, slot) => {
    const at = PACKET_HEADER_LENGTH + slot * PAGE_SIZE;
    assert.equal(packet.bytes[at], page + 1);
    assert.equal(packet.bytes[at + PAGE_SIZE - 1], page + 1);
  });
});

Deno.test("packPages (layout v7.2) has no zero_pages field and only normal pages", () => {
  const ram = ramWith(300, [5, 200, 299]);
  const packer = new PagePacker(ram, "v7.2", "ram");
  const packet = packer.packPages(new PacketBuffer(), Int32Array.of(5, 200, 299), 3, 12);
  const expected = encodePacket("v7.2", {
    ramBlock: "ram",
    normalOffsets: [5, 200, 299].map((p) => p * PAGE_SIZE),
    packetNum: 12,
  });
  assert.deepEqual(packet.header, expected);
  assert.equal(packet.payload.length, 3 * PAGE_SIZE);
  assert.equal(packet.payload[2 * PAGE_SIZE], 300 & 0xff);
  assert.throws(() => packer.packRange(new PacketBuffer(), 0, 1, 0), RangeError);
});

Deno.test("SYNC packets: zeroed from 9.2, stale ramblock and next_packet_size before", () => {
  const packer = new PagePacker(ramWith(8, []), "v7.2", "ram");
  const buffer = new PacketBuffer();
  packer.fillSync(buffer, 9, { ramBlock: "ram", nextPacketSize: 303104 });
  let decoded = decodePacket("v7.2", buffer.bytes);
  assert.deepEqual(
    [
      decoded.flags,
      decoded.pagesAlloc,
      decoded.normalPages,
      decoded.nextPacketSize,
      decoded.ramBlock,
    ],
    [1, 128, 0, 303104, "ram"],
  );
  assert.equal(decoded.packetNum, 9n);
  packer.fillSync(buffer, 10, null);
  decoded = decodePacket("v7.2", buffer.bytes);
  assert.deepEqual(
    [decoded.flags, decoded.pagesAlloc, decoded.nextPacketSize, decoded.ramBlock],
    [1, 0, 0, ""],
  );
  assert.equal(buffer.length, PACKET_HEADER_LENGTH);
});

Deno.test("packet numbers and offsets above 2^32 are encoded without loss", () => {
  const packer = new PagePacker(ramWith(1, []), "v10.0", "ram");
  const buffer = new PacketBuffer();
  packer.fillSync(buffer, 2 ** 40 + 3, null);
  assert.equal(decodePacket("v10.0", buffer.bytes).packetNum, 2n ** 40n + 3n);
});

Deno.test("the packer refuses RAM that is not whole pages and ranges outside it", () => {
  assert.throws(() => new PagePacker(new Uint8Array(100), "v10.0", "ram"), RangeError);
  const packer = new PagePacker(ramWith(4, []), "v10.0", "ram");
  assert.throws(() => packer.packRange(new PacketBuffer(), 2, 3, 0), RangeError);
  assert.throws(() => packer.packRange(new PacketBuffer(), 0, 0, 0), RangeError);
});

Deno.test("a header-only packet and its RAM views are the bytes packRange and packPages copy", () => {
  const ram = ramWith(300, [0, 1, 2, 5, 9, 10, 130, 131, 200]);
  const concat = (parts: Uint8Array[]): Uint8Array => {
    const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
    parts.reduce((at, p) => (out.set(p, at), at + p.length), 0);
    return out;
  };
  for (const [first, count] of [[0, 128], [128, 128], [256, 44]]) {
    const packer = new PagePacker(ram, "v10.0", "pc.ram");
    const copied = packer.packRange(new PacketBuffer(), first, count, 3);
    const header = new PacketBuffer(0);
    const order = packer.packRangeHeader(header, first, count, 3);
    const sent = concat([header.header, ...packer.payloadViews(order, header.normalPages)]);
    assert.equal(header.length, copied.length);
    assert.deepEqual(sent, copied.bytes.subarray(0, copied.length));
  }
  const packer = new PagePacker(ram, "v7.2", "pc.ram");
  const pages = Int32Array.from([0, 1, 2, 5, 9, 10, 130]);
  const copied = packer.packPages(new PacketBuffer(), pages, pages.length, 8);
  const header = new PacketBuffer(0);
  packer.packPagesHeader(header, pages, pages.length, 8);
  const sent = concat([header.header, ...packer.payloadViews(pages, pages.length)]);
  assert.deepEqual(sent, copied.bytes.subarray(0, copied.length));
});
