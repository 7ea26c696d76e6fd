/**
 * Big-endian byte helpers and a bounds-checked cursor for the wire codec. Reads never run past the
 * end of their input: they throw an `E_TRUNCATED` {@linkcode WireError} naming the field instead.
 *
 * @module
 */

import { WireError } from "./errors.ts";

/**
 * Returns a DataView over exactly the bytes of `bytes` (no copy).
 *
 * @example
 * ```ts
 * import { viewOf } from "./bytes.ts";
 * console.log(viewOf(new Uint8Array([0, 1])).getUint16(0)); // 1
 * ```
 */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The big-endian unsigned 32-bit value at `at`, read byte by byte: no `DataView` to make, which
 * counts on a per-packet path. The caller has checked the bounds (`requireBytes`); a byte past
 * the end reads as 0.
 *
 * @example
 * ```ts
 * import { readUint32BE } from "./bytes.ts";
 * console.log(readUint32BE(new Uint8Array([0x11, 0x22, 0x33, 0x44]), 0).toString(16)); // "11223344"
 * ```
 */
export function readUint32BE(bytes: Uint8Array, at: number): number {
  return ((bytes[at] << 24) | (bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]) >>> 0;
}

/**
 * Throws `E_TRUNCATED` unless `bytes` holds `length` bytes from `offset`.
 *
 * @example
 * ```ts
 * import { requireBytes } from "./bytes.ts";
 * requireBytes(new Uint8Array(64), 0, 64, "init"); // passes
 * ```
 */
export function requireBytes(
  bytes: Uint8Array,
  offset: number,
  length: number,
  field: string,
): void {
  if (offset < 0 || offset + length > bytes.byteLength) {
    throw new WireError("E_TRUNCATED", `${field} needs ${length} bytes at offset ${offset}`, {
      field,
      received: Math.max(0, bytes.byteLength - Math.max(0, offset)),
      expected: length,
    });
  }
}

/**
 * Lower-case hex of `bytes`, no separators.
 *
 * @example
 * ```ts
 * import { toHex } from "./bytes.ts";
 * console.log(toHex(new Uint8Array([0x11, 0x22]))); // "1122"
 * ```
 */
export function toHex(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i++) text += HEX[bytes[i]];
  return text;
}

/**
 * Parses hex text into bytes. Whitespace and `#` comments to the end of a line are ignored and
 * `xx*N` repeats byte `xx` N times, so golden vector files can be annotated and stay short.
 *
 * @throws {TypeError} naming the offending text.
 * @example
 * ```ts
 * import { fromHex } from "./bytes.ts";
 * console.log(fromHex("11 22 # magic\n00*3")); // Uint8Array [0x11, 0x22, 0, 0, 0]
 * ```
 */
