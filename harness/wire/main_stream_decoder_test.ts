import { assertEquals, assertThrows } from "./test_assert.ts";
import { toHex } from "./bytes.ts";
import { WireError } from "./errors.ts";
import {
  MainStreamWriter,
  MIG_CMD_SWITCHOVER_START,
  RAM_SAVE_FLAG_EOS,
  RAM_SAVE_FLAG_MULTIFD_FLUSH,
  RAM_SAVE_FLAG_PAGE,
  RAM_SAVE_FLAG_XBZRLE,
} from "./main_stream.ts";
import {
  MainStreamDecoder,
  type MainStreamDecoderOptions,
  type MainStreamEvent,
} from "./main_stream_decoder.ts";
import { SeededRandom } from "./test_random.ts";

const STREAMS = new URL("../../fixtures/vectors/streams/", import.meta.url);
const stream = (name: string) => Deno.readFileSync(new URL(name, STREAMS));

function decodeAll(bytes: Uint8Array, chunks: number[] = [], options?: MainStreamDecoderOptions) {
  const decoder = new MainStreamDecoder(options);
  const events: MainStreamEvent[] = [];
  let at = 0;
  for (const size of chunks) {
    events.push(...decoder.push(bytes.slice(at, at + size)));
    at += size;
  }
  events.push(...decoder.push(bytes.slice(at)));
  events.push(...decoder.end());
  return events;
}

/** Events as comparable JSON: byte views as hex, bigints as text. */
function normalize(events: MainStreamEvent[]): string {
  return JSON.stringify(events, (_, value) => {
    if (value instanceof Uint8Array) return toHex(value);
    if (typeof value === "bigint") return `${value}n`;
    return value;
  });
}

function outline(events: MainStreamEvent[]): string[] {
  return events.filter((e) => e.type !== "ram-zero" && e.type !== "ram-page").map((e) => {
    switch (e.type) {
      case "section":
        return `${e.kind} ${e.name}#${e.sectionId}`;
      case "command":
        return `command ${e.name}`;
      case "device":
        return `device ${e.name}`;
      case "footer":
        return `footer #${e.sectionId}`;
      default:
        return e.type;
    }
  });
}

function count(events: MainStreamEvent[], type: MainStreamEvent["type"]): number {
  return events.filter((e) => e.type === type).length;
}

Deno.test("real QEMU 7.2.22 main stream, multifd 2 channels: zero pages and EOS sync (spec §1.2)", () => {
  const events = decodeAll(stream("qemu-7.2-multifd2.bin"));
  assertEquals(outline(events), [
    "header",
    "configuration",
    "start ram#2",
    "ram-blocks",
    "eos",
    "footer #2",
    "part ram#2",
    "eos",
    "footer #2",
    "end ram#2",
    "eos",
    "footer #2",
    "full timer#0",
    "device timer",
    "footer #0",
    "full globalstate#4",
    "device globalstate",
    "footer #4",
    "eof",
    "vmdesc",
  ]);
  const config = events.find((e) => e.type === "configuration")!;
  assertEquals(config.type === "configuration" && config.machine, "none");
  const blocks = events.find((e) => e.type === "ram-blocks")!;
  assertEquals(blocks.type === "ram-blocks" && blocks.blocks, [{ name: "ram", length: 16 << 20 }]);
  const zeros = events.filter((e) => e.type === "ram-zero");
  assertEquals(zeros.length, 4096);
  const addresses = new Set(zeros.map((e) => e.type === "ram-zero" ? e.address : -1));
  assertEquals(addresses.size, 4096);
  assertEquals(
    zeros.every((e) => e.type === "ram-zero" && e.block === "ram" && e.fill === 0),
    true,
  );
  const globalstate = events.find((e) => e.type === "device" && e.name === "globalstate")!;
  if (globalstate.type !== "device") throw new Error("unreachable");
  assertEquals(globalstate.state.fields.map((f) => f.name), ["size", "runstate"]);
  assertEquals(globalstate.state.fields[0].value, 10);
  const runstate = globalstate.state.fields[1].value as Uint8Array;
  assertEquals(new TextDecoder().decode(runstate.subarray(0, 10)), "prelaunch\0");
  assertEquals(count(events, "multifd-flush"), 0);
});

