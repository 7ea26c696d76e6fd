import assert from "node:assert/strict";
import { decodeInitPacket } from "../wire/init_packet.ts";
import { decodePacket } from "../wire/packet.ts";
import { formatUuid } from "../wire/uuid.ts";
import { expandOrder } from "./src_connect.ts";
import { planInit } from "./src_init.ts";
import { mutationHook } from "./src_mutation.ts";
import { PacketBuffer, PagePacker } from "./src_packer.ts";

Deno.test("planInit: QEMU's init by default, every field or the raw bytes overridable", () => {
  const plain = planInit(3, "12345678-9abc-def0-1122-334455667788");
  const init = decodeInitPacket(plain.bytes);
  assert.deepEqual([init.magic, init.version, init.id, plain.then], [0x11223344, 1, 3, "send"]);
  assert.equal(formatUuid(init.uuid), "12345678-9abc-def0-1122-334455667788");
  assert.equal(decodeInitPacket(planInit(0, undefined, { id: 200 }).bytes).id, 200);
  assert.deepEqual(planInit(0, undefined, { raw: Uint8Array.of(9) }).bytes, Uint8Array.of(9));
  const stalled = planInit(1, undefined, { stallAt: 4 });
  assert.deepEqual([stalled.bytes.length, stalled.then], [4, "stall"]);
  assert.throws(() => planInit(1, undefined, { truncateAt: 65 }), /cut at 65 outside 0\.\.64/);
  assert.throws(() => planInit(1, undefined, { truncateAt: 1, stallAt: 2 }), /exclude each other/);
  assert.throws(() => planInit(0, "not-a-uuid"), /uuid must be 8-4-4-4-12/);
});

Deno.test("planInit: a TLS handshake stall sends a ClientHello prefix and no init", () => {
  const stalled = planInit(1, undefined, { tlsStallAt: 5 });
  assert.deepEqual([stalled.bytes.length, stalled.then], [0, "stall"]);
  assert.deepEqual(stalled.tlsStall, Uint8Array.of(0x16, 0x03, 0x01, 0x02, 0x00)); // a record header
  assert.equal(planInit(1, undefined, { tlsStallAt: 0 }).tlsStall?.length, 0);
  assert.throws(() => planInit(1, undefined, { tlsStallAt: 12 }), /tlsStallAt 12 outside 0\.\.11/);
});

Deno.test("expandOrder: QEMU's order, main last, or a checked permutation", () => {
  assert.deepEqual(expandOrder(undefined, 2), ["main", 0, 1]);
  assert.deepEqual(expandOrder("main-last", 3), [0, 1, 2, "main"]);
  assert.deepEqual(expandOrder([1, "main"], 2), [1, "main"]);
  assert.throws(() => expandOrder([0, 0], 2), /slot 0 repeated/);
  assert.throws(() => expandOrder(["main", 2], 2), /unknown channel slot 2/);
});

Deno.test("mutations apply once, to the first packet with pages on their channel", () => {
  const ram = new Uint8Array(256 * 4096);
  ram.fill(1, 200 * 4096);
  const packer = new PagePacker(ram, "v10.0", "ram");
  const hook = mutationHook("v10.0", ram.length, undefined, [
    { channel: 1, mutation: { kind: "ramblock", value: "other" } },
    { channel: 1, mutation: { kind: "truncate-payload" } },
  ])!;
  const sync = packer.fillSync(new PacketBuffer(), 0, null);
  const view = (b: PacketBuffer) => ({ header: b.header, payload: b.payload, sync: b.sync });
  assert.equal(hook(1, 0, view(sync)), undefined, "SYNC packets are left alone");
  const zeroOnly = packer.packRange(new PacketBuffer(), 0, 128, 1);
  assert.equal(hook(0, 1, view(zeroOnly)), undefined, "other channels are left alone");
  const result = hook(1, 1, view(zeroOnly));
  assert.deepEqual(result, { stop: true }, "ramblock applies; the payload is empty to cut");
  assert.equal(decodePacket("v10.0", zeroOnly.bytes).ramBlock, "other");
  const withPages = packer.packRange(new PacketBuffer(), 128, 128, 2);
  assert.deepEqual(hook(1, 2, view(withPages)), { truncatePayload: 56 * 4096 / 2, stop: true });
  assert.equal(hook(1, 3, view(withPages)), undefined, "each mutation applies once");
  assert.throws(
    () => mutationHook("v7.2", 4096, undefined, [{ mutation: { kind: "zero-pages" } }]),
    /no zero_pages field/,
  );
});
