/**
 * TLS record framing (`type(1) version(2) length(2)` then `length` bytes), tracked over a byte
 * stream as it passes, without decrypting anything. Pure: no I/O.
 *
 * With TLS 1.2 the content type of every record is in the clear, so a close_notify is visible as an
 * alert record (type 21) right before the end of the stream. With TLS 1.3 every record after the
 * handshake is type 23; a close_notify is then a 19-byte record (2 alert bytes, 1 inner content
 * type, 16 bytes of AEAD tag).
 *
 * @module
 */

/** TLS content types. */
export const TlsContentType = {
  changeCipherSpec: 20,
  alert: 21,
  handshake: 22,
  applicationData: 23,
} as const;

/**
 * The start of a TLS 1.2 ClientHello as a client sends it: a handshake record header announcing
 * 512 bytes, the handshake header of a ClientHello (508 bytes), the client version. A server that
 * has read a prefix of it waits for the rest; the first 5 bytes are a whole record header.
 *
 * @example
 * ```ts
 * import { CLIENT_HELLO_PREFIX } from "./tls_record.ts";
 * console.log(CLIENT_HELLO_PREFIX[0]); // 22 (handshake)
 * ```
 */
export const CLIENT_HELLO_PREFIX: Uint8Array = Uint8Array.of(
  ...[TlsContentType.handshake, 0x03, 0x01, 0x02, 0x00],
  ...[0x01, 0x00, 0x01, 0xfc],
  ...[0x03, 0x03],
);

/** Length of a TLS 1.3 encrypted alert record with a 16-byte AEAD tag (AES-GCM, ChaCha20). */
export const TLS13_ALERT_RECORD_LENGTH = 19;

/** Largest record body allowed by RFC 8446 §5.2 (2^14 + 256). */
export const MAX_RECORD_BODY = 16384 + 256;

/** One complete record as seen on the wire. */
export interface TlsRecordInfo {
  readonly type: number;
  readonly version: number;
  /** Body length (without the 5-byte header). */
  readonly length: number;
  /** Offset of the record's first header byte in the stream. */
  readonly offset: number;
}

/**
 * Whether a record may be a close_notify: a TLS 1.2 alert, or a TLS 1.3 record of exactly the size
 * of an encrypted alert.
 *
 * @example
 * ```ts
 * import { mayBeCloseNotify } from "./tls_record.ts";
 * console.log(mayBeCloseNotify({ type: 21, version: 0x0303, length: 26, offset: 0 })); // true
 * ```
 */
export function mayBeCloseNotify(record: TlsRecordInfo): boolean {
  return record.type === TlsContentType.alert ||
    (record.type === TlsContentType.applicationData &&
      record.length === TLS13_ALERT_RECORD_LENGTH);
}

/**
 * Follows record boundaries over a stream fed in arbitrary chunks. Allocates nothing per chunk.
 *
 * @example
 * ```ts
 * import { TlsRecordTracker } from "./tls_record.ts";
 * const tracker = new TlsRecordTracker();
 * tracker.feed(new Uint8Array([21, 3, 3, 0, 2, 1, 0]));
 * console.log(tracker.lastRecord?.type, tracker.atBoundary); // 21 true
 * ```
 */
export class TlsRecordTracker {
  /** Called for each record once its last byte has been fed. */
  onRecord?: (record: TlsRecordInfo) => void;
  #header = new Uint8Array(5);
  #headerFill = 0;
  #headerStart = 0;
  #bodyLeft = 0;
  #current: { type: number; version: number; length: number; offset: number } | null = null;
  #offset = 0;
  #last: TlsRecordInfo | null = null;
  #records = 0;
  #alerts = 0;
  #invalid: string | null = null;

  /** Bytes fed so far. */
  get bytes(): number {
    return this.#offset;
  }

  /** Complete records seen. */
  get records(): number {
    return this.#records;
  }

  /** Complete alert records (type 21) seen. */
  get alerts(): number {
    return this.#alerts;
  }

  /** The last complete record, if any. */
  get lastRecord(): TlsRecordInfo | null {
    return this.#last;
  }

  /** True when the bytes fed so far end exactly at a record boundary. */
  get atBoundary(): boolean {
    return this.#headerFill === 0 && this.#bodyLeft === 0 && this.#current === null;
  }

  /** Why the stream is not TLS record framing, or `null` while it looks like it is. */
  get invalid(): string | null {
    return this.#invalid;
  }

  /** Offset in the stream where the record in progress (or the next one) starts. */
  get recordStart(): number {
    return this.#current?.offset ?? (this.#headerFill > 0 ? this.#headerStart : this.#offset);
  }

  /**
   * Feeds the next bytes of the stream. `onSpan`, if given, is called for each run of the chunk
   * that belongs to one record (header bytes included) with that record's content type, or -1
   * once the stream is not TLS.
   */
  feed(chunk: Uint8Array, onSpan?: (type: number, start: number, end: number) => void): void {
    let i = 0;
    const n = chunk.length;
    while (i < n && this.#invalid === null) {
      if (this.#current === null) {
        const start = i;
        if (this.#headerFill === 0) this.#headerStart = this.#offset + i;
        while (this.#headerFill < 5 && i < n) this.#header[this.#headerFill++] = chunk[i++];
        onSpan?.(this.#header[0], start, i);
        if (this.#headerFill < 5) break;
        const type = this.#header[0];
        const version = (this.#header[1] << 8) | this.#header[2];
        const length = (this.#header[3] << 8) | this.#header[4];
        const offset = this.#headerStart;
        if (type < 20 || type > 24 || this.#header[1] !== 3 || length > MAX_RECORD_BODY + 1024) {
          this.#invalid = `not a TLS record at offset ${offset}: type ${type}, version ` +
            `0x${version.toString(16)}, length ${length}`;
          break;
        }
        this.#current = { type, version, length, offset };
        this.#bodyLeft = length;
        this.#headerFill = 0;
      }
      const take = Math.min(this.#bodyLeft, n - i);
      if (take > 0) onSpan?.(this.#current.type, i, i + take);
      i += take;
      this.#bodyLeft -= take;
      if (this.#bodyLeft === 0) this.#complete();
    }
    if (this.#invalid !== null && i < n) onSpan?.(-1, i, n);
    this.#offset += n;
  }

  #complete(): void {
    const record = this.#current!;
    this.#current = null;
    this.#last = record;
    this.#records++;
    if (record.type === TlsContentType.alert) this.#alerts++;
    this.onRecord?.(record);
  }
}
