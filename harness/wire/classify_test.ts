import { assertEquals, assertThrows } from "./test_assert.ts";
import { type ClassifierState, classifyChannel } from "./classify.ts";
import { WireError } from "./errors.ts";

const QEVM = new Uint8Array([0x51, 0x45, 0x56, 0x4d]);
const MULTIFD = new Uint8Array([0x11, 0x22, 0x33, 0x44]);
const HTTP = new TextEncoder().encode("GET ");

const fresh: ClassifierState = {
  mainSeen: false,
  multifdSeen: 0,
  channels: 2,
  multifdEnabled: true,
};
const afterMain: ClassifierState = { ...fresh, mainSeen: true };
const complete: ClassifierState = { ...fresh, mainSeen: true, multifdSeen: 2 };

Deno.test("arrival-order (QEMU 7.2) ignores the bytes: first is main", () => {
  assertEquals(classifyChannel("arrival-order", MULTIFD, fresh), "main");
  assertEquals(classifyChannel("arrival-order", QEVM, afterMain), "multifd");
  assertEquals(classifyChannel("arrival-order", undefined, afterMain), "multifd");
  assertEquals(
    classifyChannel("arrival-order", undefined, { ...afterMain, multifdEnabled: false }),
    "postcopy",
  );
});

Deno.test("peek-magic (QEMU 8.0-10.0): QEVM is main, anything else multifd", () => {
  assertEquals(classifyChannel("peek-magic", MULTIFD, fresh), "multifd");
  assertEquals(classifyChannel("peek-magic", QEVM, fresh), "main");
  assertEquals(classifyChannel("peek-magic", HTTP, fresh), "multifd");
  assertEquals(classifyChannel("peek-magic", undefined, fresh), "main");
  assertEquals(classifyChannel("peek-magic", undefined, afterMain), "multifd");
  assertEquals(classifyChannel("peek-magic", MULTIFD, { ...fresh, multifdEnabled: false }), "main");
});

Deno.test("peek-magic-strict (QEMU 10.1+) refuses an unknown magic in decimal", () => {
  assertEquals(classifyChannel("peek-magic-strict", MULTIFD, fresh), "multifd");
  assertEquals(classifyChannel("peek-magic-strict", QEVM, afterMain), "main");
  const error = assertThrows(
    () => classifyChannel("peek-magic-strict", HTTP, fresh),
    WireError,
    "unknown channel magic: 1195725856",
  );
  assertEquals([error.errorClass, error.received], ["E_UNKNOWN_CHANNEL", "0x47455420"]);
  assertEquals(classifyChannel("peek-magic-strict", HTTP, complete), "postcopy");
  assertEquals(classifyChannel("peek-magic-strict", undefined, fresh), "main");
  assertEquals(classifyChannel("peek-magic-strict", undefined, afterMain), "multifd");
  const off = { ...afterMain, multifdEnabled: false, channels: 0 };
  assertEquals(classifyChannel("peek-magic-strict", undefined, off), "postcopy");
  assertThrows(
    () => classifyChannel("peek-magic-strict", MULTIFD, { ...fresh, multifdEnabled: false }),
    WireError,
    "E_UNKNOWN_CHANNEL",
  );
});

Deno.test("a peek that got fewer than 4 bytes is E_TRUNCATED", () => {
  const error = assertThrows(
    () => classifyChannel("peek-magic", new Uint8Array(2), fresh),
    WireError,
  );
  assertEquals(error.errorClass, "E_TRUNCATED");
});