Deno.test("real QEMU 10.0.2 main stream, multifd 2 channels: MULTIFD_FLUSH and switchover", () => {
  const events = decodeAll(stream("qemu-10.0-multifd2.bin"));
  assertEquals(outline(events), [
    "header",
    "configuration",
    "start ram#1",
    "ram-blocks",
    "multifd-flush",
    "eos",
    "footer #1",
    "part ram#1",
    "multifd-flush",
    "eos",
    "footer #1",
    "command SWITCHOVER_START",
    "end ram#1",
    "multifd-flush",
    "eos",
    "footer #1",
    "full timer#0",
    "device timer",
    "footer #0",
    "full globalstate#3",
    "device globalstate",
    "footer #3",
    "eof",
    "vmdesc",
  ]);
  assertEquals(count(events, "ram-zero") + count(events, "ram-page"), 0);
  const command = events.find((e) => e.type === "command")!;
  assertEquals(command.type === "command" && [command.command, command.data.length], [11, 0]);
  const vmdesc = events.at(-1)!;
  if (vmdesc.type !== "vmdesc") throw new Error("unreachable");
  assertEquals(vmdesc.description.page_size, 4096);
  assertEquals(vmdesc.description.devices.map((d) => d.name), ["timer", "globalstate"]);
  assertEquals(vmdesc.description.configuration?.vmsd_name, "configuration");
});

Deno.test("real streams without multifd carry the guest's pages on the main stream", () => {
  const pattern = (page: number, i: number) => (((page * 7 + i) & 0xff) | 1);
  for (
    const [name, pages] of [["qemu-7.2-pages.bin", [5, 511]], ["qemu-10.0-pages.bin", [
      0,
      1,
      300,
    ]]] as const
  ) {
    const events = decodeAll(stream(name));
    const normal = events.filter((e) => e.type === "ram-page");
    assertEquals(
      normal.map((e) => e.type === "ram-page" ? e.address / 4096 : -1),
      [...pages],
      name,
    );
    for (const event of normal) {
      if (event.type !== "ram-page") continue;
      const page = event.address / 4096;
      assertEquals(event.data.length, 4096);
      assertEquals(
        event.data.every((b, i) => b === pattern(page, i)),
        true,
        `${name} page ${page}`,
      );
    }
    assertEquals(count(events, "ram-zero"), 512 - pages.length, name);
  }
});

Deno.test("page data is a view of the pushed chunk, not a copy", () => {
  const bytes = stream("qemu-10.0-pages.bin");
  const decoder = new MainStreamDecoder();
  const pages = decoder.push(bytes).filter((e) => e.type === "ram-page");
  assertEquals(pages.length, 3);
  for (const page of pages) {
    assertEquals(page.type === "ram-page" && page.data.buffer, bytes.buffer);
  }
});

Deno.test("any chunking decodes to the same events (real streams, seeded splits)", () => {
  const random = new SeededRandom(2024);
  for (
    const name of [
      "qemu-7.2-multifd2.bin",
      "qemu-10.0-multifd2.bin",
      "qemu-10.0-pages.bin",
      "qemu-7.2-pages.bin",
    ]
  ) {
    const bytes = stream(name);
    const whole = normalize(decodeAll(bytes));
    for (let round = 0; round < 25; round++) {
      const chunks: number[] = [];
      const maxChunk = [1, 7, 300, 5000, 70000][round % 5];
      for (let n = 0; n < bytes.length;) {
        const size = 1 + random.below(maxChunk);
        chunks.push(size);
        n += size;
      }
      assertEquals(normalize(decodeAll(bytes, chunks)), whole, `${name} round ${round}`);
    }
  }
});

Deno.test("one byte at a time decodes the 10.0 stream", () => {
  const bytes = stream("qemu-10.0-multifd2.bin");
  assertEquals(
    normalize(decodeAll(bytes, Array.from({ length: bytes.length }, () => 1))),
    normalize(decodeAll(bytes)),
  );
});

Deno.test("device sections' raw bytes replay unchanged", () => {
  const bytes = stream("qemu-10.0-multifd2.bin");
  const devices = decodeAll(bytes).filter((e) => e.type === "device");
  for (const device of devices) {
    if (device.type !== "device") continue;
    assertEquals(
      toHex(bytes.subarray(device.offset, device.offset + device.raw.length)),
      toHex(device.raw),
    );
    assertEquals(device.raw[0], 0x04);
    assertEquals(device.raw[device.raw.length - 5], 0x7e);
  }
});

function prefix(): MainStreamWriter {
  return new MainStreamWriter().header().configuration("none")
    .sectionStart({ sectionId: 2, name: "ram", instanceId: 0, versionId: 4 })
    .ramBlocks([{ name: "ram", length: 1 << 20 }]);
}

