/**
 * A read-ahead buffer over a {@linkcode ByteReader} for parsing many small records: the caller
 * makes sure enough bytes are buffered (one await only when they are not), then reads fields
 * synchronously. The main stream of a QEMU 7.2 source carries a 9-byte record per zero page
 * (about 250,000 per GiB); without read-ahead each would cost several awaits.
 *
 * @module
 */

import type { ByteReader } from "../net/read.ts";
import type { WaitOptions } from "../net/wait.ts";
import { WireError } from "../wire/errors.ts";

/** Default read-ahead size. */
export const STREAM_BUFFER_SIZE = 256 * 1024;

/**
 * Buffered big-endian reads.
 *
 * @example
 * ```ts
 * import { ByteReader } from "../net/read.ts";
 * import { StreamBuffer } from "./dst_stream_buffer.ts";
 * const reader = new ByteReader(new Blob([new Uint8Array([0, 0, 0, 7, 1])]).stream());
 * const buffer = new StreamBuffer(reader, (what) => ({ timeoutMs: 1000, what }));
 * if (buffer.available < 5) await buffer.fill(5, "record");
 * console.log(buffer.u32(), buffer.u8()); // 7 1
 * ```
 */
export class StreamBuffer {
  readonly #reader: ByteReader;
  readonly #wait: (what: string) => WaitOptions;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #start = 0;
  #end = 0;
  #eof = false;

  constructor(reader: ByteReader, wait: (what: string) => WaitOptions, size = STREAM_BUFFER_SIZE) {
    this.#reader = reader;
    this.#wait = wait;
    this.#bytes = new Uint8Array(size);
    this.#view = new DataView(this.#bytes.buffer);
  }

  /** Bytes buffered and not yet consumed. */
  get available(): number {
    return this.#end - this.#start;
  }

  /** Bytes consumed so far (the stream offset of the next byte). */
  get position(): number {
    return this.#reader.bytesRead - this.available;
  }

  /**
   * Buffers at least `n` bytes (`n` ≤ the buffer size).
   *
   * @throws {WireError} `E_TRUNCATED` naming `what` when the stream ends first, or the reader's
   * `E_TIMEOUT` / transport class.
   */
  async fill(n: number, what: string): Promise<void> {
    if (n > this.#bytes.length) throw new RangeError(`fill(${n}) exceeds the buffer`);
    if (this.available >= n) return;
    if (this.#start > 0) {
      this.#bytes.copyWithin(0, this.#start, this.#end);
      this.#end -= this.#start;
      this.#start = 0;
    }
    while (this.#end < n) {
      const got = this.#eof
        ? null
        : await this.#reader.read(this.#bytes.subarray(this.#end), this.#wait(what));
      if (got === null) {
        this.#eof = true;
        throw new WireError(
          "E_TRUNCATED",
          `main stream ended after ${this.#end} of ${n} bytes of ${what}`,
          { field: what, received: this.#end, expected: n },
        );
      }
      this.#end += got;
    }
  }

  /** One byte; the caller has filled it. */
  u8(): number {
    return this.#bytes[this.#start++];
  }

  /** Big-endian u16; the caller has filled it. */
  u16(): number {
    const value = this.#view.getUint16(this.#start);
    this.#start += 2;
    return value;
  }

  /** Big-endian u32; the caller has filled it. */
  u32(): number {
    const value = this.#view.getUint32(this.#start);
    this.#start += 4;
    return value;
  }

  /** The next byte without consuming it; the caller has filled it. */
  peekU8(): number {
    return this.#bytes[this.#start];
  }

  /** A view of the next `n` bytes, consumed; valid until the next fill. */
  take(n: number): Uint8Array {
    const view = this.#bytes.subarray(this.#start, this.#start + n);
    this.#start += n;
    return view;
  }

  /** Copies the next `target.length` bytes into `target`: buffered ones, then straight reads. */
  async readInto(target: Uint8Array, what: string): Promise<void> {
    const buffered = Math.min(this.available, target.length);
    target.set(this.#bytes.subarray(this.#start, this.#start + buffered));
    this.#start += buffered;
    if (buffered < target.length) {
      await this.#reader.readExactly(target.subarray(buffered), this.#wait(what));
    }
  }

  /** Skips `n` bytes. */
  async skip(n: number, what: string): Promise<void> {
    for (let left = n; left > 0;) {
      if (this.available === 0) await this.fill(1, what);
      const step = Math.min(left, this.available);
      this.#start += step;
      left -= step;
    }
  }

  /** Reads what is there into `target`: buffered bytes first; `null` at end of stream. */
  async read(target: Uint8Array, what: string): Promise<number | null> {
    if (this.available > 0) {
      const n = Math.min(this.available, target.length);
      target.set(this.#bytes.subarray(this.#start, this.#start + n));
      this.#start += n;
      return n;
    }
    if (this.#eof) return null;
    return await this.#reader.read(target, this.#wait(what));
  }

  /** Whether the stream has ended with nothing left to read. */
  async ended(what: string): Promise<boolean> {
    if (this.available > 0) return false;
    if (this.#eof) return true;
    return await this.#reader.ended(this.#wait(what));
  }
}
