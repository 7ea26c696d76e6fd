/**
 * The VM description QEMU appends after `QEMU_VM_EOF` (`0x06`, be32 length, JSON), and the walk
 * through device (SECTION_FULL) state it makes possible. Device sections are not self-delimiting:
 * only the description says which fields, of which sizes, a section holds. The walk follows
 * QEMU's `scripts/analyze-migration.py`: fields by `size` (unrolling `array_len`), nested
 * `struct`s, then the `subsections` listed, each introduced by `0x05`, name and be32 version.
 *
 * @module
 */

import { type ByteCursor, viewOf } from "./bytes.ts";
import { WireError } from "./errors.ts";
import { QEMU_VM_EOF, QEMU_VM_SUBSECTION, QEMU_VM_VMDESCRIPTION } from "./main_stream.ts";

/** One field of a vmstate description, as QEMU's `vmsd_desc_field_start/end` write it. */
export interface VmDescField {
  readonly name: string;
  /** vmstate type name: `uint32`, `int64`, `bool`, `buffer`, `struct`, `nullptr`, …. */
  readonly type: string;
  /** Bytes written for the field (for a compressed array: for one element). */
  readonly size: number;
  /** Number of consecutive elements this entry stands for. */
  readonly array_len?: number;
  /** Element index of an array that could not be compressed. */
  readonly index?: number;
  /** The nested description of a `struct` field. */
  readonly struct?: VmDescStruct;
}

/** A vmstate description: its fields and the subsections that were sent. */
export interface VmDescStruct {
  readonly vmsd_name: string;
  readonly version: number;
  readonly fields: readonly VmDescField[];
  readonly subsections?: readonly VmDescStruct[];
}

/** A device in the VM description, keyed by section name and instance. */
export interface VmDescDevice extends VmDescStruct {
  readonly name: string;
  readonly instance_id: number;
}

/** The VM description as a whole. */
export interface VmDescription {
  readonly page_size?: number;
  readonly devices: readonly VmDescDevice[];
  /** 9.x+ describe the configuration section too. */
  readonly configuration?: VmDescStruct;
}

/** A decoded field value. Integers above 32 bits are bigints; unknown types stay bytes. */
export type VmStateValue = boolean | number | bigint | string | null | Uint8Array | VmState;

/** One decoded field. */
export interface VmStateField {
  readonly name: string;
  readonly type: string;
  /** Element index for array entries. */
  readonly index?: number;
  readonly value: VmStateValue;
}

/** A decoded vmstate: fields in stream order, then subsections. */
export interface VmState {
  readonly vmsdName: string;
  readonly version: number;
  readonly fields: VmStateField[];
  readonly subsections: VmSubsectionState[];
}

/** A decoded subsection with the name and version read from the stream. */
export interface VmSubsectionState extends VmState {
  readonly name: string;
  readonly versionId: number;
}

/** Bounds on a walk, so a hostile description cannot make it loop or recurse without end. */
export interface VmStateLimits {
  /** Deepest struct/subsection nesting, default 32. */
  readonly maxDepth?: number;
  /** Most field elements visited in one walk, default 1,000,000. */
  readonly maxFields?: number;
}

/**
 * Validates parsed JSON as a VM description, naming the first path that is wrong.
 *
 * @throws {WireError} `E_STREAM` naming the JSON path.
 * @example
 * ```ts
 * import { parseVmDescription } from "./vmdesc.ts";
 * const description = parseVmDescription('{"page_size": 4096, "devices": []}');
 * console.log(description.devices.length); // 0
 * ```
 */
export function parseVmDescription(json: string | Uint8Array): VmDescription {
  let value: unknown;
  try {
    value = JSON.parse(typeof json === "string" ? json : new TextDecoder().decode(json));
  } catch (error) {
    throw new WireError("E_STREAM", `VM description is not JSON: ${(error as Error).message}`, {
      field: "vmdesc",
    });
  }
  const root = object(value, "vmdesc");
  if (root.page_size !== undefined) integer(root.page_size, "vmdesc.page_size");
  const devices = array(root.devices, "vmdesc.devices");
  devices.forEach((device, i) => {
    const path = `vmdesc.devices[${i}]`;
    const entry = object(device, path);
    string(entry.name, `${path}.name`);
    integer(entry.instance_id, `${path}.instance_id`);
    checkStruct(entry, path, 0);
  });
  if (root.configuration !== undefined) checkStruct(root.configuration, "vmdesc.configuration", 0);
  return root as unknown as VmDescription;
}

