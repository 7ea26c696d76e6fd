/**
 * The source's main-channel writer: a buffered big-endian writer (QEMU's `QEMUFile` put side).
 * Records are appended to a buffer without allocating; `flush()` hands the buffer to the socket
 * and continues in a second one, so packing never waits for a write unless both are in flight.
 *
 * @module
 */

import type { ByteWriter } from "../net/write.ts";
import type { WaitOptions } from "../net/wait.ts";

/** Bytes buffered before {@linkcode MainStreamWriter.maybeFlush} flushes. */
export const MAIN_FLUSH_THRESHOLD = 256 * 1024;

/**
 * Buffered writer of the main migration stream.
 *
 * @example
 * ```ts
 * import { MainStreamWriter } from "./src_stream.ts";
 * const chunks: Uint8Array[] = [];
 * const sink = { write: (data: Uint8Array) => (chunks.push(data.slice()), Promise.resolve()) };
 * const main = new MainStreamWriter(sink);
 * main.u32(0x5145564d);
 * main.u32(3);
 * await main.flush();
 * console.log(chunks[0].length); // 8
 * ```
 */
export class MainStreamWriter {
  readonly #sink: Pick<ByteWriter, "write">;
  readonly #options?: WaitOptions;
  #buffers: [Uint8Array, Uint8Array];
  #buffer: Uint8Array;
  #view: DataView;
  #pos = 0;
  #inflight: Promise<void> | null = null;
  #written = 0;

  constructor(
    sink: Pick<ByteWriter, "write">,
    options?: WaitOptions,
    size = 2 * MAIN_FLUSH_THRESHOLD,
  ) {
    this.#sink = sink;
    this.#options = options;
    this.#buffers = [new Uint8Array(size), new Uint8Array(size)];
    this.#buffer = this.#buffers[0];
    this.#view = new DataView(this.#buffer.buffer);
  }

  /** Bytes handed to the socket so far plus bytes buffered. */
  get position(): number {
    return this.#written + this.#pos;
  }

  /** Appends one byte. */
  u8(value: number): void {
    this.#reserve(1);
    this.#buffer[this.#pos++] = value;
  }

  /** Appends a big-endian u16. */
  u16(value: number): void {
    this.#reserve(2);
    this.#view.setUint16(this.#pos, value);
    this.#pos += 2;
  }

  /** Appends a big-endian u32. */
  u32(value: number): void {
    this.#reserve(4);
    this.#view.setUint32(this.#pos, value >>> 0);
    this.#pos += 4;
  }

  /** Appends a big-endian u64 given as a number below 2^53 (no BigInt on the hot path). */
  u64(value: number): void {
    this.#reserve(8);
    this.#view.setUint32(this.#pos, Math.floor(value / 0x1_0000_0000));
    this.#view.setUint32(this.#pos + 4, value >>> 0);
    this.#pos += 8;
  }

  /** Appends bytes. */
  bytes(data: Uint8Array): void {
    this.#reserve(data.length);
    this.#buffer.set(data, this.#pos);
    this.#pos += data.length;
  }

  /** Appends a length-prefixed (u8) Latin-1 string, QEMU's idstr encoding. */
  idstr(text: string): void {
    if (text.length > 255) throw new RangeError(`idstr longer than 255: ${text.length}`);
    this.#reserve(1 + text.length);
    this.#buffer[this.#pos++] = text.length;
    for (let i = 0; i < text.length; i++) this.#buffer[this.#pos++] = text.charCodeAt(i) & 0xff;
  }

  /** Flushes when at least {@linkcode MAIN_FLUSH_THRESHOLD} bytes are buffered. */
  maybeFlush(): Promise<void> | undefined {
    return this.#pos >= MAIN_FLUSH_THRESHOLD ? this.flush(false) : undefined;
  }

  /**
   * Hands the buffered bytes to the socket. With `wait` (default) resolves once the socket took
   * them; otherwise once the previous write is done and this one has started.
   */
  async flush(wait = true): Promise<void> {
    if (this.#inflight) {
      const previous = this.#inflight;
      this.#inflight = null;
      await previous;
    }
    if (this.#pos > 0) {
      const data = this.#buffer.subarray(0, this.#pos);
      this.#written += this.#pos;
      this.#swap();
      const write = this.#sink.write(data, this.#options);
      if (wait) {
        await write;
      } else {
        // Awaited by the next flush; a migration that fails first must not leave it unhandled.
        write.catch(() => {});
        this.#inflight = write;
      }
    }
  }

  #swap(): void {
    this.#buffer = this.#buffer === this.#buffers[0] ? this.#buffers[1] : this.#buffers[0];
    this.#view = new DataView(this.#buffer.buffer, this.#buffer.byteOffset, this.#buffer.length);
    this.#pos = 0;
  }

  #reserve(n: number): void {
    if (this.#pos + n <= this.#buffer.length) return;
    // Grow this buffer only: records are never split, and a flush must not be awaited here.
    const size = Math.max(this.#buffer.length * 2, this.#pos + n);
    const grown = new Uint8Array(size);
    grown.set(this.#buffer.subarray(0, this.#pos));
    if (this.#buffer === this.#buffers[0]) this.#buffers[0] = grown;
    else this.#buffers[1] = grown;
    this.#buffer = grown;
    this.#view = new DataView(grown.buffer);
  }
}
