/**
 * Multifd packets: the fixed-size RAM packet every channel sends after its init packet, and QEMU
 * 10.0's device-state packet. Three layouts cover every release:
 *
 * - `"v7.2"` (QEMU 7.2–8.2): `MultiFDPacket_t` with 32 unused bytes at offset 32.
 * - `"v9.0"` (QEMU 9.0–9.2): `zero_pages` at offset 32 (303e6f54f9); zero-page offsets follow the
 *   normal ones in `offset[]` and carry no payload.
 * - `"v10.0"` (QEMU 10.0+): byte-identical RAM packet, but read as a 12-byte `MultiFDPacketHdr_t`
 *   first (8050c435b7); flag `DEVICE_STATE` selects the 276-byte `MultiFDPacketDeviceState_t`.
 *
 * RAM packet: `magic u32 @0, version u32 @4, flags u32 @8, pages_alloc u32 @12, normal_pages u32 @16,
 * next_packet_size u32 @20, packet_num u64 @24, [zero_pages u32 @32], ramblock char[256] @64,
 * offset u64[page_count] @320`, always `packetLength(pageSize)` bytes (1344 on x86).
 *
 * @module
 */

import { latin1, readUint32BE, requireBytes, viewOf, writeCString } from "./bytes.ts";
import { hex, WireError } from "./errors.ts";
import {
  COMPRESSION_MASK_V7_2,
  COMPRESSION_MASK_V9_2,
  MULTIFD_FLAG_DEVICE_STATE,
  MULTIFD_FLAG_NOCOMP,
  MULTIFD_FLAG_SYNC,
} from "./flags.ts";
import { MULTIFD_MAGIC, MULTIFD_VERSION } from "./init_packet.ts";

/** A multifd packet layout; see the module doc for which QEMU versions use which. */
export type PacketLayout = "v7.2" | "v9.0" | "v10.0";

/** Every layout, oldest first. */
export const PACKET_LAYOUTS: readonly PacketLayout[] = ["v7.2", "v9.0", "v10.0"];

/** `MULTIFD_PACKET_SIZE`: bytes of guest RAM one packet describes at most. */
export const MULTIFD_PACKET_SIZE = 512 * 1024;
/** `sizeof(MultiFDPacketHdr_t)`: magic, version, flags. */
export const PACKET_HDR_SIZE = 12;
/** `sizeof(MultiFDPacket_t)` without `offset[]`. */
export const RAM_PACKET_FIXED_SIZE = 320;
/** `sizeof(MultiFDPacketDeviceState_t)` (QEMU 10.0+). */
export const DEVICE_STATE_PACKET_SIZE = 276;
/** Size of the `ramblock` and `idstr` fields. */
export const IDSTR_SIZE = 256;
/** Default bound on a device-state payload; QEMU itself `g_malloc`s any u32 it is sent. */
export const DEFAULT_MAX_DEVICE_STATE = 64 * 1024 * 1024;

const DEFAULT_PAGE_SIZE = 4096;
const OFFSET_ZERO_PAGES = 32;
const OFFSET_RAMBLOCK = 64;

/**
 * Pages per packet: `MULTIFD_PACKET_SIZE / page_size` (128 for 4 KiB pages).
 *
 * @example
 * ```ts
 * import { pageCount } from "./packet.ts";
 * console.log(pageCount(4096)); // 128
 * ```
 */
export function pageCount(pageSize: number = DEFAULT_PAGE_SIZE): number {
  if (!Number.isInteger(pageSize) || pageSize < 512 || pageSize > MULTIFD_PACKET_SIZE) {
    throw new RangeError(`pageSize must be an integer in 512..${MULTIFD_PACKET_SIZE}: ${pageSize}`);
  }
  return Math.floor(MULTIFD_PACKET_SIZE / pageSize);
}

/**
 * Length of every RAM packet: `320 + 8 * pageCount(pageSize)` (1344 on x86).
 *
 * @example
 * ```ts
 * import { packetLength } from "./packet.ts";
 * console.log(packetLength(4096)); // 1344
 * ```
 */
