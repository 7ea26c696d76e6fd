import assert from "node:assert/strict";
import { PAGE_SIZE } from "../ram/pattern.ts";
import { PACKET_LAYOUTS } from "../wire/packet.ts";
import { loadLibc } from "../net/libc.ts";
import { PacketBuffer, PagePacker, PAGES_PER_PACKET } from "./src_packer.ts";
import { type PacketWrite, warmUpPacker, warmUpWrites } from "./src_warm_up.ts";

Deno.test("warmUpPacker: packs every packet asked for, in every layout, and leaves the RAM alone", () => {
  const ram = new Uint8Array(3 * PAGES_PER_PACKET * PAGE_SIZE);
  // Normal and zero pages alike, so zero-page detection runs both ways.
  for (let page = 0; page < ram.length / PAGE_SIZE; page += 3) ram[page * PAGE_SIZE + 7] = page;
  const before = ram.slice();
  for (const layout of PACKET_LAYOUTS) {
    assert.equal(warmUpPacker(new PagePacker(ram, layout, "pc.ram"), 10), 10, layout);
  }
  assert.deepEqual(ram, before);
});

Deno.test("warmUpPacker: RAM smaller than a packet, or none", () => {
  assert.equal(
    warmUpPacker(new PagePacker(new Uint8Array(5 * PAGE_SIZE), "v10.0", "pc.ram"), 4),
    4,
  );
  assert.equal(warmUpPacker(new PagePacker(new Uint8Array(0), "v10.0", "pc.ram"), 4), 0);
});

Deno.test({
  name: "warmUpWrites: every packet goes through the write path and comes back whole",
  ignore: loadLibc() === null,
}, () => {
  const ram = new Uint8Array(4 * PAGES_PER_PACKET * PAGE_SIZE).fill(1);
  const abort = new Int32Array(new SharedArrayBuffer(4));
  for (const layout of PACKET_LAYOUTS) {
    const packer = new PagePacker(ram, layout, "pc.ram");
    const header = new PacketBuffer(0);
    const seen: { count: number; pages?: Int32Array }[] = [];
    let bytes = 0;
    const write: PacketWrite = (socket, packetNum, first, count, pages) => {
      seen.push({ count, pages });
      const order = pages ?? packer.packRangeHeader(header, first, count, packetNum);
      if (pages) packer.packPagesHeader(header, pages, count, packetNum);
      socket.writeAllv([header.header, ...packer.payloadViews(order, header.normalPages)]);
      bytes += header.length + header.normalPages * PAGE_SIZE;
      return header.length;
    };
    assert.equal(warmUpWrites(write, packer, abort, 12), 12, layout);
    assert.equal(seen.length, 12);
    assert.ok(seen.every((m) => m.count === 2 && (layout === "v7.2") === (m.pages !== undefined)));
    assert.ok(bytes > 12 * 2 * PAGE_SIZE, layout);
  }
});

Deno.test("warmUpWrites: no RAM or no packets writes nothing", () => {
  const abort = new Int32Array(new SharedArrayBuffer(4));
  const fail = (): number => {
    throw new Error("nothing should be written");
  };
  assert.equal(
    warmUpWrites(fail, new PagePacker(new Uint8Array(0), "v10.0", "pc.ram"), abort, 4),
    0,
  );
  const ram = new Uint8Array(PAGE_SIZE);
  assert.equal(warmUpWrites(fail, new PagePacker(ram, "v10.0", "pc.ram"), abort, 0), 0);
});
