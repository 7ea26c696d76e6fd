/**
 * `MultiFDInit_t`: the 64 bytes every multifd channel starts with (`migration/multifd.c`, the same
 * from QEMU 7.2 to master).
 *
 * | off | size | field |
 * |---|---|---|
 * | 0 | 4 | magic `0x11223344` |
 * | 4 | 4 | version `1` |
 * | 8 | 16 | uuid (raw `qemu_uuid.data`) |
 * | 24 | 1 | id (channel index) |
 * | 25 | 7 | unused1 |
 * | 32 | 32 | unused2 (4 × u64) |
 *
 * @module
 */

import { requireBytes, viewOf } from "./bytes.ts";
import { hex, WireError } from "./errors.ts";
import { formatUuid, NIL_UUID, parseUuid, UUID_SIZE, uuidEquals } from "./uuid.ts";

/** `MULTIFD_MAGIC`: first four bytes of every multifd channel and packet. */
export const MULTIFD_MAGIC = 0x11223344;
/** `MULTIFD_VERSION`: the only version any QEMU sends or accepts. */
export const MULTIFD_VERSION = 1;
/** `sizeof(MultiFDInit_t)`. */
export const INIT_PACKET_SIZE = 64;

const OFFSET_UUID = 8;
const OFFSET_ID = 24;
const OFFSET_UNUSED1 = 25;
const UNUSED1_SIZE = 7;
const OFFSET_UNUSED2 = 32;
const UNUSED2_SIZE = 32;

/** The fields of a `MultiFDInit_t`. */
export interface InitPacket {
  readonly magic: number;
  readonly version: number;
  /** 16 bytes, RFC 4122 order. */
  readonly uuid: Uint8Array;
  /** Channel index, 0..channels-1 on a well-behaved source. */
  readonly id: number;
  /** 7 reserved bytes, zero from every QEMU. */
  readonly unused1: Uint8Array;
  /** 32 reserved bytes, zero from every QEMU. */
  readonly unused2: Uint8Array;
}

/** A decoded `MultiFDInit_t` with the offsets of any non-zero reserved byte. */
export interface DecodedInitPacket extends InitPacket {
  /** Offsets (within the 64 bytes) of reserved bytes that are not zero; QEMU ignores them. */
  readonly reservedNonZero: number[];
}

/** Fields to encode; every one may be overridden, so malformed packets can be built too. */
export interface InitPacketFields {
  magic?: number;
  version?: number;
  /** Bytes or 8-4-4-4-12 text; all zeros when absent. */
  uuid?: Uint8Array | string;
  id?: number;
  unused1?: Uint8Array;
  unused2?: Uint8Array;
}

/**
 * Encodes a `MultiFDInit_t`. Missing fields take QEMU's values (magic, version 1, nil UUID, id 0,
 * zero reserved bytes). Writes into `out` at `offset` when given, else into a new 64-byte array.
 *
 * @returns the 64 bytes written (a view into `out` when given).
 * @example
 * ```ts
 * import { encodeInitPacket } from "./init_packet.ts";
 * const init = encodeInitPacket({ uuid: "12345678-9abc-def0-1122-334455667788", id: 1 });
 * console.log(init.length); // 64
 * ```
 */
export function encodeInitPacket(
  fields: InitPacketFields = {},
  out?: Uint8Array,
  offset = 0,
): Uint8Array {
  const bytes = out
    ? out.subarray(offset, offset + INIT_PACKET_SIZE)
    : new Uint8Array(INIT_PACKET_SIZE);
  if (bytes.length < INIT_PACKET_SIZE) {
    throw new RangeError(`init packet needs ${INIT_PACKET_SIZE} bytes at offset ${offset}`);
  }
  const view = viewOf(bytes);
  view.setUint32(0, (fields.magic ?? MULTIFD_MAGIC) >>> 0);
  view.setUint32(4, (fields.version ?? MULTIFD_VERSION) >>> 0);
  const uuid = typeof fields.uuid === "string" ? parseUuid(fields.uuid) : fields.uuid ?? NIL_UUID;
  if (uuid.length !== UUID_SIZE) {
    throw new RangeError(`init.uuid must be ${UUID_SIZE} bytes, got ${uuid.length}`);
  }
  bytes.set(uuid, OFFSET_UUID);
  bytes[OFFSET_ID] = fields.id ?? 0;
  fillReserved(bytes, OFFSET_UNUSED1, UNUSED1_SIZE, fields.unused1, "init.unused1");
  fillReserved(bytes, OFFSET_UNUSED2, UNUSED2_SIZE, fields.unused2, "init.unused2");
  return bytes;
}

