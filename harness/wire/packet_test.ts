import { assertEquals, assertThrows } from "./test_assert.ts";
import { fromHex, toHex } from "./bytes.ts";
import { type ErrorClass, WireError } from "./errors.ts";
import {
  COMPRESSION_MASK_V9_1,
  describeFlags,
  MULTIFD_FLAG_DEVICE_STATE,
  MULTIFD_FLAG_SYNC,
  MULTIFD_FLAG_ZLIB,
  MULTIFD_FLAG_ZSTD,
} from "./flags.ts";
import {
  decodeDeviceStatePacket,
  decodePacket,
  decodePacketHdr,
  decodePacketHeader,
  DEVICE_STATE_PACKET_SIZE,
  type DeviceStatePacketFields,
  encodeDeviceStatePacket,
  encodePacket,
  isSyncPacket,
  PACKET_LAYOUTS,
  packetBodyLength,
  packetKind,
  type PacketLayout,
  packetLength,
  pageCount,
  payloadLength,
  type RamPacketFields,
  validateDeviceStatePacket,
  validatePacket,
} from "./packet.ts";
import { SeededRandom } from "./test_random.ts";

const RAM = new Map([["ram", 16 * 1024 * 1024]]);

Deno.test("page count and packet length follow the target page size", () => {
  assertEquals(pageCount(4096), 128);
  assertEquals(packetLength(4096), 1344);
  assertEquals(packetLength(65536), 320 + 64);
  assertEquals(packetBodyLength("v10.0", 0), 1332);
  assertEquals(packetBodyLength("v10.0", MULTIFD_FLAG_DEVICE_STATE), 264);
  assertEquals(packetBodyLength("v9.0", MULTIFD_FLAG_DEVICE_STATE), 1332);
  assertThrows(() => pageCount(0), RangeError);
});

Deno.test("encodePacket lays out a 7.2 RAM packet field by field", () => {
  const bytes = encodePacket("v7.2", {
    flags: 0,
    normalOffsets: [0x1000, 0xfff000],
    packetNum: 5n,
    ramBlock: "ram",
  });
  assertEquals(bytes.length, 1344);
  assertEquals(
    toHex(bytes.subarray(0, 32)),
    "11223344" + "00000001" + "00000000" + "00000080" + "00000002" + "00002000" +
      "0000000000000005",
  );
  assertEquals(toHex(bytes.subarray(32, 64)), "00".repeat(32));
  assertEquals(toHex(bytes.subarray(64, 68)), "72616d00");
  assertEquals(toHex(bytes.subarray(320, 336)), "0000000000001000" + "0000000000fff000");
  assertEquals(bytes.subarray(336).every((b) => b === 0), true);
});

Deno.test("9.0+ packets carry zero_pages at 32 and zero offsets after the normal ones", () => {
  const bytes = encodePacket("v9.0", {
    ramBlock: "ram",
    normalOffsets: [0],
    zeroOffsets: [4096, 8192],
  });
  assertEquals(toHex(bytes.subarray(32, 36)), "00000002");
  const packet = decodePacket("v9.0", bytes);
  assertEquals([packet.normalPages, packet.zeroPages], [1, 2]);
  assertEquals(Array.from(packet.offsets), [0, 4096, 8192]);
  assertEquals(payloadLength(packet), 4096);
  assertEquals(decodePacket("v7.2", bytes).zeroPages, 0);
  assertEquals(decodePacket("v7.2", bytes).reservedNonZero, [35]);
  assertThrows(() => encodePacket("v7.2", { zeroOffsets: [0] }), RangeError, "zero_pages");
});

Deno.test("layouts v9.0 and v10.0 are byte-identical for RAM packets", () => {
  const fields = { ramBlock: "ram", normalOffsets: [4096], zeroOffsets: [0], packetNum: 9n };
  assertEquals(encodePacket("v9.0", fields), encodePacket("v10.0", fields));
});

Deno.test("decodePacket reuses a caller's offsets array and reads 64-bit offsets", () => {
  const out = new Float64Array(128);
  const bytes = encodePacket("v10.0", { normalOffsets: [2n ** 40n, 2n ** 63n] });
  const packet = decodePacket("v10.0", bytes, 0, 4096, out);
  assertEquals(packet.offsets.buffer, out.buffer);
  assertEquals(packet.offsets[0], 2 ** 40);
  assertEquals(packet.offsets[1], 2 ** 63);
  assertThrows(() => decodePacket("v10.0", bytes.subarray(0, 1343)), WireError, "E_TRUNCATED");
});

Deno.test("decodePacketHeader honours QEMU's forced NUL at ramblock[255]", () => {
  const raw = new Uint8Array(256).fill(0x61);
  const header = decodePacketHeader("v10.0", encodePacket("v10.0", { ramBlock: raw }));
  assertEquals(header.ramBlock.length, 255);
  assertEquals(header.ramBlockTerminated, false);
});

