import assert from "node:assert/strict";
import { PAGE_SIZE } from "../ram/pattern.ts";
import { PACKET_LAYOUTS } from "../wire/packet.ts";
import { PagePacker, PAGES_PER_PACKET } from "./src_packer.ts";
import { warmUpPacker } from "./src_warm_up.ts";

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
