import { assertEquals, assertThrows } from "./test_assert.ts";
import { ByteCursor, fromHex } from "./bytes.ts";
import { WireError } from "./errors.ts";
import { MainStreamWriter } from "./main_stream.ts";
import { MainStreamDecoder } from "./main_stream_decoder.ts";
import {
  findVmDescription,
  parseVmDescription,
  readVmState,
  type VmDescDevice,
  type VmState,
} from "./vmdesc.ts";

// A device shaped like QEMU's: ints of each width, a compressed array, a struct array that
// could not be compressed (with index), a nested struct with a subsection, a null pointer,
// and a subsection of its own.
const DEVICE: VmDescDevice = {
  name: "dev",
  instance_id: 1,
  vmsd_name: "dev",
  version: 3,
  fields: [
    { name: "u8", type: "uint8", size: 1 },
    { name: "i16", type: "int16", size: 2 },
    { name: "le", type: "int32 le", size: 4 },
    { name: "u64", type: "uint64", size: 8 },
    { name: "flag", type: "bool", size: 1 },
    { name: "regs", type: "uint32", size: 4, array_len: 3 },
    {
      name: "inner",
      type: "struct",
      size: 17,
      struct: {
        vmsd_name: "inner",
        version: 1,
        fields: [{ name: "x", type: "uint16", size: 2 }],
        subsections: [{ vmsd_name: "inner/sub", version: 1, fields: [] }],
      },
    },
    { name: "slot", type: "nullptr", size: 1, index: 0 },
    { name: "blob", type: "buffer", size: 3 },
  ],
  subsections: [{
    vmsd_name: "dev/extra",
    version: 2,
    fields: [{ name: "y", type: "int8", size: 1 }],
  }],
};

function deviceBytes(): Uint8Array {
  return new MainStreamWriter()
    .u8(0x7f).u16(0xfffe).raw(fromHex("feffffff")).u64(2n ** 63n).u8(1)
    .u32(1).u32(2).u32(3)
    .u16(0x0102).subsection("inner/sub", 1)
    .u8(0x30)
    .raw(fromHex("aabbcc"))
    .subsection("dev/extra", 2).u8(0xff)
    .take();
}

Deno.test("readVmState walks fields, arrays, structs, null pointers and subsections", () => {
  const cursor = new ByteCursor(deviceBytes());
  const state = readVmState(cursor, DEVICE);
  assertEquals(cursor.remaining, 0);
  const values = state.fields.map((f) => [f.name, f.index, f.value]);
  assertEquals(values.slice(0, 8), [
    ["u8", undefined, 0x7f],
    ["i16", undefined, -2],
    ["le", undefined, -2],
    ["u64", undefined, 2n ** 63n],
    ["flag", undefined, true],
    ["regs", 0, 1],
    ["regs", 1, 2],
    ["regs", 2, 3],
  ]);
  const inner = state.fields[8].value as VmState;
  assertEquals(inner.fields[0].value, 0x0102);
  assertEquals(inner.subsections.map((s) => s.name), ["inner/sub"]);
  assertEquals([state.fields[9].name, state.fields[9].index, state.fields[9].value], [
    "slot",
    0,
    null,
  ]);
  assertEquals(state.fields[10].value, fromHex("aabbcc"));
  assertEquals(state.subsections[0].name, "dev/extra");
  assertEquals(state.subsections[0].versionId, 2);
  assertEquals(state.subsections[0].fields[0].value, -1);
});

Deno.test("readVmState rejects bytes that do not follow the description", () => {
  const good = deviceBytes();
  // The subsection marker of dev/extra replaced.
  const noSubsection = good.slice();
  noSubsection[good.lastIndexOf(0x05)] = 0x00;
  let error = assertThrows(() => readVmState(new ByteCursor(noSubsection), DEVICE), WireError);
  assertEquals([error.errorClass, error.field], ["E_STREAM", "dev/dev/extra"]);
  // The null-pointer marker must be '0'.
  const badNull = good.slice();
  badNull[good.indexOf(0x30)] = 0x31;
  error = assertThrows(() => readVmState(new ByteCursor(badNull), DEVICE), WireError);
  assertEquals([error.errorClass, error.field], ["E_STREAM", "dev.slot[0]"]);
  // A struct whose description claims another size.
  const lying: VmDescDevice = {
    ...DEVICE,
    fields: DEVICE.fields.map((f) => f.name === "inner" ? { ...f, size: 16 } : f),
  };
  error = assertThrows(() => readVmState(new ByteCursor(good), lying), WireError);
  assertEquals([error.errorClass, error.field], ["E_STREAM", "dev.inner"]);
  // Too short.
  error = assertThrows(() => readVmState(new ByteCursor(good.subarray(0, 10)), DEVICE), WireError);
  assertEquals(error.errorClass, "E_TRUNCATED");
});

