/**
 * Device sections (`QEMU_VM_SECTION_FULL`) of the main stream. They are not self-delimiting: their
 * layout lives in each device's `VMStateDescription`. QEMU's source describes every field it wrote
 * in the VM description (`QEMU_VM_VMDESCRIPTION`, JSON after `QEMU_VM_EOF`; `vmsd_desc_field_end`
 * in `migration/vmstate.c`), so the destination keeps the tail of the stream from the first device
 * section to its end, then walks the sections with the description.
 *
 * Pure functions, no I/O.
 *
 * @module
 */

import { ByteCursor, toHex } from "../wire/bytes.ts";
import { WireError } from "../wire/errors.ts";
import {
  QEMU_VM_EOF,
  QEMU_VM_SECTION_FOOTER,
  QEMU_VM_SECTION_FULL,
  QEMU_VM_SUBSECTION,
  QEMU_VM_VMDESCRIPTION,
} from "../wire/main_stream.ts";

/** Largest VM description accepted (QEMU's own are a few KiB). */
export const MAX_VMDESC = 16 * 1024 * 1024;
/** Longest hex shown per field in a transcript. */
const MAX_FIELD_HEX = 256;

/** A field of the VM description. */
interface DescField {
  readonly name: string;
  readonly size: number;
  readonly array_len?: number;
}

/** A vmstate (device or subsection) of the VM description. */
interface DescState {
  readonly name?: string;
  readonly vmsd_name?: string;
  readonly instance_id?: number;
  readonly fields?: readonly DescField[];
  readonly subsections?: readonly DescState[];
}

/** One decoded device section. */
export interface DecodedDeviceSection {
  readonly sectionId: number;
  readonly idstr: string;
  readonly instanceId: number;
  readonly versionId: number;
  /** Offset within the tail where the section's header starts. */
  readonly at: number;
  /** Field values as hex (long ones cut), subsection fields as `sub/field`. */
  readonly fields: Record<string, string>;
}

/** The tail of a main stream, decoded. */
export interface DecodedTail {
  readonly sections: DecodedDeviceSection[];
  /** Whether `QEMU_VM_EOF` was found where the sections end. */
  readonly eof: boolean;
  /** The parsed VM description, when the stream had one. */
  readonly vmdescription?: unknown;
  /** Bytes of the VM description. */
  readonly vmdescriptionLength?: number;
}

/** The header of the first device section, already read by the caller. */
export interface FirstSectionHeader {
  readonly sectionId: number;
  readonly idstr: string;
  readonly instanceId: number;
  readonly versionId: number;
}

/**
 * Finds the VM description at the end of `tail`: `QEMU_VM_EOF`, `0x06`, be32 length, then
 * exactly that many bytes of JSON up to the end. Returns its offset (of the `0x06`) or -1.
 *
 * @example
 * ```ts
 * import { findVmDescription } from "./dst_devices.ts";
 * const json = new TextEncoder().encode("{}");
 * const tail = new Uint8Array([0, 6, 0, 0, 0, 2, ...json]);
 * console.log(findVmDescription(tail)); // 1
 * ```
 */
export function findVmDescription(tail: Uint8Array): number {
  // JSON text holds no 0x06 byte, so the marker is the last 0x06 whose length matches.
  for (let i = tail.length - 5; i >= 1; i--) {
    if (tail[i] !== QEMU_VM_VMDESCRIPTION || tail[i - 1] !== QEMU_VM_EOF) continue;
    const length =
      ((tail[i + 1] << 24) | (tail[i + 2] << 16) | (tail[i + 3] << 8) | tail[i + 4]) >>>
      0;
    if (i + 5 + length === tail.length) return i;
  }
  return -1;
}

/**
 * Decodes the device sections in `tail` (the stream from the first device section's body to its
 * end), given the header of that first section, using the VM description at the end of `tail`.
 *
 * @throws {WireError} `E_STREAM` naming what does not fit: no VM description, a device it does
 * not describe, a bad footer, or bytes left over.
 * @example
 * ```ts ignore
 * import { decodeDeviceTail } from "./dst_devices.ts";
 * const decoded = decodeDeviceTail(first, tail);
 * console.log(decoded.sections.map((s) => s.idstr));
 * ```
 */