function checkStruct(value: unknown, path: string, depth: number): void {
  if (depth > 64) throw streamError("VM description nests too deep", path);
  const struct = object(value, path);
  string(struct.vmsd_name, `${path}.vmsd_name`);
  integer(struct.version, `${path}.version`);
  array(struct.fields, `${path}.fields`).forEach((field, i) => {
    const at = `${path}.fields[${i}]`;
    const entry = object(field, at);
    string(entry.name, `${at}.name`);
    string(entry.type, `${at}.type`);
    integer(entry.size, `${at}.size`);
    if (entry.array_len !== undefined) integer(entry.array_len, `${at}.array_len`);
    if (entry.index !== undefined) integer(entry.index, `${at}.index`);
    if (entry.struct !== undefined) checkStruct(entry.struct, `${at}.struct`, depth + 1);
    else if (entry.type === "struct") throw streamError("struct field without description", at);
  });
  if (struct.subsections !== undefined) {
    array(struct.subsections, `${path}.subsections`).forEach((sub, i) =>
      checkStruct(sub, `${path}.subsections[${i}]`, depth + 1)
    );
  }
}

function streamError(summary: string, field: string, received?: string | number): WireError {
  return new WireError("E_STREAM", summary, { field, received });
}

function object(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw streamError("VM description: expected an object", path, typeof value);
  }
  return value as Record<string, unknown>;
}

function array(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) throw streamError("VM description: expected an array", path);
  return value;
}

function string(value: unknown, path: string): void {
  if (typeof value !== "string") throw streamError("VM description: expected a string", path);
}

function integer(value: unknown, path: string): void {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw streamError("VM description: expected a non-negative integer", path, String(value));
  }
}

/**
 * Finds the VM description trailer that ends `bytes`: offset of its `0x06`, preceded by
 * `QEMU_VM_EOF` and followed by a be32 length that reaches exactly the end. Returns the latest
 * such offset, or `undefined`.
 *
 * @example
 * ```ts
 * import { findVmDescription } from "./vmdesc.ts";
 * const json = new TextEncoder().encode('{"devices":[]}');
 * const tail = new Uint8Array([0, 6, 0, 0, 0, json.length, ...json]);
 * console.log(findVmDescription(tail)); // 1
 * ```
 */
export function findVmDescription(bytes: Uint8Array): number | undefined {
  const view = viewOf(bytes);
  for (let p = bytes.length - 6; p >= 1; p--) {
    if (bytes[p] !== QEMU_VM_VMDESCRIPTION || bytes[p - 1] !== QEMU_VM_EOF) continue;
    if (bytes[p + 5] !== 0x7b) continue;
    if (view.getUint32(p + 1) === bytes.length - p - 5) return p;
  }
  return undefined;
}

/**
 * Reads one vmstate described by `desc` from `cursor`: fields, then subsections.
 *
 * @throws {WireError} `E_STREAM` when the bytes do not follow the description, `E_TRUNCATED`
 * when they run out.
 * @example
 * ```ts
 * import { ByteCursor } from "./bytes.ts";
 * import { readVmState } from "./vmdesc.ts";
 * const desc = { vmsd_name: "d", version: 1, fields: [{ name: "x", type: "uint16", size: 2 }] };
 * console.log(readVmState(new ByteCursor(new Uint8Array([1, 2])), desc).fields[0].value); // 258
 * ```
 */
export function readVmState(
  cursor: ByteCursor,
  desc: VmDescStruct,
  limits: VmStateLimits = {},
  path: string = desc.vmsd_name,
): VmState {
  const budget = { fields: limits.maxFields ?? 1_000_000 };
  return readStruct(cursor, desc, path, 0, limits.maxDepth ?? 32, budget);
}