function rejects(
  bytes: Uint8Array,
  errorClass: string,
  field: string,
  options?: MainStreamDecoderOptions,
) {
  const decoder = new MainStreamDecoder(options);
  const error = assertThrows(() => {
    decoder.push(bytes);
    decoder.end();
  }, WireError);
  assertEquals([error.errorClass, error.field], [errorClass, field], error.message);
  // The decoder stays failed.
  assertThrows(() => decoder.push(new Uint8Array(1)), WireError, error.message);
}

Deno.test("the decoder rejects every malformed record with E_STREAM naming the field", () => {
  const w = () => new MainStreamWriter();
  rejects(w().header(0x11223344).take(), "E_STREAM", "stream.magic");
  rejects(w().header(undefined, 2).take(), "E_STREAM", "stream.version");
  rejects(w().header(undefined, 4).take(), "E_STREAM", "stream.version");
  rejects(w().header().eof().take(), "E_STREAM", "stream.configuration");
  rejects(w().header().configuration("none").u8(0x09).take(), "E_STREAM", "section.type");
  rejects(
    w().header().configuration("none").subsection("configuration/x", 1).take(),
    "E_STREAM",
    "configuration.subsection",
  );
  rejects(
    w().header().configuration("none").sectionPart(9).take(),
    "E_STREAM",
    "section.section_id",
  );
  rejects(
    w().header().configuration("none").sectionStart({
      sectionId: 1,
      name: "block",
      instanceId: 0,
      versionId: 1,
    }).take(),
    "E_STREAM",
    "section.name",
  );
  rejects(
    w().header().configuration("none").sectionStart({
      sectionId: 1,
      name: "ram",
      instanceId: 0,
      versionId: 3,
    }).take(),
    "E_STREAM",
    "section.version_id",
  );
  rejects(prefix().ramFlags(RAM_SAVE_FLAG_EOS).eof().take(), "E_STREAM", "footer");
  rejects(prefix().ramFlags(RAM_SAVE_FLAG_EOS).footer(3).take(), "E_STREAM", "footer.section_id");
  rejects(prefix().ramFlags(RAM_SAVE_FLAG_XBZRLE).take(), "E_STREAM", "ram.flags");
  rejects(
    prefix().ramFlags(RAM_SAVE_FLAG_PAGE | RAM_SAVE_FLAG_MULTIFD_FLUSH).take(),
    "E_STREAM",
    "ram.flags",
  );
  rejects(prefix().zeroPage(0, "pc.ram").take(), "E_STREAM", "ram.idstr");
  rejects(prefix().zeroPage(1 << 20, "ram").take(), "E_STREAM", "ram[ram].addr");
  rejects(
    prefix().page((1 << 20) - 4096 + 4096, new Uint8Array(4096), "ram").take(),
    "E_STREAM",
    "ram[ram].addr",
  );
  rejects(
    new MainStreamWriter().header().configuration("none").sectionStart({
      sectionId: 2,
      name: "ram",
      instanceId: 0,
      versionId: 4,
    }).zeroPage(0).take(),
    "E_STREAM",
    "ram.flags",
  );
  rejects(
    prefix().ramBlocks([{ name: "ram", length: 4096 }, { name: "b", length: 8192 }], 8192).take(),
    "E_STREAM",
    "ram.block[b].length",
  );
  const many = Array.from({ length: 5 }, (_, i) => ({ name: `b${i}`, length: 4096 }));
  rejects(prefix().ramBlocks(many).take(), "E_STREAM", "ram.blocks", { maxRamBlocks: 4 });
  rejects(
    w().header().configuration("none").command(MIG_CMD_SWITCHOVER_START, new Uint8Array(1)).take(),
    "E_STREAM",
    "command.len",
  );
  rejects(w().header().configuration("none").command(12).take(), "E_STREAM", "command.cmd");
  rejects(
    w().header().configuration("none").command(8, new Uint8Array(4)).take(),
    "E_STREAM",
    "command.cmd",
  );
  rejects(w().header().configuration("none").eof().u8(0x42).take(), "E_STREAM", "vmdesc");
  rejects(
    w().header().configuration("none").eof().vmDescription({ devices: [] }).u8(0).take(),
    "E_STREAM",
    "stream.trailer",
  );
  rejects(
    w().header().configuration("none").eof().vmDescription("{not json").take(),
    "E_STREAM",
    "vmdesc",
  );
  rejects(
    w().header().configuration("none").eof().vmDescription({ devices: [{ name: "x" }] }).take(),
    "E_STREAM",
    "vmdesc.devices[0].instance_id",
  );
  rejects(w().header().configuration("x".repeat(300)).take(), "E_STREAM", "configuration.name");
});