function fillReserved(
  bytes: Uint8Array,
  offset: number,
  size: number,
  value: Uint8Array | undefined,
  field: string,
): void {
  if (value === undefined) {
    bytes.fill(0, offset, offset + size);
    return;
  }
  if (value.length !== size) {
    throw new RangeError(`${field} must be ${size} bytes, got ${value.length}`);
  }
  bytes.set(value, offset);
}

/**
 * Decodes the 64 bytes at `offset` of `bytes`. Checks nothing but length; see
 * {@linkcode validateInitPacket}. The byte arrays returned are copies.
 *
 * @throws {WireError} `E_TRUNCATED` when fewer than 64 bytes are there.
 * @example
 * ```ts
 * import { decodeInitPacket, encodeInitPacket } from "./init_packet.ts";
 * console.log(decodeInitPacket(encodeInitPacket({ id: 3 })).id); // 3
 * ```
 */
export function decodeInitPacket(bytes: Uint8Array, offset = 0): DecodedInitPacket {
  requireBytes(bytes, offset, INIT_PACKET_SIZE, "init");
  const packet = bytes.subarray(offset, offset + INIT_PACKET_SIZE);
  const view = viewOf(packet);
  const reservedNonZero: number[] = [];
  for (let i = OFFSET_UNUSED1; i < INIT_PACKET_SIZE; i++) {
    if (packet[i] !== 0) reservedNonZero.push(i);
  }
  return {
    magic: view.getUint32(0),
    version: view.getUint32(4),
    uuid: packet.slice(OFFSET_UUID, OFFSET_UUID + UUID_SIZE),
    id: packet[OFFSET_ID],
    unused1: packet.slice(OFFSET_UNUSED1, OFFSET_UNUSED1 + UNUSED1_SIZE),
    unused2: packet.slice(OFFSET_UNUSED2, OFFSET_UNUSED2 + UNUSED2_SIZE),
    reservedNonZero,
  };
}

/** What a destination checks an init packet against. */
export interface InitPacketExpectation {
  /** The destination's own UUID (`qemu_uuid`): bytes or text; all zeros when absent. */
  readonly uuid?: Uint8Array | string;
  /** The destination's `multifd-channels`. */
  readonly channels: number;
  /** Ids already set up on this migration; the accepted id is added to it. */
  readonly seen: Set<number>;
}

/**
 * Checks an init packet in the order of QEMU's `multifd_recv_initial_packet()` followed by the
 * duplicate check of `multifd_recv_new_channel()`: magic, version, uuid, id range, duplicate id.
 * On success the id is added to `expect.seen` and returned.
 *
 * The id-range check is `id >= channels`. QEMU checks `msg.id > migrate_multifd_channels()` (all
 * versions since af8b7d2b09), an off-by-one that lets `id == channels` index one past its
 * `params` array and crash the destination (spec §8.1); migwire rejects it.
 *
 * @throws {WireError} `E_MAGIC`, `E_VERSION`, `E_UUID`, `E_CHANNEL_ID` or `E_DUPLICATE_ID`.
 * @example
 * ```ts
 * import { decodeInitPacket, encodeInitPacket, validateInitPacket } from "./init_packet.ts";
 * const seen = new Set<number>();
 * const init = decodeInitPacket(encodeInitPacket({ id: 1 }));
 * console.log(validateInitPacket(init, { channels: 2, seen })); // 1
 * ```
 */
export function validateInitPacket(init: InitPacket, expect: InitPacketExpectation): number {
  if (init.magic !== MULTIFD_MAGIC) {
    throw new WireError("E_MAGIC", "init packet magic mismatch", {
      field: "init.magic",
      received: hex(init.magic),
      expected: hex(MULTIFD_MAGIC),
    });
  }
  if (init.version !== MULTIFD_VERSION) {
    throw new WireError("E_VERSION", "init packet version mismatch", {
      field: "init.version",
      received: init.version,
      expected: MULTIFD_VERSION,
    });
  }
  const local = typeof expect.uuid === "string" ? parseUuid(expect.uuid) : expect.uuid ?? NIL_UUID;
  if (!uuidEquals(init.uuid, local)) {
    throw new WireError("E_UUID", `init packet uuid mismatch on channel ${init.id}`, {
      field: "init.uuid",
      received: formatUuid(init.uuid),
      expected: formatUuid(local),
    });
  }
  if (init.id >= expect.channels) {
    throw new WireError("E_CHANNEL_ID", "init packet channel id out of range", {
      field: "init.id",
      received: init.id,
      expected: `0..${expect.channels - 1}`,
    });
  }
  if (expect.seen.has(init.id)) {
    throw new WireError("E_DUPLICATE_ID", `channel id ${init.id} already set up`, {
      field: "init.id",
      received: init.id,
      expected: "an id not yet set up",
    });
  }
  expect.seen.add(init.id);
  return init.id;
}