export function decodeDeviceTail(first: FirstSectionHeader, tail: Uint8Array): DecodedTail {
  const marker = findVmDescription(tail);
  if (marker < 0) {
    throw new WireError("E_STREAM", "device sections without a VM description to decode them", {
      field: "main.vmdescription",
      received: `${tail.length} bytes after section ${JSON.stringify(first.idstr)}`,
      expected: "QEMU_VM_EOF, 0x06, be32 length, JSON at the end of the stream",
    });
  }
  const jsonBytes = tail.subarray(marker + 5);
  if (jsonBytes.length > MAX_VMDESC) {
    throw new WireError("E_STREAM", "VM description too long", {
      field: "main.vmdescription.length",
      received: jsonBytes.length,
      expected: `<= ${MAX_VMDESC}`,
    });
  }
  let description: { devices?: DescState[] };
  try {
    description = JSON.parse(new TextDecoder().decode(jsonBytes));
  } catch (error) {
    throw new WireError("E_STREAM", "VM description is not JSON", {
      field: "main.vmdescription",
      received: String(error),
      cause: error,
    });
  }
  const devices = Array.isArray(description?.devices) ? description.devices : [];
  const body = tail.subarray(0, marker - 1);
  const cursor = new ByteCursor(body);
  const sections: DecodedDeviceSection[] = [];
  let header: FirstSectionHeader | null = first;
  let headerAt = 0;
  let deviceIndex = 0;
  while (header) {
    const desc = findDevice(devices, header, deviceIndex);
    if (!desc) {
      throw new WireError("E_STREAM", "device section missing from the VM description", {
        field: "main.section.idstr",
        received: `${JSON.stringify(header.idstr)} instance ${header.instanceId}`,
        expected: devices.map((d) => d.name).join(", ") || "a described device",
      });
    }
    deviceIndex = desc.index + 1;
    const fields: Record<string, string> = {};
    readState(cursor, desc.state, "", fields);
    readFooter(cursor, header);
    sections.push({ ...header, at: headerAt, fields });
    if (cursor.remaining === 0) break;
    headerAt = cursor.offset;
    const type = cursor.readU8("main.section_type");
    if (type !== QEMU_VM_SECTION_FULL) {
      throw new WireError("E_STREAM", "unexpected record among device sections", {
        field: "main.section_type",
        received: `0x${type.toString(16)} at ${headerAt}`,
        expected: "QEMU_VM_SECTION_FULL (0x04) or QEMU_VM_EOF",
      });
    }
    const sectionId = cursor.readU32("main.section_id");
    const idLength = cursor.readU8("main.idstr_len");
    const idstr = latin1(cursor.bytes(idLength, "main.idstr"));
    header = {
      sectionId,
      idstr,
      instanceId: cursor.readU32("main.instance_id"),
      versionId: cursor.readU32("main.version_id"),
    };
  }
  return {
    sections,
    eof: true,
    vmdescription: description,
    vmdescriptionLength: jsonBytes.length,
  };
}

function findDevice(
  devices: readonly DescState[],
  header: FirstSectionHeader,
  from: number,
): { state: DescState; index: number } | undefined {
  for (let i = from; i < devices.length; i++) {
    const d = devices[i];
    if (d?.name === header.idstr && (d.instance_id ?? 0) === header.instanceId) {
      return { state: d, index: i };
    }
  }
  return undefined;
}

function readState(
  cursor: ByteCursor,
  state: DescState,
  prefix: string,
  out: Record<string, string>,
) {
  for (const field of state.fields ?? []) {
    const size = Number(field.size);
    const count = field.array_len === undefined ? 1 : Number(field.array_len);
    const total = size * count;
    if (!Number.isSafeInteger(total) || total < 0 || total > cursor.remaining) {
      throw new WireError("E_STREAM", "device field does not fit in the stream", {
        field: `main.device.${prefix}${field.name}`,
        received: total,
        expected: `<= ${cursor.remaining} bytes left`,
      });
    }
    const value = cursor.bytes(total, `main.device.${prefix}${field.name}`);
    let key = `${prefix}${field.name}`;
    for (let n = 2; key in out; n++) key = `${prefix}${field.name}#${n}`;
    out[key] = toHex(value.subarray(0, MAX_FIELD_HEX / 2)) +
      (value.length > MAX_FIELD_HEX / 2 ? "…" : "");
  }
  for (const sub of state.subsections ?? []) {
    const at = cursor.offset;
    const marker = cursor.readU8("main.subsection");
    if (marker !== QEMU_VM_SUBSECTION) {
      throw new WireError("E_STREAM", "subsection marker missing", {
        field: "main.subsection",
        received: `0x${marker.toString(16)} at ${at}`,
        expected: `0x0${QEMU_VM_SUBSECTION} for ${JSON.stringify(sub.vmsd_name)}`,
      });
    }
    const nameLength = cursor.readU8("main.subsection.name_len");
    const name = latin1(cursor.bytes(nameLength, "main.subsection.name"));
    cursor.readU32("main.subsection.version_id");
    readState(cursor, sub, `${name}/`, out);
  }
}

function readFooter(cursor: ByteCursor, header: FirstSectionHeader): void {
  const at = cursor.offset;
  const marker = cursor.readU8("main.section_footer");
  const id = marker === QEMU_VM_SECTION_FOOTER ? cursor.readU32("main.section_footer.id") : -1;
  if (marker !== QEMU_VM_SECTION_FOOTER || id !== header.sectionId) {
    throw new WireError("E_STREAM", `bad footer after section ${JSON.stringify(header.idstr)}`, {
      field: "main.section_footer",
      received: marker === QEMU_VM_SECTION_FOOTER
        ? `id ${id}`
        : `0x${marker.toString(16)} at ${at}`,
      expected: `0x7e, id ${header.sectionId}`,
    });
  }
}

function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
  return text;
}
