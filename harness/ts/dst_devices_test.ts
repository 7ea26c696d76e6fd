import assert from "node:assert/strict";
import { WireError } from "../wire/errors.ts";
import { decodeDeviceTail, findVmDescription } from "./dst_devices.ts";
import { be, concat, str } from "./dst_testing.ts";

const DESCRIPTION = {
  page_size: 4096,
  devices: [
    {
      name: "timer",
      instance_id: 0,
      vmsd_name: "timer",
      version: 2,
      fields: [
        { name: "cpu_ticks_offset", type: "int64", size: 8 },
        { name: "unused", type: "unused_buffer", size: 8 },
        { name: "cpu_clock_offset", type: "int64", size: 8 },
      ],
    },
    {
      name: "dev",
      instance_id: 1,
      vmsd_name: "dev",
      version: 1,
      fields: [{ name: "regs", type: "uint16", size: 2, array_len: 3 }],
      subsections: [{ vmsd_name: "dev/extra", version: 1, fields: [{ name: "x", size: 1 }] }],
    },
  ],
};

function tail(description: unknown = DESCRIPTION): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(description));
  return concat(
    new Uint8Array(24).fill(1), // timer fields
    be(0x7e, 1),
    be(3, 4),
    be(0x04, 1),
    be(4, 4),
    str("dev"),
    be(1, 4),
    be(1, 4),
    new Uint8Array([0, 1, 0, 2, 0, 3]),
    be(0x05, 1),
    str("dev/extra"),
    be(1, 4),
    be(9, 1),
    be(0x7e, 1),
    be(4, 4),
    be(0, 1),
    be(0x06, 1),
    be(json.length, 4),
    json,
  );
}

const FIRST = { sectionId: 3, idstr: "timer", instanceId: 0, versionId: 2 };

Deno.test("device sections are decoded through the VM description", () => {
  const bytes = tail();
  assert.equal(findVmDescription(bytes), bytes.indexOf(0x06, 60));
  const decoded = decodeDeviceTail(FIRST, bytes);
  assert.deepEqual(decoded.sections.map((s) => [s.idstr, s.sectionId, s.instanceId]), [
    ["timer", 3, 0],
    ["dev", 4, 1],
  ]);
  assert.equal(decoded.sections[0].fields.cpu_ticks_offset, "0101010101010101");
  assert.deepEqual(decoded.sections[1].fields, { regs: "000100020003", "dev/extra/x": "09" });
  assert.equal(decoded.eof, true);
});

Deno.test("device sections that do not fit the description are E_STREAM", () => {
  const expectStream = (pattern: RegExp) => (error: unknown) => {
    assert.ok(error instanceof WireError);
    assert.equal(error.errorClass, "E_STREAM");
    assert.match(error.message, pattern);
    return true;
  };
  assert.throws(
    () => decodeDeviceTail(FIRST, tail().subarray(0, 60)),
    expectStream(/VM description/),
  );
  assert.throws(
    () => decodeDeviceTail({ ...FIRST, idstr: "other" }, tail()),
    expectStream(/missing from the VM description/),
  );
  const short = structuredClone(DESCRIPTION);
  short.devices[0].fields.pop();
  assert.throws(() => decodeDeviceTail(FIRST, tail(short)), expectStream(/footer/));
  const huge = structuredClone(DESCRIPTION);
  huge.devices[0].fields[0].size = 1e12;
  assert.throws(() => decodeDeviceTail(FIRST, tail(huge)), expectStream(/does not fit/));
});
