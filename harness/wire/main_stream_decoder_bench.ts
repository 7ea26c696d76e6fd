import { MainStreamWriter, RAM_SAVE_FLAG_EOS } from "./main_stream.ts";
import { MainStreamDecoder } from "./main_stream_decoder.ts";
import { decodePacket, encodePacket, validatePacket } from "./packet.ts";

const MIB = 1024 * 1024;

/** 64 MiB of RAM as normal pages on the main stream, as QEMU sends it without multifd. */
function pagesStream(): Uint8Array {
  const writer = new MainStreamWriter(80 * MIB).header().configuration("none")
    .sectionStart({ sectionId: 2, name: "ram", instanceId: 0, versionId: 4 })
    .ramBlocks([{ name: "ram", length: 64 * MIB }]);
  const page = new Uint8Array(4096).fill(0x5a);
  for (let address = 0; address < 64 * MIB; address += 4096) {
    writer.page(address, page, address === 0 ? "ram" : undefined);
  }
  return writer.ramFlags(RAM_SAVE_FLAG_EOS).footer(2).eof().take();
}

/** 64 MiB of zero pages, as QEMU 7.2 sends a fresh guest with multifd. */
function zeroStream(): Uint8Array {
  const writer = new MainStreamWriter(1 * MIB).header().configuration("none")
    .sectionStart({ sectionId: 2, name: "ram", instanceId: 0, versionId: 4 })
    .ramBlocks([{ name: "ram", length: 64 * MIB }]);
  for (let address = 0; address < 64 * MIB; address += 4096) {
    writer.zeroPage(address, address === 0 ? "ram" : undefined);
  }
  return writer.ramFlags(RAM_SAVE_FLAG_EOS).footer(2).eof().take();
}

function decodeInChunks(bytes: Uint8Array, chunk: number): number {
  const decoder = new MainStreamDecoder();
  let events = 0;
  for (let at = 0; at < bytes.length; at += chunk) {
    events += decoder.push(bytes.subarray(at, at + chunk)).length;
  }
  return events + decoder.end().length;
}

const pages = pagesStream();
const zeros = zeroStream();

Deno.bench("main stream: 64 MiB of normal pages in 64 KiB chunks", { group: "main" }, () => {
  decodeInChunks(pages, 65536);
});

Deno.bench("main stream: 16384 zero-page records in 64 KiB chunks", { group: "main" }, () => {
  decodeInChunks(zeros, 65536);
});

const packetBytes = encodePacket("v10.0", {
  ramBlock: "ram",
  normalOffsets: Array.from({ length: 128 }, (_, i) => i * 4096),
});
const offsets = new Float64Array(128);
const ramBlocks = new Map([["ram", 64 * MIB]]);

Deno.bench("multifd: decode + validate one full RAM packet (128 pages)", () => {
  validatePacket("v10.0", decodePacket("v10.0", packetBytes, 0, 4096, offsets), { ramBlocks });
});