Deno.test("decodePacketHeader names each packet's own block when the names alternate", () => {
  // Same length, one byte apart, then a longer name, then back: a remembered name is reused only
  // for the very same bytes.
  const names = ["pc.ram", "pc.rom", "pc.ram", "pc.ram.high", "pc.ram", "", "pc.ram"];
  for (const ramBlock of names) {
    const header = decodePacketHeader("v10.0", encodePacket("v10.0", { ramBlock }));
    assertEquals(header.ramBlock, ramBlock);
  }
  // Bytes after the NUL do not belong to the name.
  const raw = new Uint8Array(256);
  raw.set(new TextEncoder().encode("pc.ram\0junk"));
  assertEquals(
    decodePacketHeader("v10.0", encodePacket("v10.0", { ramBlock: raw })).ramBlock,
    "pc.ram",
  );
});

Deno.test("decodePacketHeader reads packet_num exactly on both sides of 2^32", () => {
  for (const packetNum of [0n, 1n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 64n - 1n]) {
    const header = decodePacketHeader("v9.0", encodePacket("v9.0", { packetNum }));
    assertEquals(header.packetNum, packetNum);
  }
});

function packetClass(
  layout: PacketLayout,
  fields: RamPacketFields,
  compressionMask?: number,
): ErrorClass | "ok" {
  try {
    validatePacket(layout, decodePacket(layout, encodePacket(layout, fields)), {
      ramBlocks: RAM,
      compressionMask,
    });
    return "ok";
  } catch (error) {
    if (error instanceof WireError) return error.errorClass;
    throw error;
  }
}

Deno.test("validatePacket accepts what QEMU sends: data, SYNC, pure SYNC", () => {
  for (const layout of PACKET_LAYOUTS) {
    assertEquals(packetClass(layout, { ramBlock: "ram", normalOffsets: [0, 0xfff000] }), "ok");
    assertEquals(packetClass(layout, { flags: MULTIFD_FLAG_SYNC, ramBlock: "ram" }), "ok");
    assertEquals(packetClass(layout, { flags: MULTIFD_FLAG_SYNC, pagesAlloc: 0 }), "ok");
  }
});

Deno.test("validatePacket rejects each bad field with the field named", () => {
  const cases: [RamPacketFields, string, ErrorClass][] = [
    [{ magic: 0x5145564d }, "packet.magic", "E_MAGIC"],
    [{ version: 0 }, "packet.version", "E_VERSION"],
    [{ pagesAlloc: 129 }, "packet.pages_alloc", "E_PACKET"],
    [{ pagesAlloc: 1, normalOffsets: [0, 4096] }, "packet.normal_pages", "E_PACKET"],
    [
      { pagesAlloc: 2, normalOffsets: [0], zeroOffsets: [4096, 8192] },
      "packet.zero_pages",
      "E_PACKET",
    ],
    [{ ramBlock: "pc.ram", normalOffsets: [0] }, "packet.ramblock", "E_PACKET"],
    [{ ramBlock: "ram", normalOffsets: [0, 0xfff001] }, "packet.offset[1]", "E_PACKET"],
    [
      { ramBlock: "ram", normalOffsets: [0], zeroOffsets: [2n ** 64n - 1n] },
      "packet.offset[1]",
      "E_PACKET",
    ],
    [{ ramBlock: "ram", normalOffsets: [0], flags: MULTIFD_FLAG_ZSTD }, "packet.flags", "E_PACKET"],
  ];
  for (const [fields, field, errorClass] of cases) {
    const bytes = encodePacket("v10.0", fields);
    const error = assertThrows(
      () => validatePacket("v10.0", decodePacket("v10.0", bytes), { ramBlocks: RAM }),
      WireError,
    );
    assertEquals(
      [error.errorClass, error.field],
      [errorClass, field],
      JSON.stringify(fields, (_, v) => typeof v === "bigint" ? String(v) : v),
    );
  }
});

Deno.test("validatePacket follows each version's rules on empty packets and flags", () => {
  // No pages: neither ramblock nor compression is looked at (7.2-8.2: normal only; 9.0+: both).
  assertEquals(packetClass("v7.2", { ramBlock: "nope", flags: MULTIFD_FLAG_ZLIB }), "ok");
  assertEquals(packetClass("v10.0", { ramBlock: "nope", zeroOffsets: [0] }), "E_PACKET");
  // Bit 0x10 (UADK) is outside 9.0's mask but inside 9.1's.
  assertEquals(packetClass("v9.0", { ramBlock: "ram", normalOffsets: [0], flags: 0x10 }), "ok");
  assertEquals(
    packetClass(
      "v9.0",
      { ramBlock: "ram", normalOffsets: [0], flags: 0x10 },
      COMPRESSION_MASK_V9_1,
    ),
    "E_PACKET",
  );
  // QEMU does not check offset alignment.
  assertEquals(packetClass("v10.0", { ramBlock: "ram", normalOffsets: [1] }), "ok");
});