Deno.test("readVmState is bounded against hostile descriptions", () => {
  const huge = {
    vmsd_name: "x",
    version: 1,
    fields: [{ name: "z", type: "buffer", size: 0, array_len: 1e9 }],
  };
  assertThrows(
    () => readVmState(new ByteCursor(new Uint8Array(0)), huge),
    WireError,
    "too many vmstate fields",
  );
  let deep: VmDescDevice["fields"][number] = { name: "leaf", type: "uint8", size: 1 };
  for (let i = 0; i < 40; i++) {
    deep = {
      name: `s${i}`,
      type: "struct",
      size: 1,
      struct: { vmsd_name: `s${i}`, version: 1, fields: [deep] },
    };
  }
  const nested = { vmsd_name: "top", version: 1, fields: [deep] };
  assertThrows(
    () => readVmState(new ByteCursor(new Uint8Array(1)), nested),
    WireError,
    "nests too deep",
  );
});

Deno.test("parseVmDescription names the first wrong path", () => {
  const cases: [unknown, string][] = [
    [[], "vmdesc"],
    [{}, "vmdesc.devices"],
    [
      { devices: [{ name: "a", instance_id: 0, vmsd_name: "a", version: 1 }] },
      "vmdesc.devices[0].fields",
    ],
    [{ devices: [{ name: "a", instance_id: -1 }] }, "vmdesc.devices[0].instance_id"],
    [{
      devices: [{
        name: "a",
        instance_id: 0,
        vmsd_name: "a",
        version: 1,
        fields: [{ name: "s", type: "struct", size: 1 }],
      }],
    }, "vmdesc.devices[0].fields[0]"],
    [{ page_size: "4096", devices: [] }, "vmdesc.page_size"],
  ];
  for (const [json, field] of cases) {
    const error = assertThrows(() => parseVmDescription(JSON.stringify(json)), WireError);
    assertEquals([error.errorClass, error.field], ["E_STREAM", field]);
  }
});

Deno.test("findVmDescription needs EOF before and the length reaching the end", () => {
  const trailer = new MainStreamWriter().u8(0).vmDescription({ devices: [] }).take();
  assertEquals(findVmDescription(trailer), 1);
  assertEquals(findVmDescription(trailer.subarray(1)), undefined);
  const longer = new Uint8Array(trailer.length + 1);
  longer.set(trailer);
  assertEquals(findVmDescription(longer), undefined);
});

Deno.test("a stream with a described device decodes through the decoder", () => {
  const description = { page_size: 4096, devices: [DEVICE] };
  const bytes = new MainStreamWriter().header().configuration("none")
    .sectionFull({ sectionId: 5, name: "dev", instanceId: 1, versionId: 3 })
    .raw(deviceBytes()).footer(5).eof().vmDescription(description).take();
  const decoder = new MainStreamDecoder();
  const events = [...decoder.push(bytes), ...decoder.end()];
  assertEquals(events.map((e) => e.type), [
    "header",
    "configuration",
    "section",
    "device",
    "footer",
    "eof",
    "vmdesc",
  ]);
  // An unknown device has no description to walk it with.
  const unknown = new MainStreamWriter().header().configuration("none")
    .sectionFull({ sectionId: 5, name: "dev", instanceId: 2, versionId: 3 })
    .raw(deviceBytes()).footer(5).eof().vmDescription(description).take();
  const other = new MainStreamDecoder();
  other.push(unknown);
  const error = assertThrows(() => other.end(), WireError);
  assertEquals([error.errorClass, error.field], ["E_STREAM", "section.idstr"]);
});