export function packetLength(pageSize: number = DEFAULT_PAGE_SIZE): number {
  return RAM_PACKET_FIXED_SIZE + 8 * pageCount(pageSize);
}

/** `MultiFDPacketHdr_t`: the first 12 bytes of every packet in every layout. */
export interface PacketHdr {
  readonly magic: number;
  readonly version: number;
  readonly flags: number;
}

/** The fixed part of a RAM packet (everything before `offset[]`). */
export interface RamPacketHeader extends PacketHdr {
  readonly pagesAlloc: number;
  readonly normalPages: number;
  readonly nextPacketSize: number;
  readonly packetNum: bigint;
  /** 0 in layout `"v7.2"`, which has no such field. */
  readonly zeroPages: number;
  /** The idstr as QEMU reads it: up to the first NUL within the first 255 bytes. */
  readonly ramBlock: string;
  /** Whether byte 255 of `ramblock` is NUL (QEMU forces it to NUL before looking it up). */
  readonly ramBlockTerminated: boolean;
  /** Offsets (within the packet) of non-zero reserved bytes; QEMU ignores them. */
  readonly reservedNonZero: number[];
}

/** A decoded RAM packet. */
export interface RamPacket extends RamPacketHeader {
  /**
   * `offset[]`: `normalPages` normal-page offsets followed by `zeroPages` zero-page offsets, as
   * far as the packet holds them (at most `pageCount`). Offsets past 2^53 lose precision but stay
   * larger than any RAM block, so validation still rejects them.
   */
  readonly offsets: Float64Array;
}

/** Fields of a RAM packet to encode; every one may be overridden. */
export interface RamPacketFields {
  magic?: number;
  version?: number;
  /** Default `NOCOMP`. */
  flags?: number;
  /** Default `pageCount(pageSize)`, as QEMU's senders fill it (9.2+ SYNC packets carry 0). */
  pagesAlloc?: number;
  /** Default `normalOffsets.length`. */
  normalPages?: number;
  /** Default `zeroOffsets.length`. Layout `"v7.2"` has no such field. */
  zeroPages?: number;
  /** Default `normalPages * pageSize` (nocomp payload). */
  nextPacketSize?: number;
  packetNum?: bigint | number;
  /** Idstr (NUL-padded like `strncpy`) or the raw 256 bytes. */
  ramBlock?: string | Uint8Array;
  normalOffsets?: ArrayLike<number | bigint>;
  zeroOffsets?: ArrayLike<number | bigint>;
  /** Raw bytes for the reserved area (32 bytes at 32 in `"v7.2"`, 28 bytes at 36 later). */
  reserved?: Uint8Array;
}

function reservedRange(layout: PacketLayout): [number, number] {
  return layout === "v7.2" ? [32, 64] : [36, 64];
}

function checkLayout(layout: PacketLayout): void {
  if (!PACKET_LAYOUTS.includes(layout)) {
    throw new TypeError(`unknown packet layout ${JSON.stringify(layout)}`);
  }
}

/**
 * Encodes a RAM packet of `packetLength(pageSize)` bytes into `out` at `offset`, or into a new
 * array. Unset `offset[]` entries are zero, as QEMU leaves them.
 *
 * @example
 * ```ts
 * import { encodePacket } from "./packet.ts";
 * const packet = encodePacket("v10.0", { ramBlock: "ram", normalOffsets: [0, 4096] });
 * console.log(packet.length); // 1344
 * ```
 */