Deno.test("device-state packets encode, decode and validate (10.0+)", () => {
  const bytes = encodeDeviceStatePacket({
    idstr: "0000:00:02.0/vfio",
    instanceId: 3,
    nextPacketSize: 100,
  });
  assertEquals(bytes.length, DEVICE_STATE_PACKET_SIZE);
  assertEquals(toHex(bytes.subarray(0, 12)), "11223344" + "00000001" + "00000040");
  assertEquals(toHex(bytes.subarray(268)), "00000003" + "00000064");
  const hdr = decodePacketHdr(bytes);
  assertEquals(packetKind("v10.0", hdr.flags), "device-state");
  assertEquals(packetKind("v9.0", hdr.flags), "ram");
  const packet = decodeDeviceStatePacket(bytes);
  assertEquals([packet.idstr, packet.instanceId, packet.nextPacketSize], [
    "0000:00:02.0/vfio",
    3,
    100,
  ]);
  validateDeviceStatePacket(packet);
  const reject = (fields: DeviceStatePacketFields, field: string, errorClass: ErrorClass) => {
    const error = assertThrows(
      () =>
        validateDeviceStatePacket(decodeDeviceStatePacket(encodeDeviceStatePacket(fields)), {
          maxPayload: 1 << 20,
        }),
      WireError,
    );
    assertEquals([error.errorClass, error.field], [errorClass, field]);
  };
  reject({ magic: 1, nextPacketSize: 1 }, "packet.magic", "E_MAGIC");
  reject({ version: 2, nextPacketSize: 1 }, "packet.version", "E_VERSION");
  reject({ idstr: "dev" }, "device_state.next_packet_size", "E_PACKET");
  reject(
    { idstr: "dev", nextPacketSize: (1 << 20) + 1 },
    "device_state.next_packet_size",
    "E_PACKET",
  );
  reject(
    { idstr: new Uint8Array(256).fill(0x41), nextPacketSize: 1 },
    "device_state.idstr",
    "E_PACKET",
  );
  reject({ idstr: "dev", nextPacketSize: 1, flags: 0x41 }, "device_state.flags", "E_PACKET");
  assertThrows(() => decodeDeviceStatePacket(bytes.subarray(0, 275)), WireError, "E_TRUNCATED");
});

Deno.test("describeFlags names SYNC, compression and unknown bits", () => {
  assertEquals(describeFlags(0x01), "SYNC|nocomp");
  assertEquals(describeFlags(0x42), "DEVICE_STATE|zlib");
  assertEquals(describeFlags(0x81), "SYNC|nocomp|0x80");
  assertEquals(isSyncPacket({ magic: 0, version: 0, flags: 1 }), true);
});

Deno.test("RAM packets round-trip over seeded values in every layout", () => {
  const random = new SeededRandom(1344);
  const out = new Uint8Array(1344 + 8);
  const offsets = new Float64Array(128);
  for (let i = 0; i < 3000; i++) {
    const layout = PACKET_LAYOUTS[random.below(3)];
    const normal = random.below(129);
    const zero = layout === "v7.2" ? 0 : random.below(129 - normal);
    const pageOffsets = () => BigInt(random.below(1 << 20)) * 4096n;
    const fields = {
      flags: random.u32(),
      pagesAlloc: random.u32(),
      normalPages: normal,
      zeroPages: zero,
      nextPacketSize: random.u32(),
      packetNum: random.u64(),
      ramBlock: random.ascii(random.below(256)),
      normalOffsets: Array.from({ length: normal }, pageOffsets),
      zeroOffsets: Array.from({ length: zero }, pageOffsets),
    };
    const at = random.below(8);
    encodePacket(layout, fields, out, at);
    const packet = decodePacket(layout, out, at, 4096, offsets);
    assertEquals(
      [
        packet.flags,
        packet.pagesAlloc,
        packet.normalPages,
        packet.zeroPages,
        packet.nextPacketSize,
      ],
      [fields.flags, fields.pagesAlloc, normal, zero, fields.nextPacketSize],
    );
    assertEquals(packet.packetNum, fields.packetNum);
    assertEquals(packet.ramBlock, fields.ramBlock.slice(0, 255));
    assertEquals(packet.ramBlockTerminated, fields.ramBlock.length < 256);
    assertEquals(packet.reservedNonZero, []);
    assertEquals(
      Array.from(packet.offsets),
      [...fields.normalOffsets, ...fields.zeroOffsets].map(Number),
    );
  }
});

Deno.test("hand-written hex of a 10.0 SYNC packet decodes field by field", () => {
  const hex = "11223344 00000001 00000001 00000000 00000000 00000000 0000000000000007" +
    "00".repeat(32) + "00".repeat(256) + "00".repeat(1024);
  const packet = decodePacket("v10.0", fromHex(hex));
  assertEquals(
    [packet.flags, packet.pagesAlloc, packet.normalPages, packet.packetNum, packet.ramBlock],
    [1, 0, 0, 7n, ""],
  );
  validatePacket("v10.0", packet, { ramBlocks: RAM });
});