export function fromHex(text: string): Uint8Array {
  const tokens = text.replace(/#[^\n]*/g, " ").split(/\s+/).filter((t) => t.length > 0);
  const parts: number[] = [];
  for (const token of tokens) {
    const run = /^([0-9a-fA-F]{2})\*(\d+)$/.exec(token);
    if (run) {
      const count = Number(run[2]);
      if (count > 1 << 24) throw new TypeError(`hex run too long: ${token}`);
      for (let i = 0; i < count; i++) parts.push(parseInt(run[1], 16));
      continue;
    }
    if (token.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(token)) {
      throw new TypeError(`not an even run of hex digits: ${JSON.stringify(token.slice(0, 40))}`);
    }
    for (let i = 0; i < token.length; i += 2) parts.push(parseInt(token.slice(i, i + 2), 16));
  }
  return Uint8Array.from(parts);
}

/**
 * Decodes a NUL-terminated (or NUL-padded) Latin-1 string from `bytes`: the text before the first
 * NUL, or all of it. QEMU idstrs are plain ASCII, so no UTF-8 decoder is needed.
 *
 * @example
 * ```ts
 * import { readCString } from "./bytes.ts";
 * console.log(readCString(new Uint8Array([0x72, 0x61, 0x6d, 0, 0]))); // "ram"
 * ```
 */
export function readCString(bytes: Uint8Array): string {
  let end = bytes.indexOf(0);
  if (end < 0) end = bytes.length;
  return latin1(bytes, 0, end);
}

/**
 * Writes `text` as Latin-1 into `out`, NUL-padding the rest (like `strncpy`). Characters beyond
 * `out.length` are cut off, so a string of exactly `out.length` bytes is left unterminated.
 *
 * @example
 * ```ts
 * import { writeCString } from "./bytes.ts";
 * const field = new Uint8Array(8);
 * writeCString(field, "ram");
 * ```
 */
export function writeCString(out: Uint8Array, text: string): void {
  const n = Math.min(text.length, out.length);
  for (let i = 0; i < n; i++) out[i] = text.charCodeAt(i) & 0xff;
  out.fill(0, n);
}

/**
 * Latin-1 text of `bytes[start, end)`.
 *
 * @example
 * ```ts
 * import { latin1 } from "./bytes.ts";
 * console.log(latin1(new Uint8Array([0x51, 0x45]), 0, 2)); // "QE"
 * ```
 */
export function latin1(bytes: Uint8Array, start: number, end: number): string {
  let text = "";
  for (let i = start; i < end; i++) text += String.fromCharCode(bytes[i]);
  return text;
}

/**
 * Bytes of `text` as Latin-1 (one byte per character, cut to 8 bits).
 *
 * @example
 * ```ts
 * import { latin1Bytes } from "./bytes.ts";
 * console.log(latin1Bytes("ram").length); // 3
 * ```
 */
export function latin1Bytes(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

/**
 * A forward-only reader over a byte array. Every read checks bounds and names the field it was
 * reading when the data runs out.
 *
 * @example
 * ```ts
 * import { ByteCursor } from "./bytes.ts";
 * const cursor = new ByteCursor(new Uint8Array([0x11, 0x22, 0x33, 0x44, 7]));
 * console.log(cursor.readU32("magic").toString(16), cursor.readU8("id")); // "11223344" 7
 * ```
 */
export class ByteCursor {
  /** The bytes read from. */
  readonly data: Uint8Array;
  /** Offset of the next byte to read, relative to `data`. */
  offset: number;
  readonly #view: DataView;
  readonly #shortSignal: unknown;

  /**
   * @param shortSignal thrown as is instead of an `E_TRUNCATED` error when data runs out, for
   * incremental decoders that treat running out as "wait for more" and need it to be cheap.
   */
  constructor(data: Uint8Array, offset = 0, shortSignal?: unknown) {
    this.data = data;
    this.offset = offset;
    this.#view = viewOf(data);
    this.#shortSignal = shortSignal;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.data.byteLength - this.offset;
  }

  /** Reads one byte. */
  readU8(field: string): number {
    this.#need(1, field);
    return this.data[this.offset++];
  }

  /** Reads a big-endian u16. */
  readU16(field: string): number {
    this.#need(2, field);
    const value = this.#view.getUint16(this.offset);
    this.offset += 2;
    return value;
  }

  /** Reads a big-endian u32. */
  readU32(field: string): number {
    this.#need(4, field);
    const value = this.#view.getUint32(this.offset);
    this.offset += 4;
    return value;
  }

  /** Reads a big-endian u64 as a bigint. */
  readU64(field: string): bigint {
    this.#need(8, field);
    const value = this.#view.getBigUint64(this.offset);
    this.offset += 8;
    return value;
  }

  /** Returns a view (not a copy) of the next `length` bytes. */
  bytes(length: number, field: string): Uint8Array {
    this.#need(length, field);
    const view = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return view;
  }

  /** Returns a copy of the next `length` bytes. */
  readBytes(length: number, field: string): Uint8Array {
    return this.bytes(length, field).slice();
  }

  /** Skips `length` bytes. */
  skip(length: number, field: string): void {
    this.#need(length, field);
    this.offset += length;
  }

  #need(length: number, field: string): void {
    if (length < 0 || this.offset + length > this.data.byteLength) {
      if (this.#shortSignal !== undefined && length >= 0) throw this.#shortSignal;
      throw new WireError(
        "E_TRUNCATED",
        `data ends while reading ${field} at offset ${this.offset}`,
        { field, received: Math.max(0, this.remaining), expected: length },
      );
    }
  }
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
