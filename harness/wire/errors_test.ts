import assert from "node:assert/strict";
import { WireError, wireErrorFromData, wireErrorToData } from "./errors.ts";

Deno.test("a WireError crosses as data with its class, fields and message unchanged", () => {
  const original = new WireError("E_PACKET", "page offset past the block", {
    field: "packet.offset[3]",
    received: 123n,
    expected: "< 4096",
  });
  const data = structuredClone(wireErrorToData(original));
  const copy = wireErrorFromData(data);
  assert.ok(copy instanceof WireError);
  assert.equal(copy.errorClass, "E_PACKET");
  assert.equal(copy.message, original.message);
  assert.equal(copy.field, "packet.offset[3]");
  assert.equal(copy.received, "123");
  assert.equal(copy.expected, "< 4096");
});

Deno.test("anything else thrown crosses as E_IO naming it", () => {
  const copy = wireErrorFromData(wireErrorToData(new TypeError("boom")));
  assert.equal(copy.errorClass, "E_IO");
  assert.match(copy.message, /^E_IO: TypeError: boom$/);
});