export function encodePacket(
  layout: PacketLayout,
  fields: RamPacketFields = {},
  out?: Uint8Array,
  offset = 0,
  pageSize: number = DEFAULT_PAGE_SIZE,
): Uint8Array {
  checkLayout(layout);
  const count = pageCount(pageSize);
  const length = packetLength(pageSize);
  const bytes = out ? out.subarray(offset, offset + length) : new Uint8Array(length);
  if (bytes.length < length) throw new RangeError(`packet needs ${length} bytes at ${offset}`);
  const normal = fields.normalOffsets ?? [];
  const zero = fields.zeroOffsets ?? [];
  if (layout === "v7.2" && (zero.length > 0 || (fields.zeroPages ?? 0) !== 0)) {
    throw new RangeError('layout "v7.2" has no zero_pages field');
  }
  if (normal.length + zero.length > count) {
    throw new RangeError(`packet holds ${count} offsets, got ${normal.length + zero.length}`);
  }
  const normalPages = fields.normalPages ?? normal.length;
  const view = viewOf(bytes);
  view.setUint32(0, (fields.magic ?? MULTIFD_MAGIC) >>> 0);
  view.setUint32(4, (fields.version ?? MULTIFD_VERSION) >>> 0);
  view.setUint32(8, (fields.flags ?? MULTIFD_FLAG_NOCOMP) >>> 0);
  view.setUint32(12, (fields.pagesAlloc ?? count) >>> 0);
  view.setUint32(16, normalPages >>> 0);
  view.setUint32(20, (fields.nextPacketSize ?? normalPages * pageSize) >>> 0);
  view.setBigUint64(24, BigInt(fields.packetNum ?? 0n));
  const [reservedStart, reservedEnd] = reservedRange(layout);
  bytes.fill(0, OFFSET_ZERO_PAGES, OFFSET_RAMBLOCK);
  if (layout !== "v7.2") view.setUint32(OFFSET_ZERO_PAGES, (fields.zeroPages ?? zero.length) >>> 0);
  if (fields.reserved) {
    if (fields.reserved.length !== reservedEnd - reservedStart) {
      throw new RangeError(
        `packet.reserved must be ${reservedEnd - reservedStart} bytes in layout ${layout}`,
      );
    }
    bytes.set(fields.reserved, reservedStart);
  }
  const ramBlockField = bytes.subarray(OFFSET_RAMBLOCK, OFFSET_RAMBLOCK + IDSTR_SIZE);
  if (fields.ramBlock instanceof Uint8Array) {
    if (fields.ramBlock.length !== IDSTR_SIZE) {
      throw new RangeError(`packet.ramblock bytes must be ${IDSTR_SIZE} long`);
    }
    ramBlockField.set(fields.ramBlock);
  } else {
    writeCString(ramBlockField, fields.ramBlock ?? "");
  }
  bytes.fill(0, RAM_PACKET_FIXED_SIZE);
  let at = RAM_PACKET_FIXED_SIZE;
  for (let i = 0; i < normal.length; i++, at += 8) view.setBigUint64(at, BigInt(normal[i]));
  for (let i = 0; i < zero.length; i++, at += 8) view.setBigUint64(at, BigInt(zero[i]));
  return bytes;
}

/**
 * Decodes the 12-byte `MultiFDPacketHdr_t` at `offset`.
 *
 * @throws {WireError} `E_TRUNCATED` when fewer than 12 bytes are there.
 * @example
 * ```ts
 * import { decodePacketHdr, encodePacket } from "./packet.ts";
 * console.log(decodePacketHdr(encodePacket("v10.0", { flags: 1 })).flags); // 1
 * ```
 */
export function decodePacketHdr(bytes: Uint8Array, offset = 0): PacketHdr {
  requireBytes(bytes, offset, PACKET_HDR_SIZE, "packet.hdr");
  return {
    magic: readUint32BE(bytes, offset),
    version: readUint32BE(bytes, offset + 4),
    flags: readUint32BE(bytes, offset + 8),
  };
}

/**
 * Which body follows a header: only layout `"v10.0"` knows the device-state packet; older
 * destinations take flag 0x40 as an unknown bit of a RAM packet.
 *
 * @example
 * ```ts
 * import { packetKind } from "./packet.ts";
 * console.log(packetKind("v10.0", 0x40), packetKind("v9.0", 0x40)); // "device-state" "ram"
 * ```
 */
