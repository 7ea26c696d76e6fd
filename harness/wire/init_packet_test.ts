import { assertEquals, assertThrows } from "./test_assert.ts";
import { fromHex } from "./bytes.ts";
import { type ErrorClass, WireError } from "./errors.ts";
import {
  decodeInitPacket,
  encodeInitPacket,
  INIT_PACKET_SIZE,
  type InitPacketFields,
  MULTIFD_MAGIC,
  validateInitPacket,
} from "./init_packet.ts";
import { formatUuid, parseUuid } from "./uuid.ts";
import { SeededRandom } from "./test_random.ts";

const UUID = "12345678-9abc-def0-1122-334455667788";

Deno.test("encodeInitPacket matches the bytes QEMU 7.2 and 10.0 send (spec §3)", () => {
  const expected = "11223344 00000001 123456789abcdef01122334455667788 01" + "00".repeat(39);
  assertEquals(encodeInitPacket({ uuid: UUID, id: 1 }), fromHex(expected));
  assertEquals(encodeInitPacket(), fromHex("11223344 00000001" + "00".repeat(56)));
});

Deno.test("decodeInitPacket reads every field and flags non-zero reserved bytes", () => {
  const bytes = encodeInitPacket({
    uuid: UUID,
    id: 200,
    unused1: new Uint8Array([0, 0, 5, 0, 0, 0, 0]),
    unused2: new Uint8Array(32).fill(0, 0).map((_, i) => (i === 31 ? 1 : 0)),
  });
  const init = decodeInitPacket(bytes);
  assertEquals(init.magic, MULTIFD_MAGIC);
  assertEquals(init.version, 1);
  assertEquals(formatUuid(init.uuid), UUID);
  assertEquals(init.id, 200);
  assertEquals(init.reservedNonZero, [27, 63]);
});

Deno.test("encodeInitPacket writes into a caller buffer at an offset", () => {
  const out = new Uint8Array(100).fill(0xee);
  const view = encodeInitPacket({ id: 7 }, out, 10);
  assertEquals(view.byteOffset, 10);
  assertEquals(out[9], 0xee);
  assertEquals(out[10 + 24], 7);
  assertEquals(out[74], 0xee);
  assertThrows(() => encodeInitPacket({}, out, 50), RangeError);
  assertThrows(() => encodeInitPacket({ unused1: new Uint8Array(6) }), RangeError, "unused1");
});

Deno.test("decodeInitPacket rejects short input as E_TRUNCATED", () => {
  const error = assertThrows(() => decodeInitPacket(new Uint8Array(63)), WireError);
  assertEquals(error.errorClass, "E_TRUNCATED");
  assertEquals(error.field, "init");
});

function classOfInit(fields: InitPacketFields, seen = new Set<number>()): ErrorClass | "ok" {
  try {
    validateInitPacket(decodeInitPacket(encodeInitPacket(fields)), {
      uuid: UUID,
      channels: 2,
      seen,
    });
    return "ok";
  } catch (error) {
    if (error instanceof WireError) return error.errorClass;
    throw error;
  }
}

Deno.test("validateInitPacket checks in QEMU's order: magic, version, uuid, id, duplicate", () => {
  assertEquals(classOfInit({ uuid: UUID, id: 1 }), "ok");
  assertEquals(
    classOfInit({
      magic: 0x5145564d,
      version: 2,
      uuid: "00000000-0000-0000-0000-000000000000",
      id: 9,
    }),
    "E_MAGIC",
  );
  assertEquals(classOfInit({ version: 2, id: 9 }), "E_VERSION");
  assertEquals(classOfInit({ id: 9 }), "E_UUID");
  assertEquals(classOfInit({ uuid: UUID, id: 9 }), "E_CHANNEL_ID");
  assertEquals(classOfInit({ uuid: UUID, id: 1 }, new Set([1])), "E_DUPLICATE_ID");
});

Deno.test("validateInitPacket rejects id == channels, which QEMU's '>' lets through", () => {
  assertEquals(classOfInit({ uuid: UUID, id: 2 }), "E_CHANNEL_ID");
  assertEquals(classOfInit({ uuid: UUID, id: 255 }), "E_CHANNEL_ID");
});

Deno.test("validateInitPacket messages name field, received and expected", () => {
  const seen = new Set<number>();
  const check = (fields: InitPacketFields) => () =>
    validateInitPacket(decodeInitPacket(encodeInitPacket(fields)), {
      uuid: UUID,
      channels: 2,
      seen,
    });
  let error = assertThrows(check({ magic: 0x5145564d }), WireError);
  assertEquals([error.field, error.received, error.expected], [
    "init.magic",
    "0x5145564d",
    "0x11223344",
  ]);
  error = assertThrows(check({ uuid: UUID, version: 7 }), WireError);
  assertEquals([error.field, error.received, error.expected], ["init.version", 7, 1]);
  error = assertThrows(check({ id: 0 }), WireError);
  assertEquals([error.field, error.received, error.expected], [
    "init.uuid",
    "00000000-0000-0000-0000-000000000000",
    UUID,
  ]);
  error = assertThrows(check({ uuid: UUID, id: 2 }), WireError);
  assertEquals([error.field, error.received, error.expected], ["init.id", 2, "0..1"]);
  assertEquals(
    validateInitPacket(decodeInitPacket(encodeInitPacket({ uuid: UUID, id: 0 })), {
      uuid: parseUuid(UUID),
      channels: 2,
      seen,
    }),
    0,
  );
  assertEquals([...seen], [0]);
  error = assertThrows(check({ uuid: UUID, id: 0 }), WireError);
  assertEquals([error.errorClass, error.field, error.received], ["E_DUPLICATE_ID", "init.id", 0]);
});

Deno.test("init packets round-trip over seeded values", () => {
  const random = new SeededRandom(64);
  const out = new Uint8Array(INIT_PACKET_SIZE + 3);
  for (let i = 0; i < 5000; i++) {
    const fields = {
      magic: random.u32(),
      version: random.u32(),
      uuid: random.bytes(16),
      id: random.below(256),
      unused1: random.below(4) === 0 ? random.bytes(7) : new Uint8Array(7),
      unused2: random.below(4) === 0 ? random.bytes(32) : new Uint8Array(32),
    };
    const at = random.below(4);
    const { reservedNonZero, ...decoded } = decodeInitPacket(encodeInitPacket(fields, out, at));
    assertEquals(decoded, fields);
    const expectedNonZero = [...fields.unused1, ...fields.unused2].flatMap((b, j) =>
      b !== 0 ? [25 + j] : []
    );
    assertEquals(reservedNonZero, expectedNonZero);
  }
});