Deno.test("events decoded before a failure stay in the caller's array", () => {
  const bytes = stream("qemu-10.0-multifd2.bin");
  const clean = decodeAll(bytes);
  const command = clean.find((e) => e.type === "command")!.offset;
  const broken = bytes.slice();
  broken[command + 2] = 99; // the low byte of the command number
  const decoder = new MainStreamDecoder();
  const events: MainStreamEvent[] = [];
  const error = assertThrows(() => decoder.push(broken, events), WireError);
  assertEquals([error.errorClass, error.field], ["E_STREAM", "command.cmd"]);
  assertEquals(outline(events), outline(clean.filter((e) => e.offset < command)));
  // The same through end(): a device section that does not match its description.
  const eof = clean.find((e) => e.type === "eof")!.offset;
  const shifted = new Uint8Array(bytes.length - 1);
  shifted.set(bytes.subarray(0, eof - 10));
  shifted.set(bytes.subarray(eof - 9), eof - 10);
  const second = new MainStreamDecoder();
  const before = second.push(shifted);
  const failure = assertThrows(() => second.end(before), WireError);
  assertEquals(failure.field, "footer");
  // Everything up to the globalstate section header, whose state ran into the next bytes.
  const globalstate = clean.findIndex((e) => e.type === "section" && e.name === "globalstate");
  assertEquals(outline(before), outline(clean.slice(0, globalstate + 1)));
});

Deno.test("a stream that stops early is E_TRUNCATED", () => {
  const bytes = stream("qemu-10.0-pages.bin");
  for (const cut of [3, 8, 12, 40, 67, 5000, 16980]) {
    rejects(bytes.slice(0, cut), "E_TRUNCATED", "stream");
  }
});

Deno.test("device sections are walked with the VM description and must end at EOF", () => {
  const bytes = stream("qemu-7.2-multifd2.bin");
  const eof = decodeAll(bytes).find((e) => e.type === "eof")!.offset;
  // Without the trailer the device sections cannot be delimited.
  rejects(bytes.slice(0, eof + 1), "E_STREAM", "vmdesc");
  // A byte dropped inside a device section shifts the walk off its description.
  const broken = new Uint8Array(bytes.length - 1);
  broken.set(bytes.subarray(0, eof - 10));
  broken.set(bytes.subarray(eof - 9), eof - 10);
  const decoder = new MainStreamDecoder();
  decoder.push(broken);
  const error = assertThrows(() => decoder.end(), WireError);
  assertEquals(error.errorClass, "E_STREAM");
  // Buffering is bounded.
  rejects(bytes, "E_STREAM", "stream.devices", { maxDeviceBytes: 256 });
});

Deno.test("complete: the stream is whole once its VM description is in, device sections or not", () => {
  for (const name of ["qemu-7.2-multifd2.bin", "qemu-10.0-multifd2.bin", "qemu-10.0-pages.bin"]) {
    const bytes = stream(name);
    const decoder = new MainStreamDecoder();
    const events: MainStreamEvent[] = [];
    // Fed in 97-byte steps: incomplete up to the last byte, complete with it.
    for (let at = 0; at < bytes.length; at += 97) {
      assertEquals(decoder.complete, false, `${name} at ${at}`);
      decoder.push(bytes.subarray(at, at + 97), events);
    }
    assertEquals(decoder.complete, true, name);
    decoder.end(events);
    assertEquals([count(events, "eof"), count(events, "vmdesc")], [1, 1], name);
  }
  // Without a VM description the decoder cannot know: the reader waits for the end of stream.
  const bare = new MainStreamDecoder();
  bare.push(new MainStreamWriter().header().configuration("none").eof().take());
  assertEquals(bare.complete, false);
  assertEquals(bare.end().length, 0);
});

Deno.test("a record over the limit fails instead of buffering without end", () => {
  const big = new MainStreamWriter().header().configuration("none").eof()
    .vmDescription({ devices: [], pad: "x".repeat(5000) }).take();
  rejects(big, "E_STREAM", "vmdesc.len", { maxVmDescriptionBytes: 4096 });
  const decoder = new MainStreamDecoder({ maxVmDescriptionBytes: 1 << 20 });
  decoder.push(big.subarray(0, 100));
  decoder.push(big.subarray(100));
  assertEquals(decoder.end().length, 0);
});
