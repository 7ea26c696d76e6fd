/**
 * VM UUIDs as QEMU puts them on the wire: 16 raw bytes in RFC 4122 order (`qemu_uuid.data`), shown
 * as lower-case 8-4-4-4-12 text (`UUID_FMT`).
 *
 * @module
 */

/** Length of a UUID on the wire. */
export const UUID_SIZE = 16;

/** The UUID QEMU uses when `-uuid` is not given: all zeros. */
export const NIL_UUID: Readonly<Uint8Array> = new Uint8Array(UUID_SIZE);

/** The text form of {@linkcode NIL_UUID}. */
export const NIL_UUID_TEXT = "00000000-0000-0000-0000-000000000000";

const UUID_TEXT = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/**
 * Parses UUID text (8-4-4-4-12, either case) into its 16 wire bytes.
 *
 * @throws {TypeError} naming the value when the text is not a UUID.
 * @example
 * ```ts
 * import { parseUuid } from "./uuid.ts";
 * console.log(parseUuid("12345678-9abc-def0-1122-334455667788")[0]); // 0x12
 * ```
 */
export function parseUuid(text: string): Uint8Array {
  if (typeof text !== "string" || !UUID_TEXT.test(text)) {
    throw new TypeError(
      `uuid must be 8-4-4-4-12 hex digits like ${NIL_UUID_TEXT}, got ${JSON.stringify(text)}`,
    );
  }
  const digits = text.replaceAll("-", "");
  const out = new Uint8Array(UUID_SIZE);
  for (let i = 0; i < UUID_SIZE; i++) out[i] = parseInt(digits.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/**
 * Formats 16 UUID bytes like QEMU's `UUID_FMT`: lower-case 8-4-4-4-12.
 *
 * @throws {TypeError} when `bytes` is not 16 bytes long.
 * @example
 * ```ts
 * import { formatUuid, NIL_UUID } from "./uuid.ts";
 * console.log(formatUuid(NIL_UUID)); // "00000000-0000-0000-0000-000000000000"
 * ```
 */
export function formatUuid(bytes: Uint8Array): string {
  if (bytes.length !== UUID_SIZE) {
    throw new TypeError(`uuid must be ${UUID_SIZE} bytes, got ${bytes.length}`);
  }
  let hex = "";
  for (let i = 0; i < UUID_SIZE; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) hex += "-";
    hex += bytes[i].toString(16).padStart(2, "0");
  }
  return hex;
}

/**
 * Whether two 16-byte UUIDs are equal (QEMU's `memcmp(msg.uuid, &qemu_uuid, 16)`).
 *
 * @example
 * ```ts
 * import { NIL_UUID, uuidEquals } from "./uuid.ts";
 * console.log(uuidEquals(NIL_UUID, new Uint8Array(16))); // true
 * ```
 */
export function uuidEquals(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
