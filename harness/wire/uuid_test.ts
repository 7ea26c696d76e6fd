import { assertEquals, assertThrows } from "./test_assert.ts";
import { formatUuid, NIL_UUID, NIL_UUID_TEXT, parseUuid, uuidEquals } from "./uuid.ts";
import { SeededRandom } from "./test_random.ts";

Deno.test("parseUuid keeps RFC 4122 byte order, as qemu_uuid.data", () => {
  const bytes = parseUuid("12345678-9abc-def0-1122-334455667788");
  assertEquals(
    Array.from(bytes),
    [
      0x12,
      0x34,
      0x56,
      0x78,
      0x9a,
      0xbc,
      0xde,
      0xf0,
      0x11,
      0x22,
      0x33,
      0x44,
      0x55,
      0x66,
      0x77,
      0x88,
    ],
  );
  assertEquals(parseUuid("ABCDEF01-0000-0000-0000-000000000000")[0], 0xab);
});

Deno.test("formatUuid prints lower-case 8-4-4-4-12 like UUID_FMT", () => {
  assertEquals(formatUuid(NIL_UUID), NIL_UUID_TEXT);
  assertEquals(
    formatUuid(parseUuid("01020304-0506-0708-090A-0B0C0D0E0F10")),
    "01020304-0506-0708-090a-0b0c0d0e0f10",
  );
});

Deno.test("parseUuid rejects bad text naming the value", () => {
  for (
    const bad of [
      "",
      "1234",
      "12345678-9abc-def0-1122-33445566778",
      "g2345678-9abc-def0-1122-334455667788",
      "123456789abcdef01122334455667788",
      " 12345678-9abc-def0-1122-334455667788",
    ]
  ) {
    assertThrows(() => parseUuid(bad), TypeError, JSON.stringify(bad));
  }
  assertThrows(() => formatUuid(new Uint8Array(15)), TypeError, "15");
});

Deno.test("uuid text round-trips over seeded values", () => {
  const random = new SeededRandom(4122);
  for (let i = 0; i < 2000; i++) {
    const bytes = random.bytes(16);
    const text = formatUuid(bytes);
    assertEquals(parseUuid(text), bytes);
    assertEquals(uuidEquals(parseUuid(text), bytes), true);
  }
  assertEquals(uuidEquals(NIL_UUID, parseUuid("00000000-0000-0000-0000-000000000001")), false);
});