export function packetKind(layout: PacketLayout, flags: number): "ram" | "device-state" {
  return layout === "v10.0" && (flags & MULTIFD_FLAG_DEVICE_STATE) !== 0 ? "device-state" : "ram";
}

/**
 * Length of the packet body that follows a 12-byte header with `flags` (layout `"v10.0"` reads the
 * header first): 264 for device state, `packetLength - 12` for RAM.
 *
 * @example
 * ```ts
 * import { packetBodyLength } from "./packet.ts";
 * console.log(packetBodyLength("v10.0", 0)); // 1332
 * ```
 */
export function packetBodyLength(
  layout: PacketLayout,
  flags: number,
  pageSize: number = DEFAULT_PAGE_SIZE,
): number {
  return packetKind(layout, flags) === "device-state"
    ? DEVICE_STATE_PACKET_SIZE - PACKET_HDR_SIZE
    : packetLength(pageSize) - PACKET_HDR_SIZE;
}

/**
 * Decodes the fixed 320-byte part of a RAM packet at `offset` (no `offset[]`).
 *
 * @throws {WireError} `E_TRUNCATED` when fewer than 320 bytes are there.
 * @example
 * ```ts
 * import { decodePacketHeader, encodePacket } from "./packet.ts";
 * const header = decodePacketHeader("v9.0", encodePacket("v9.0", { zeroOffsets: [0] }));
 * console.log(header.zeroPages); // 1
 * ```
 */
export function decodePacketHeader(
  layout: PacketLayout,
  bytes: Uint8Array,
  offset = 0,
): RamPacketHeader {
  checkLayout(layout);
  requireBytes(bytes, offset, RAM_PACKET_FIXED_SIZE, "packet");
  const [reservedStart, reservedEnd] = reservedRange(layout);
  const reservedNonZero: number[] = [];
  for (let i = reservedStart; i < reservedEnd; i++) {
    if (bytes[offset + i] !== 0) reservedNonZero.push(i);
  }
  const ramBlockAt = offset + OFFSET_RAMBLOCK;
  const packetNumHigh = readUint32BE(bytes, offset + 24);
  const packetNumLow = readUint32BE(bytes, offset + 28);
  return {
    magic: readUint32BE(bytes, offset),
    version: readUint32BE(bytes, offset + 4),
    flags: readUint32BE(bytes, offset + 8),
    pagesAlloc: readUint32BE(bytes, offset + 12),
    normalPages: readUint32BE(bytes, offset + 16),
    nextPacketSize: readUint32BE(bytes, offset + 20),
    packetNum: packetNumHigh === 0
      ? BigInt(packetNumLow)
      : (BigInt(packetNumHigh) << 32n) | BigInt(packetNumLow),
    zeroPages: layout === "v7.2" ? 0 : readUint32BE(bytes, offset + OFFSET_ZERO_PAGES),
    ramBlock: ramBlockNames.at(bytes, ramBlockAt),
    ramBlockTerminated: bytes[ramBlockAt + IDSTR_SIZE - 1] === 0,
    reservedNonZero,
  };
}

/**
 * The last `ramblock` name decoded, kept with its bytes: a channel's packets name the same block
 * over and over, and the string decoded once is then returned as is, hashed once by the `Map`s
 * it is looked up in rather than built and hashed anew per packet.
 */
class IdstrMemo {
  #name = "";
  readonly #bytes = new Uint8Array(IDSTR_SIZE);
  #length = -1;