function readStruct(
  cursor: ByteCursor,
  desc: VmDescStruct,
  path: string,
  depth: number,
  maxDepth: number,
  budget: { fields: number },
): VmState {
  if (depth > maxDepth) throw streamError("vmstate nests too deep", path, depth);
  const fields: VmStateField[] = [];
  for (const field of desc.fields) {
    const count = field.array_len ?? 1;
    for (let i = 0; i < count; i++) {
      if (--budget.fields < 0) throw streamError("too many vmstate fields", path);
      const index = field.array_len !== undefined ? i : field.index;
      const at = index === undefined ? `${path}.${field.name}` : `${path}.${field.name}[${index}]`;
      const value = readField(cursor, field, at, depth, maxDepth, budget);
      fields.push(
        index === undefined ? { name: field.name, type: field.type, value } : {
          name: field.name,
          type: field.type,
          index,
          value,
        },
      );
    }
  }
  const subsections: VmSubsectionState[] = [];
  for (const sub of desc.subsections ?? []) {
    const at = `${path}/${sub.vmsd_name}`;
    const start = cursor.offset;
    const marker = cursor.readU8(at);
    if (marker !== QEMU_VM_SUBSECTION) {
      throw new WireError("E_STREAM", `subsection ${sub.vmsd_name} not found at ${start}`, {
        field: at,
        received: marker,
        expected: QEMU_VM_SUBSECTION,
      });
    }
    const name = latin1(cursor.bytes(cursor.readU8(`${at}.len`), `${at}.name`));
    if (name !== sub.vmsd_name) {
      throw new WireError("E_STREAM", "subsection name differs from its description", {
        field: at,
        received: JSON.stringify(name),
        expected: JSON.stringify(sub.vmsd_name),
      });
    }
    const versionId = cursor.readU32(`${at}.version_id`);
    const state = readStruct(cursor, sub, at, depth + 1, maxDepth, budget);
    subsections.push({ ...state, name, versionId });
  }
  return { vmsdName: desc.vmsd_name, version: desc.version, fields, subsections };
}

function readField(
  cursor: ByteCursor,
  field: VmDescField,
  path: string,
  depth: number,
  maxDepth: number,
  budget: { fields: number },
): VmStateValue {
  if (field.type === "struct" && field.struct) {
    const start = cursor.offset;
    const state = readStruct(cursor, field.struct, path, depth + 1, maxDepth, budget);
    // A compressed array's size is the first element's; other elements may differ.
    if (field.array_len === undefined && cursor.offset - start !== field.size) {
      throw new WireError("E_STREAM", "struct size differs from its description", {
        field: path,
        received: cursor.offset - start,
        expected: field.size,
      });
    }
    return state;
  }
  if (field.type === "capability") {
    return latin1(cursor.bytes(cursor.readU8(`${path}.len`), path));
  }
  const bytes = cursor.bytes(field.size, path);
  if (field.type === "nullptr") {
    if (bytes.length !== 1 || bytes[0] !== 0x30) {
      throw streamError("nullptr marker is not '0'", path, bytes[0]);
    }
    return null;
  }
  if (field.type === "bool" && bytes.length === 1) return bytes[0] !== 0;
  return decodeInteger(field.type, bytes) ?? bytes;
}

function decodeInteger(type: string, bytes: Uint8Array): number | bigint | undefined {
  const match = /^(u?)int(8|16|32|64)( equal| le)?$/.exec(type);
  if (!match || Number(match[2]) / 8 !== bytes.length) return undefined;
  const unsigned = match[1] === "u";
  const little = match[3] === " le";
  const view = viewOf(bytes);
  switch (bytes.length) {
    case 1:
      return unsigned ? view.getUint8(0) : view.getInt8(0);
    case 2:
      return unsigned ? view.getUint16(0, little) : view.getInt16(0, little);
    case 4:
      return unsigned ? view.getUint32(0, little) : view.getInt32(0, little);
    default:
      return unsigned ? view.getBigUint64(0, little) : view.getBigInt64(0, little);
  }
}

function latin1(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
  return text;
}
