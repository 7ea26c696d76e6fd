import { assertEquals, assertThrows } from "./test_assert.ts";
import {
  ByteCursor,
  fromHex,
  latin1Bytes,
  readCString,
  readUint32BE,
  requireBytes,
  toHex,
  writeCString,
} from "./bytes.ts";
import { WireError } from "./errors.ts";

Deno.test("ByteCursor reads big-endian integers and views", () => {
  const cursor = new ByteCursor(fromHex("01 0203 04050607 08090a0b0c0d0e0f aabb"));
  assertEquals(cursor.readU8("a"), 1);
  assertEquals(cursor.readU16("b"), 0x0203);
  assertEquals(cursor.readU32("c"), 0x04050607);
  assertEquals(cursor.readU64("d"), 0x08090a0b0c0d0e0fn);
  const view = cursor.bytes(2, "e");
  assertEquals(toHex(view), "aabb");
  assertEquals(view.buffer, cursor.data.buffer);
  assertEquals(cursor.remaining, 0);
});

Deno.test("readUint32BE reads unsigned big-endian words at any offset", () => {
  const bytes = fromHex("00 ffffffff 80000001 01020304");
  assertEquals(readUint32BE(bytes, 1), 0xffffffff);
  assertEquals(readUint32BE(bytes, 5), 0x80000001);
  assertEquals(readUint32BE(bytes, 9), 0x01020304);
});

Deno.test("ByteCursor reads a u64 above 2^63 exactly", () => {
  assertEquals(new ByteCursor(fromHex("ffffffffffffffff")).readU64("x"), 2n ** 64n - 1n);
});

Deno.test("ByteCursor throws E_TRUNCATED naming the field", () => {
  const cursor = new ByteCursor(new Uint8Array(3));
  const error = assertThrows(() => cursor.readU32("init.magic"), WireError);
  assertEquals(error.errorClass, "E_TRUNCATED");
  assertEquals(error.field, "init.magic");
  assertEquals(cursor.offset, 0);
  assertThrows(() => cursor.bytes(4, "x"), WireError);
  assertThrows(() => cursor.bytes(-1, "x"), WireError);
  cursor.skip(3, "pad");
  assertThrows(() => cursor.readU8("tail"), WireError, "tail");
});

Deno.test("requireBytes checks offset and length", () => {
  requireBytes(new Uint8Array(8), 4, 4, "x");
  assertThrows(() => requireBytes(new Uint8Array(8), 5, 4, "x"), WireError, "E_TRUNCATED");
  assertThrows(() => requireBytes(new Uint8Array(8), -1, 1, "x"), WireError);
});

Deno.test("hex and C strings round-trip", () => {
  assertEquals(fromHex("11 22\n# comment 33\n44"), new Uint8Array([0x11, 0x22, 0x44]));
  assertEquals(fromHex("ab*3 01"), new Uint8Array([0xab, 0xab, 0xab, 1]));
  assertEquals(fromHex("1122#x\n3344"), new Uint8Array([0x11, 0x22, 0x33, 0x44]));
  assertThrows(() => fromHex("a*3"), TypeError);
  assertThrows(() => fromHex("123"), TypeError);
  assertThrows(() => fromHex("zz"), TypeError);
  const field = new Uint8Array(5).fill(9);
  writeCString(field, "ram");
  assertEquals(field, new Uint8Array([0x72, 0x61, 0x6d, 0, 0]));
  assertEquals(readCString(field), "ram");
  writeCString(field, "abcdefg");
  assertEquals(readCString(field), "abcde");
  assertEquals(latin1Bytes("QE"), new Uint8Array([0x51, 0x45]));
});