  /** The NUL-terminated (or 255-byte) name at `at`. */
  at(bytes: Uint8Array, at: number): string {
    let length = 0;
    while (length < IDSTR_SIZE - 1 && bytes[at + length] !== 0) length++;
    if (length === this.#length && this.#matches(bytes, at, length)) return this.#name;
    const name = latin1(bytes, at, at + length);
    this.#bytes.set(bytes.subarray(at, at + length));
    this.#length = length;
    this.#name = name;
    return name;
  }

  #matches(bytes: Uint8Array, at: number, length: number): boolean {
    for (let i = 0; i < length; i++) if (bytes[at + i] !== this.#bytes[i]) return false;
    return true;
  }
}

const ramBlockNames = new IdstrMemo();

/**
 * Decodes a whole RAM packet (`packetLength(pageSize)` bytes) at `offset`. Pass `offsetsOut` (at
 * least `pageCount(pageSize)` long) to reuse one array across packets; `offsets` is then a view
 * into it.
 *
 * @throws {WireError} `E_TRUNCATED` when the packet is incomplete.
 * @example
 * ```ts
 * import { decodePacket, encodePacket } from "./packet.ts";
 * const packet = decodePacket("v10.0", encodePacket("v10.0", { normalOffsets: [8192] }));
 * console.log(packet.offsets[0]); // 8192
 * ```
 */
export function decodePacket(
  layout: PacketLayout,
  bytes: Uint8Array,
  offset = 0,
  pageSize: number = DEFAULT_PAGE_SIZE,
  offsetsOut?: Float64Array,
): RamPacket {
  const count = pageCount(pageSize);
  requireBytes(bytes, offset, packetLength(pageSize), "packet");
  const header = decodePacketHeader(layout, bytes, offset);
  const entries = Math.min(header.normalPages + header.zeroPages, count);
  let offsets: Float64Array;
  if (offsetsOut) {
    if (offsetsOut.length < count) throw new RangeError(`offsetsOut must hold ${count} entries`);
    offsets = offsetsOut.subarray(0, entries);
  } else {
    offsets = new Float64Array(entries);
  }
  // One view for the loop: optimised code reads a word at a time through it.
  const view = viewOf(bytes);
  for (let i = 0, at = offset + RAM_PACKET_FIXED_SIZE; i < entries; i++, at += 8) {
    offsets[i] = view.getUint32(at) * 0x1_0000_0000 + view.getUint32(at + 4);
  }
  // Field by field: a spread copies through a generic path, once per packet.
  return {
    magic: header.magic,
    version: header.version,
    flags: header.flags,
    pagesAlloc: header.pagesAlloc,
    normalPages: header.normalPages,
    nextPacketSize: header.nextPacketSize,
    packetNum: header.packetNum,
    zeroPages: header.zeroPages,
    ramBlock: header.ramBlock,
    ramBlockTerminated: header.ramBlockTerminated,
    reservedNonZero: header.reservedNonZero,
    offsets,
  };
}

/**
 * Checks magic and version of a packet header as every QEMU does first
 * (`multifd_recv_unfill_packet_header`, 10.0+; `multifd_recv_unfill_packet` before).
 *
 * @throws {WireError} `E_MAGIC` or `E_VERSION`.
 * @example
 * ```ts
 * import { validatePacketHdr } from "./packet.ts";
 * validatePacketHdr({ magic: 0x11223344, version: 1, flags: 0 });
 * ```
 */
export function validatePacketHdr(hdr: PacketHdr): void {
  if (hdr.magic !== MULTIFD_MAGIC) {
    throw new WireError("E_MAGIC", "packet magic mismatch", {
      field: "packet.magic",
      received: hex(hdr.magic),
      expected: hex(MULTIFD_MAGIC),
    });
  }
  if (hdr.version !== MULTIFD_VERSION) {
    throw new WireError("E_VERSION", "packet version mismatch", {
      field: "packet.version",
      received: hdr.version,
      expected: MULTIFD_VERSION,
    });
  }
}

/** What a destination checks a RAM packet against. */
export interface PacketExpectation {
  /** Target page size, default 4096. */
  readonly pageSize?: number;
  /** RAM blocks by idstr with their `used_length` in bytes. */
  readonly ramBlocks: ReadonlyMap<string, number | bigint>;
  /** Negotiated compression flag value, default `NOCOMP`. */
  readonly compression?: number;
  /**
   * `MULTIFD_FLAG_COMPRESSION_MASK` of the destination emulated; default 0x0e for `"v7.2"` and
   * `"v9.0"`, 0x3e for `"v10.0"` (see `versions.ts` for 9.1 and 9.2).
   */
  readonly compressionMask?: number;
}

/**
 * Checks a RAM packet as QEMU's destination does, in its order: magic, version, `pages_alloc` ≤
 * page count, `normal_pages` ≤ `pages_alloc`, `zero_pages` ≤ the rest (9.0+), then — only when the
 * packet carries pages — the RAM block name, every offset ≤ `used_length - page_size`, and the
 * compression bits of `flags`. (7.2–8.2 skip the last three when `normal_pages` is 0; 9.0+ when
 * normal and zero are both 0. QEMU checks neither offset alignment nor unknown flag bits.)
 *
 * @throws {WireError} `E_MAGIC`, `E_VERSION` or `E_PACKET` naming the field.
 * @example
 * ```ts
 * import { decodePacket, encodePacket, validatePacket } from "./packet.ts";
 * const packet = decodePacket("v10.0", encodePacket("v10.0", {
 *   ramBlock: "ram",
 *   normalOffsets: [0],
 * }));
 * validatePacket("v10.0", packet, { ramBlocks: new Map([["ram", 16 << 20]]) });
 * ```
 */
export function validatePacket(
  layout: PacketLayout,
  packet: RamPacket,
  expect: PacketExpectation,
): void {
  checkLayout(layout);
  validatePacketHdr(packet);
  const pageSize = expect.pageSize ?? DEFAULT_PAGE_SIZE;
  const count = pageCount(pageSize);
  if (packet.pagesAlloc > count) {
    throw new WireError("E_PACKET", "packet pages_alloc exceeds the page count", {
      field: "packet.pages_alloc",
      received: packet.pagesAlloc,
      expected: `<= ${count}`,
    });
  }
  if (packet.normalPages > packet.pagesAlloc) {
    throw new WireError("E_PACKET", "packet normal_pages exceeds pages_alloc", {
      field: "packet.normal_pages",
      received: packet.normalPages,
      expected: `<= ${packet.pagesAlloc}`,
    });
  }
  const zeroMax = packet.pagesAlloc - packet.normalPages;
  if (layout !== "v7.2" && packet.zeroPages > zeroMax) {
    throw new WireError("E_PACKET", "packet zero_pages exceeds pages_alloc - normal_pages", {
      field: "packet.zero_pages",
      received: packet.zeroPages,
      expected: `<= ${zeroMax}`,
    });
  }
  const zeroPages = layout === "v7.2" ? 0 : packet.zeroPages;
  if (packet.normalPages === 0 && zeroPages === 0) return;
  const usedLength = expect.ramBlocks.get(packet.ramBlock);
  if (usedLength === undefined) {
    throw new WireError("E_PACKET", "packet names an unknown ram block", {
      field: "packet.ramblock",
      received: JSON.stringify(packet.ramBlock),
      expected: [...expect.ramBlocks.keys()].map((name) => JSON.stringify(name)).join(" or "),
    });
  }
  // QEMU compares with `used_length - page_size` in unsigned 64-bit arithmetic, which wraps for
  // a block smaller than one page; migwire never lets a page end past the block.
  const maxOffset = Number(usedLength) - pageSize;
  const total = packet.normalPages + zeroPages;
  for (let i = 0; i < total; i++) {
    const value = packet.offsets[i];
    if (!(value <= maxOffset)) {
      throw new WireError("E_PACKET", "packet offset too long", {
        field: `packet.offset[${i}]`,
        received: value,
        expected: `<= ${maxOffset} (used_length ${usedLength})`,
      });
    }
  }
  const mask = expect.compressionMask ??
    (layout === "v10.0" ? COMPRESSION_MASK_V9_2 : COMPRESSION_MASK_V7_2);
  const compression = packet.flags & mask;
  const wanted = expect.compression ?? MULTIFD_FLAG_NOCOMP;
  if (compression !== wanted) {
    throw new WireError("E_PACKET", "packet compression flags mismatch", {
      field: "packet.flags",
      received: hex(compression, 2),
      expected: hex(wanted, 2),
    });
  }
}

/**
 * Bytes of page payload that follow a RAM packet: `normal_pages * pageSize` without compression,
 * `next_packet_size` with it.
 *
 * @example
 * ```ts
 * import { decodePacket, encodePacket, payloadLength } from "./packet.ts";
 * const packet = decodePacket("v7.2", encodePacket("v7.2", { normalOffsets: [0, 4096] }));
 * console.log(payloadLength(packet, 4096)); // 8192
 * ```
 */
export function payloadLength(
  packet: RamPacketHeader,
  pageSize: number = DEFAULT_PAGE_SIZE,
  compressed = false,
): number {
  return compressed ? packet.nextPacketSize : packet.normalPages * pageSize;
}

/** Whether the packet ends a sync round on its channel. */
export function isSyncPacket(packet: PacketHdr): boolean {
  return (packet.flags & MULTIFD_FLAG_SYNC) !== 0;
}

/** A decoded `MultiFDPacketDeviceState_t` (QEMU 10.0+). */
export interface DeviceStatePacket extends PacketHdr {
  /** Device idstr: text up to the first NUL. */
  readonly idstr: string;
  /** Whether the last byte of `idstr` is NUL (QEMU rejects the packet otherwise). */
  readonly idstrTerminated: boolean;
  readonly instanceId: number;
  /** Bytes of device state that follow. */
  readonly nextPacketSize: number;
}

/** Fields of a device-state packet to encode; every one may be overridden. */
export interface DeviceStatePacketFields {
  magic?: number;
  version?: number;
  /** Default `NOCOMP | DEVICE_STATE`, as QEMU's sender sets it. */
  flags?: number;
  /** Idstr (NUL-padded) or the raw 256 bytes. */
  idstr?: string | Uint8Array;
  instanceId?: number;
  nextPacketSize?: number;
}

/**
 * Encodes a 276-byte device-state packet into `out` at `offset`, or into a new array.
 *
 * @example
 * ```ts
 * import { encodeDeviceStatePacket } from "./packet.ts";
 * const packet = encodeDeviceStatePacket({ idstr: "0000:00:02.0/vfio", nextPacketSize: 16 });
 * console.log(packet.length); // 276
 * ```
 */
export function encodeDeviceStatePacket(
  fields: DeviceStatePacketFields = {},
  out?: Uint8Array,
  offset = 0,
): Uint8Array {
  const bytes = out
    ? out.subarray(offset, offset + DEVICE_STATE_PACKET_SIZE)
    : new Uint8Array(DEVICE_STATE_PACKET_SIZE);
  if (bytes.length < DEVICE_STATE_PACKET_SIZE) {
    throw new RangeError(`device-state packet needs ${DEVICE_STATE_PACKET_SIZE} bytes`);
  }
  const view = viewOf(bytes);
  view.setUint32(0, (fields.magic ?? MULTIFD_MAGIC) >>> 0);
  view.setUint32(4, (fields.version ?? MULTIFD_VERSION) >>> 0);
  view.setUint32(8, (fields.flags ?? (MULTIFD_FLAG_NOCOMP | MULTIFD_FLAG_DEVICE_STATE)) >>> 0);
  const idstr = bytes.subarray(PACKET_HDR_SIZE, PACKET_HDR_SIZE + IDSTR_SIZE);
  if (fields.idstr instanceof Uint8Array) {
    if (fields.idstr.length !== IDSTR_SIZE) {
      throw new RangeError(`device-state idstr bytes must be ${IDSTR_SIZE} long`);
    }
    idstr.set(fields.idstr);
  } else {
    writeCString(idstr, fields.idstr ?? "");
  }
  view.setUint32(268, (fields.instanceId ?? 0) >>> 0);
  view.setUint32(272, (fields.nextPacketSize ?? 0) >>> 0);
  return bytes;
}

/**
 * Decodes a 276-byte device-state packet at `offset`.
 *
 * @throws {WireError} `E_TRUNCATED` when it is incomplete.
 * @example
 * ```ts
 * import { decodeDeviceStatePacket, encodeDeviceStatePacket } from "./packet.ts";
 * const packet = decodeDeviceStatePacket(encodeDeviceStatePacket({ idstr: "dev", instanceId: 2 }));
 * console.log(packet.idstr, packet.instanceId); // "dev" 2
 * ```
 */
export function decodeDeviceStatePacket(bytes: Uint8Array, offset = 0): DeviceStatePacket {
  requireBytes(bytes, offset, DEVICE_STATE_PACKET_SIZE, "device_state");
  const view = viewOf(bytes);
  const idAt = offset + PACKET_HDR_SIZE;
  let idstr = "";
  for (let i = 0; i < IDSTR_SIZE; i++) {
    const c = bytes[idAt + i];
    if (c === 0) break;
    idstr += String.fromCharCode(c);
  }
  return {
    magic: view.getUint32(offset),
    version: view.getUint32(offset + 4),
    flags: view.getUint32(offset + 8),
    idstr,
    idstrTerminated: bytes[idAt + IDSTR_SIZE - 1] === 0,
    instanceId: view.getUint32(offset + 268),
    nextPacketSize: view.getUint32(offset + 272),
  };
}

/** What a destination checks a device-state packet against. */
export interface DeviceStateExpectation {
  /** Largest payload accepted, default {@linkcode DEFAULT_MAX_DEVICE_STATE}. */
  readonly maxPayload?: number;
}

/**
 * Checks a device-state packet as QEMU 10.0's `multifd_recv_thread` and
 * `multifd_device_state_recv` do — magic, version, not empty, idstr terminated, not SYNC — plus a
 * payload limit QEMU lacks (it `g_malloc`s `next_packet_size`, up to 4 GiB, before reading).
 *
 * @throws {WireError} `E_MAGIC`, `E_VERSION` or `E_PACKET`.
 * @example
 * ```ts
 * import { decodeDeviceStatePacket, encodeDeviceStatePacket, validateDeviceStatePacket } from "./packet.ts";
 * const bytes = encodeDeviceStatePacket({ idstr: "dev", nextPacketSize: 8 });
 * validateDeviceStatePacket(decodeDeviceStatePacket(bytes));
 * ```
 */
export function validateDeviceStatePacket(
  packet: DeviceStatePacket,
  expect: DeviceStateExpectation = {},
): void {
  validatePacketHdr(packet);
  if (packet.nextPacketSize === 0) {
    throw new WireError("E_PACKET", "empty device state packet", {
      field: "device_state.next_packet_size",
      received: 0,
      expected: "> 0",
    });
  }
  const max = expect.maxPayload ?? DEFAULT_MAX_DEVICE_STATE;
  if (packet.nextPacketSize > max) {
    throw new WireError("E_PACKET", "device state payload over the limit", {
      field: "device_state.next_packet_size",
      received: packet.nextPacketSize,
      expected: `<= ${max}`,
    });
  }
  if (!packet.idstrTerminated) {
    throw new WireError("E_PACKET", "unterminated device state idstr", {
      field: "device_state.idstr",
      received: JSON.stringify(packet.idstr.slice(0, 32) + "…"),
      expected: "a NUL within 256 bytes",
    });
  }
  if (packet.flags & MULTIFD_FLAG_SYNC) {
    throw new WireError("E_PACKET", "SYNC device state packet", {
      field: "device_state.flags",
      received: hex(packet.flags, 2),
      expected: "SYNC clear",
    });
  }
}
