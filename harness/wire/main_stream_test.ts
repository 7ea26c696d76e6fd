import { assertEquals } from "./test_assert.ts";
import { fromHex, toHex } from "./bytes.ts";
import {
  MainStreamWriter,
  MIG_CMD_SWITCHOVER_START,
  RAM_SAVE_FLAG_EOS,
  RAM_SAVE_FLAG_MULTIFD_FLUSH,
} from "./main_stream.ts";
import { MainStreamDecoder, type MainStreamEvent } from "./main_stream_decoder.ts";
import { parseUuid } from "./uuid.ts";
import { SeededRandom } from "./test_random.ts";

Deno.test("the writer produces QEMU 10.0's record bytes (spec §1.2)", () => {
  const bytes = new MainStreamWriter()
    .header()
    .configuration("none")
    .sectionStart({ sectionId: 1, name: "ram", instanceId: 0, versionId: 4 })
    .ramBlocks([{ name: "ram", length: 0x1000000 }])
    .ramFlags(RAM_SAVE_FLAG_MULTIFD_FLUSH)
    .ramFlags(RAM_SAVE_FLAG_EOS)
    .footer(1)
    .command(MIG_CMD_SWITCHOVER_START)
    .take();
  // The first 106 bytes QEMU 10.0.2 sent, less its PART record (recorded, see streams/).
  const expected = "5145564d 00000003" + "07 00000004 6e6f6e65" +
    "01 00000001 03 72616d 00000000 00000004" +
    "0000000001000004 03 72616d 0000000001000000" +
    "0000000000000200 0000000000000010 7e 00000001" +
    "08 000b 0000";
  assertEquals(toHex(bytes), toHex(fromHex(expected)));
  const recorded = Deno.readFileSync(
    new URL("../../fixtures/vectors/streams/qemu-10.0-multifd2.bin", import.meta.url),
  );
  assertEquals(toHex(bytes.subarray(0, 75)), toHex(recorded.subarray(0, 75)));
});

Deno.test("zero and normal page records: block name once, then CONTINUE", () => {
  const page = new Uint8Array(4096).fill(7);
  const bytes = new MainStreamWriter().zeroPage(0x2000, "ram").zeroPage(0x3000).page(0x4000, page)
    .take();
  assertEquals(
    toHex(bytes.subarray(0, 30)),
    "0000000000002002" + "03" + "72616d" + "00" + "0000000000003022" + "00" +
      "0000000000004028",
  );
  assertEquals(bytes.length, 30 + 4096);
});

Deno.test("configuration subsections are written as vmstate subsections", () => {
  const uuid = parseUuid("12345678-9abc-def0-1122-334455667788");
  const bytes = new MainStreamWriter().header().configuration("none", {
    capabilities: ["x-ignore-shared"],
    uuid,
  }).eof().take();
  const events = new MainStreamDecoder().push(bytes);
  const config = events.find((e) => e.type === "configuration");
  assertEquals(config?.type === "configuration" && config.subsections, [
    { name: "configuration/capabilities", versionId: 1, capabilities: ["x-ignore-shared"] },
    { name: "configuration/uuid", versionId: 1, uuid: "12345678-9abc-def0-1122-334455667788" },
  ]);
});

Deno.test("x-ignore-shared adds each block's address to the block list", () => {
  const bytes = new MainStreamWriter().header().configuration("none", {
    capabilities: ["x-ignore-shared"],
  }).sectionStart({ sectionId: 2, name: "ram", instanceId: 0, versionId: 4 })
    .ramBlocks([{ name: "ram", length: 8192, addr: 0x100000 }]).take();
  const blocks = new MainStreamDecoder().push(bytes).find((e) => e.type === "ram-blocks");
  assertEquals(
    blocks?.type === "ram-blocks" && blocks.blocks,
    [{ name: "ram", length: 8192, addr: 0x100000 }],
  );
});

Deno.test("writer and decoder round-trip seeded random RAM sections", () => {
  const random = new SeededRandom(0x5145564d);
  for (let iteration = 0; iteration < 300; iteration++) {
    const blocks = Array.from({ length: 1 + random.below(3) }, (_, i) => ({
      name: i === 0 ? "ram" : `blk${i}.${random.ascii(random.below(10))}`,
      length: (1 + random.below(64)) * 4096,
    }));
    const writer = new MainStreamWriter().header().configuration("none")
      .sectionStart({ sectionId: 7, name: "ram", instanceId: 0, versionId: 4 })
      .ramBlocks(blocks);
    const expected: unknown[] = [];
    let last: string | undefined;
    for (let r = random.below(60); r > 0; r--) {
      const block = blocks[random.below(blocks.length)];
      const address = random.below(block.length / 4096) * 4096;
      const name = block.name === last && random.below(2) === 0 ? undefined : block.name;
      switch (random.below(4)) {
        case 0: {
          const fill = random.below(3) === 0 ? random.below(256) : 0;
          writer.zeroPage(address, name, fill);
          expected.push(["ram-zero", block.name, address, fill]);
          break;
        }
        case 1: {
          const data = random.bytes(4096);
          writer.page(address, data, name);
          expected.push(["ram-page", block.name, address, toHex(data)]);
          break;
        }
        case 2:
          writer.ramFlags(RAM_SAVE_FLAG_MULTIFD_FLUSH);
          expected.push(["multifd-flush"]);
          continue;
        default:
          writer.ramFlags(RAM_SAVE_FLAG_EOS).footer(7).sectionPart(7);
          expected.push(["eos"], ["footer"], ["part"]);
          continue;
      }
      last = block.name;
    }
    writer.ramFlags(RAM_SAVE_FLAG_EOS).footer(7).eof().vmDescription({ devices: [] });
    const bytes = writer.take();
    const decoder = new MainStreamDecoder();
    const events: MainStreamEvent[] = [];
    for (let at = 0; at < bytes.length;) {
      const size = 1 + random.below(9000);
      events.push(...decoder.push(bytes.slice(at, at + size)));
      at += size;
    }
    events.push(...decoder.end());
    const ram = events.slice(4, -4).map((e) => {
      switch (e.type) {
        case "ram-zero":
          return [e.type, e.block, e.address, e.fill];
        case "ram-page":
          return [e.type, e.block, e.address, toHex(e.data)];
        case "section":
          return [e.kind];
        default:
          return [e.type];
      }
    });
    assertEquals(ram, expected, `iteration ${iteration}`);
    assertEquals(events.map((e) => e.type).slice(-4), ["eos", "footer", "eof", "vmdesc"]);
  }
});
