/**
 * Building blocks for tests of the destination: a minimal QEMU 10.0-style migration (main stream,
 * init packets, RAM packets with pages, SYNC packets) as bytes, which tests send over raw sockets
 * as they are or broken on purpose.
 *
 * @module
 */

import { encodeInitPacket, type InitPacketFields } from "../wire/init_packet.ts";
import { encodePacket, type PacketLayout, type RamPacketFields } from "../wire/packet.ts";
import { MULTIFD_FLAG_SYNC } from "../wire/flags.ts";
import { PAGE_SIZE } from "../ram/pattern.ts";

/** Concatenates byte arrays. */
export function concat(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Big-endian integer bytes. */
export function be(value: number | bigint, bytes: 1 | 2 | 4 | 8): Uint8Array {
  const out = new Uint8Array(bytes);
  let v = BigInt(value);
  for (let i = bytes - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** A u8 length and the Latin-1 bytes of `text`. */
export function str(text: string): Uint8Array {
  return concat(be(text.length, 1), new Uint8Array([...text].map((c) => c.charCodeAt(0))));
}

/** Options of a scripted migration. */
export interface ScriptOptions {
  readonly channels: number;
  readonly mib: number;
  /** Page indexes sent as normal pages, spread over the channels. */
  readonly pages: readonly number[];
  /** Page indexes sent as zero pages on the multifd channels. */
  readonly zeroPages?: readonly number[];
  readonly uuid?: string;
  readonly layout?: PacketLayout;
  /** `multifd-flush` (10.0) or `eos` (7.2) sync points. */
  readonly flush?: "multifd-flush" | "eos";
}

/** The bytes of one scripted migration. */
export interface ScriptedMigration {
  readonly main: Uint8Array;
  /** Per channel id: init packet followed by its packets. */
  readonly channels: Uint8Array[];
  /** The RAM image the destination should end with. */
  readonly expected: Uint8Array;
}

/** Content of page `index` in scripted migrations: never all zero. */
export function pageContent(index: number): Uint8Array {
  const page = new Uint8Array(PAGE_SIZE);
  for (let i = 0; i < PAGE_SIZE; i += 4) {
    page[i] = index & 0xff;
    page[i + 1] = (index >> 8) & 0xff;
    page[i + 2] = i & 0xff;
    page[i + 3] = 0xa5;
  }
  return page;
}

/** The main stream's header and configuration section (`-M none`). */
export function mainHeader(): Uint8Array {
  return concat(be(0x5145564d, 4), be(3, 4), be(0x07, 1), be(4, 4), str("none").subarray(1));
}

const FLUSH = 0x200;
const EOS = 0x10;

/** RAM section START with the block list, then a sync point. */
export function ramStart(
  length: number,
  flush: "multifd-flush" | "eos",
  sectionId = 2,
): Uint8Array {
  return concat(
    be(0x01, 1),
    be(sectionId, 4),
    str("ram"),
    be(0, 4),
    be(4, 4),
    be(BigInt(length) | 0x04n, 8),
    str("ram"),
    be(length, 8),
    flush === "multifd-flush" ? be(FLUSH, 8) : new Uint8Array(0),
    be(EOS, 8),
    be(0x7e, 1),
    be(sectionId, 4),
  );
}

/** RAM section END with its sync point. */
export function ramEnd(flush: "multifd-flush" | "eos", sectionId = 2): Uint8Array {
  return concat(
    be(0x03, 1),
    be(sectionId, 4),
    flush === "multifd-flush" ? be(FLUSH, 8) : new Uint8Array(0),
    be(EOS, 8),
    be(0x7e, 1),
    be(sectionId, 4),
  );
}

/** `QEMU_VM_EOF` and an empty VM description. */
export function mainTrailer(): Uint8Array {
  const json = new TextEncoder().encode('{"page_size": 4096, "devices": []}');
  return concat(be(0, 1), be(0x06, 1), be(json.length, 4), json);
}

/** A RAM packet with its page payload. */
export function ramPacket(
  layout: PacketLayout,
  fields: RamPacketFields,
  payload: Uint8Array = new Uint8Array(0),
): Uint8Array {
  return concat(encodePacket(layout, { ramBlock: "ram", ...fields }), payload);
}

/** A pure SYNC packet (9.2+ style: no pages). */
export function syncPacket(layout: PacketLayout, packetNum = 0): Uint8Array {
  return encodePacket(layout, {
    flags: MULTIFD_FLAG_SYNC,
    pagesAlloc: layout === "v7.2" ? undefined : 0,
    packetNum,
  });
}

/**
 * A whole well-formed migration: pages spread round-robin over the channels, one SYNC per
 * channel per sync point (two sync points: setup and completion).
 */
export function scriptedMigration(options: ScriptOptions): ScriptedMigration {
  const layout = options.layout ?? "v10.0";
  const flush = options.flush ?? (layout === "v7.2" ? "eos" : "multifd-flush");
  const length = options.mib * 1024 * 1024;
  const expected = new Uint8Array(length);
  const perChannel: number[][] = Array.from({ length: options.channels }, () => []);
  options.pages.forEach((page, i) => perChannel[i % options.channels].push(page));
  const zeros: number[][] = Array.from({ length: options.channels }, () => []);
  (options.zeroPages ?? []).forEach((page, i) => zeros[i % options.channels].push(page));
  let packetNum = 0;
  const channels = perChannel.map((pages, id) => {
    const parts: Uint8Array[] = [
      encodeInitPacket({ uuid: options.uuid, id } as InitPacketFields),
      syncPacket(layout, packetNum++),
    ];
    for (let at = 0; at < Math.max(pages.length, zeros[id].length); at += 64) {
      const normal = pages.slice(at, at + 64);
      const zero = layout === "v7.2" ? [] : zeros[id].slice(at, at + 64);
      const payload = concat(...normal.map(pageContent));
      normal.forEach((page) => expected.set(pageContent(page), page * PAGE_SIZE));
      parts.push(
        ramPacket(layout, {
          normalOffsets: normal.map((p) => p * PAGE_SIZE),
          zeroOffsets: zero.map((p) => p * PAGE_SIZE),
          packetNum: packetNum++,
        }, payload),
      );
    }
    parts.push(syncPacket(layout, packetNum++));
    return concat(...parts);
  });
  const main = concat(mainHeader(), ramStart(length, flush), ramEnd(flush), mainTrailer());
  return { main, channels, expected };
}
