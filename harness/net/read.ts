/**
 * Reading exact byte counts from a stream or a socket, with a bound on every wait.
 *
 * @module
 */

import { classOf, WireError } from "../wire/errors.ts";
import { Deadline, DEFAULT_TIMEOUT_MS, type WaitOptions } from "./wait.ts";

/** Anything with `Deno.Conn`'s `read`: fills a buffer, `null` at end of stream. */
export interface RawReader {
  read(buffer: Uint8Array): Promise<number | null>;
}

/** What a {@linkcode ByteReader} reads from. */
export type ByteSource = ReadableStream<Uint8Array> | RawReader;

function isRawReader(source: ByteSource): source is RawReader {
  return typeof (source as Partial<RawReader>).read === "function";
}

/** Options of a {@linkcode ByteReader}. */
export interface ByteReaderOptions {
  /** Bound of each wait when the call gives none. Default {@linkcode DEFAULT_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  /** Size of the internal buffer (socket and BYOB sources); also the largest peek. Default 256 KiB. */
  readonly bufferSize?: number;
  /** Name of the stream in error messages, e.g. `main channel`. */
  readonly name?: string;
  /**
   * Raw sources only: a read that still needs at least this many bytes when nothing is buffered
   * goes straight from the source into the caller's buffer, so the rest of a large payload
   * crosses memory once. A wait that ends (timeout, abort) while such a direct read is in flight
   * fails the reader for good: the read may still land in the caller's buffer. Default: off.
   */
  readonly directReadMin?: number;
}

/** A wait on a read, and whether the reader may read past what the call needs. */
export interface ReadOptions extends WaitOptions {
  /**
   * `false`: read no more than this call needs when nothing is buffered, so the bytes that
   * follow (e.g. a payload read with {@linkcode ByteReaderOptions.directReadMin} straight into
   * its destination) stay in the socket; a number: at most that many bytes more. Only for
   * readers with direct reads; others always fill their buffer. Default `true`: fill the buffer.
   */
  readonly readAhead?: boolean | number;
}

type Mode = "raw" | "byob" | "default";

/**
 * Reads exact byte counts into caller-provided buffers, with a timeout or `AbortSignal` on every
 * wait. It reads from a `Deno.Conn`-like `read()` (preferred for sockets: Deno's `conn.readable`
 * closes the whole socket at end of stream, so half-closed connections cannot be written after),
 * from a byte stream through a BYOB reader, or from any other stream through a default reader
 * with a carry-over of partly used chunks.
 *
 * A wait that times out leaves the read in flight; the next call picks up its bytes, so nothing is
 * lost (a read straight into a caller's buffer is the exception, see
 * {@linkcode ByteReaderOptions.directReadMin}). End of stream before the count is an `E_TRUNCATED` error, a transport failure carries
 * the canonical class of {@linkcode classOf} (e.g. `E_TLS_PREMATURE_EOF` for a TLS peer that
 * closed without close_notify).
 *
 * @example Read a 4-byte magic after peeking at it
 * ```ts
 * import { ByteReader } from "./read.ts";
 * const stream = new Blob([new Uint8Array([0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3])]).stream();
 * const reader = new ByteReader(stream, { name: "main channel" });
 * const first4 = await reader.peek(4, { timeoutMs: 1000, what: "channel magic" });
 * console.log(first4); // still unread
 * const header = await reader.readExactly(new Uint8Array(8), { what: "stream header" });
 * console.log(header);
 * ```
 */
export class ByteReader {
  readonly #mode: Mode;
  readonly #raw?: RawReader;
  readonly #byob?: ReadableStreamBYOBReader;
  readonly #default?: ReadableStreamDefaultReader<Uint8Array>;
  readonly #timeoutMs: number;
  readonly #name?: string;
  readonly #directReadMin: number;
  #buffer: Uint8Array;
  /** Unread bytes: a view of `#buffer`, or of a chunk of a default-reader stream. */
  #unread: Uint8Array;
  #pending: Promise<void> | null = null;
  #eof = false;
  #error: WireError | null = null;
  #bytesRead = 0;

  constructor(source: ByteSource, options: ByteReaderOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#name = options.name;
    const size = options.bufferSize ?? 256 * 1024;
    if (!Number.isInteger(size) || size < 16 || size > 64 * 1024 * 1024) {
      throw new RangeError(`bufferSize must be an integer in 16..64 MiB, got ${size}`);
    }
    const direct = options.directReadMin;
    if (direct !== undefined && !(Number.isInteger(direct) && direct >= 1 && direct <= size)) {
      throw new RangeError(`directReadMin must be an integer in 1..bufferSize, got ${direct}`);
    }
    // Tested by shape, not `instanceof ReadableStream`: that global loads Deno's whole streams
    // module on first use, which a raw socket never needs.
    if (!isRawReader(source)) {
      let byob: ReadableStreamBYOBReader | undefined;
      try {
        byob = source.getReader({ mode: "byob" });
      } catch {
        // Not a byte stream: chunks are used in place, no internal buffer needed.
      }
      if (byob) {
        this.#mode = "byob";
        this.#byob = byob;
      } else {
        this.#mode = "default";
        this.#default = source.getReader();
      }
    } else {
      this.#mode = "raw";
      this.#raw = source;
    }
    this.#directReadMin = this.#mode === "raw" ? direct ?? Infinity : Infinity;
    this.#buffer = new Uint8Array(this.#mode === "default" ? 0 : size);
    this.#unread = this.#buffer.subarray(0, 0);
  }

  /** The stream's name in error messages, if it was given one. */
  get name(): string | undefined {
    return this.#name;
  }

  /** Bytes handed to the consumer so far (peeked bytes count once they are read). */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** Bytes already received and not yet consumed. */
  get buffered(): number {
    return this.#pending ? 0 : this.#unread.length;
  }

  /**
   * Fills `target` completely. `E_TRUNCATED` if the stream ends first, `E_TIMEOUT` if a wait
   * exceeds the bound. Returns `target`.
   */
  async readExactly(target: Uint8Array, options?: ReadOptions): Promise<Uint8Array> {
    const got = await this.#readInto(target, options, false);
    if (got === null) throw this.#truncated(0, target.length, options);
    return target;
  }

  /**
   * Like {@linkcode ByteReader.readExactly}, but returns `null` when the stream ends cleanly
   * before the first byte (end of stream at a record boundary).
   */
  async readExactlyOrEnd(target: Uint8Array, options?: ReadOptions): Promise<Uint8Array | null> {
    const got = await this.#readInto(target, options, true);
    return got === null ? null : target;
  }

  /** Reads at least one byte into `target` and returns the count, or `null` at end of stream. */
  async read(target: Uint8Array, options?: WaitOptions): Promise<number | null> {
    if (target.length === 0) return 0;
    if (this.#unread.length === 0 || this.#pending) {
      const deadline = this.#deadline(options);
      try {
        await this.#settle(deadline);
        if (this.#unread.length === 0) {
          if (this.#eof) return null;
          if (target.length >= this.#directReadMin) {
            return await this.#readDirect(target, deadline);
          }
          await this.#fill(deadline, false);
          if (this.#unread.length === 0) return null;
        }
      } finally {
        deadline.clear();
      }
    }
    const n = Math.min(target.length, this.#unread.length);
    target.set(this.#unread.subarray(0, n));
    this.#consume(n);
    return n;
  }

  /**
   * Returns the next `n` bytes without consuming them: the consumer reads them again. The view
   * is valid until the next call on this reader. `n` is bounded by the buffer size. With
   * `readAhead: false` it reads no more than `n` bytes.
   */
  async peek(n: number, options?: ReadOptions): Promise<Uint8Array> {
    if (this.#mode !== "default" && n > this.#buffer.length) {
      throw new RangeError(`peek of ${n} bytes exceeds the buffer of ${this.#buffer.length}`);
    }
    const deadline = this.#deadline(options);
    deadline.progress = () => ` (${this.#unread.length} of ${n} bytes)`;
    try {
      await this.#settle(deadline);
      while (this.#unread.length < n) {
        if (this.#eof) throw this.#truncated(this.#unread.length, n, options);
        await this.#fill(deadline, true, n - this.#unread.length + this.#aheadLimit(options));
      }
    } finally {
      deadline.clear();
    }
    return this.#unread.subarray(0, n);
  }

  /**
   * Waits until a byte is available (`false`) or the stream has ended (`true`), consuming nothing.
   * Use it to expect a clean end of stream at a record boundary.
   */
  async ended(options?: WaitOptions): Promise<boolean> {
    const deadline = this.#deadline(options);
    try {
      await this.#settle(deadline);
      while (this.#unread.length === 0 && !this.#eof) await this.#fill(deadline, false);
    } finally {
      deadline.clear();
    }
    return this.#unread.length === 0;
  }

  /**
   * Hands over the bytes received and not yet consumed (a copy), consuming them: for a caller that
   * goes on reading the source by other means. Throws while a read is in flight, since its bytes
   * would be lost.
   */
  takeBuffered(): Uint8Array {
    if (this.#pending) throw new Error("takeBuffered() while a read is in flight");
    const bytes = this.#unread.slice();
    this.#consume(bytes.length);
    return bytes;
  }

  /** Cancels the underlying stream (stream sources only) and drops buffered bytes. */
  async cancel(reason?: unknown): Promise<void> {
    this.#unread = this.#unread.subarray(0, 0);
    this.#eof = true;
    await (this.#byob ?? this.#default)?.cancel(reason).catch(() => {});
  }

  /** Releases the stream reader's lock (stream sources only); a read in flight is abandoned. */
  releaseLock(): void {
    (this.#byob ?? this.#default)?.releaseLock();
  }

  async #readInto(
    target: Uint8Array,
    options: ReadOptions | undefined,
    endOk: boolean,
  ): Promise<number | null> {
    const want = target.length;
    let got = 0;
    // Fast path: everything is buffered, no wait and no timer.
    if (!this.#pending && this.#unread.length >= want) {
      target.set(this.#unread.subarray(0, want));
      this.#consume(want);
      return want;
    }
    const deadline = this.#deadline(options);
    deadline.progress = () => ` (${got} of ${want} bytes)`;
    try {
      await this.#settle(deadline);
      while (got < want) {
        if (this.#unread.length === 0) {
          if (this.#eof) {
            if (got === 0 && endOk) return null;
            throw this.#truncated(got, want, options);
          }
          if (want - got >= this.#directReadMin) {
            got += (await this.#readDirect(target.subarray(got), deadline)) ?? 0;
          } else {
            await this.#fill(deadline, false, want - got + this.#aheadLimit(options));
          }
          continue;
        }
        const n = Math.min(want - got, this.#unread.length);
        target.set(this.#unread.subarray(0, n), got);
        this.#consume(n);
        got += n;
      }
    } finally {
      deadline.clear();
    }
    return got;
  }

  /** Bytes a fill may take past what a read needs. */
  #aheadLimit(options: ReadOptions | undefined): number {
    // Forgoing read-ahead only pays where the next read can go direct.
    const ahead = options?.readAhead ?? true;
    if (ahead === true || this.#directReadMin === Infinity) return Infinity;
    return ahead === false ? 0 : Math.max(0, ahead);
  }

  #consume(n: number): void {
    this.#unread = this.#unread.subarray(n);
    this.#bytesRead += n;
  }

  #deadline(options: WaitOptions | undefined): Deadline {
    const what = options?.what ?? "data";
    const deadline = new Deadline(
      { ...options, what: this.#name ? `${what} on ${this.#name}` : what },
      this.#timeoutMs,
    );
    deadline.throwIfAborted();
    return deadline;
  }

  /** Waits for a read left in flight by an earlier call that timed out. */
  async #settle(deadline: Deadline): Promise<void> {
    if (this.#pending) await deadline.race(this.#pending);
  }

  /** One underlying read. Throws the stored transport error once the unread bytes are used up. */
  async #fill(deadline: Deadline, append: boolean, limit = Infinity): Promise<void> {
    if (this.#error) throw this.#error;
    this.#pending ??= this.#startRead(append, limit).finally(() => {
      this.#pending = null;
    });
    await deadline.race(this.#pending);
    if (this.#error && this.#unread.length === 0) throw this.#error;
  }

  /**
   * One underlying read straight into `target` (nothing is buffered). Returns the count, or `null`
   * at end of stream; a transport failure is stored and thrown like a buffered read's.
   */
  async #readDirect(target: Uint8Array, deadline: Deadline): Promise<number | null> {
    if (this.#error) throw this.#error;
    const read = this.#raw!.read(target).catch((error) => {
      this.#error = this.#transportError(error);
      return null;
    });
    let n: number | null;
    try {
      n = await deadline.race(read);
    } catch (error) {
      // The read stays in flight and may still write into `target`: nothing can be read after it.
      this.#eof = true;
      this.#error = error instanceof WireError ? error : this.#transportError(error);
      throw error;
    }
    if (n === null) {
      this.#eof = true;
      if (this.#error) throw this.#error;
      return null;
    }
    this.#bytesRead += n;
    return n;
  }

  /** Never rejects: failures are stored, so a read nobody awaits any more cannot go unhandled. */
  async #startRead(append: boolean, limit: number): Promise<void> {
    try {
      if (this.#mode === "default") await this.#readChunk(append);
      else await this.#readIntoBuffer(append, limit);
    } catch (error) {
      this.#eof = true;
      this.#error = this.#transportError(error);
    }
  }

  async #readChunk(append: boolean): Promise<void> {
    for (;;) {
      const { value, done } = await this.#default!.read();
      if (done) {
        this.#eof = true;
        return;
      }
      if (value.length === 0) continue;
      if (append && this.#unread.length > 0) {
        const joined = new Uint8Array(this.#unread.length + value.length);
        joined.set(this.#unread);
        joined.set(value, this.#unread.length);
        this.#unread = joined;
      } else {
        this.#unread = value;
      }
      return;
    }
  }

  async #readIntoBuffer(append: boolean, limit: number): Promise<void> {
    const kept = append ? this.#unread.length : 0;
    if (kept > 0 && this.#unread.byteOffset !== this.#buffer.byteOffset) {
      this.#buffer.copyWithin(0, this.#unread.byteOffset, this.#unread.byteOffset + kept);
    }
    const room = this.#buffer.subarray(kept, Math.min(this.#buffer.length, kept + limit));
    if (this.#mode === "raw") {
      const n = await this.#raw!.read(room);
      if (n === null) {
        this.#eof = true;
        this.#unread = this.#buffer.subarray(0, kept);
      } else {
        this.#unread = this.#buffer.subarray(0, kept + n);
      }
      return;
    }
    // BYOB: the buffer is transferred and comes back as a new object with the same bytes.
    const { value, done } = await this.#byob!.read(room);
    if (value) {
      this.#buffer = new Uint8Array(value.buffer);
      this.#unread = this.#buffer.subarray(0, kept + value.length);
    } else {
      // Cancelled: the buffer is gone with the stream.
      this.#buffer = new Uint8Array(this.#buffer.length === 0 ? 16 : this.#buffer.length);
      this.#unread = this.#buffer.subarray(0, 0);
    }
    if (done) this.#eof = true;
  }

  #truncated(got: number, want: number, options: WaitOptions | undefined): WireError {
    if (this.#error) return this.#error;
    const what = options?.what ?? "data";
    const where = this.#name ? ` on ${this.#name}` : "";
    return new WireError(
      "E_TRUNCATED",
      `end of stream${where} after ${got} of ${want} bytes of ${what}`,
      { field: what, received: got, expected: want },
    );
  }

  #transportError(error: unknown): WireError {
    if (error instanceof WireError) return error;
    const errorClass = classOf(error);
    const where = this.#name ? ` on ${this.#name}` : "";
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return new WireError(
      errorClass,
      `read failed${where} after ${this.#bytesRead + this.#unread.length} bytes: ${message}`,
      { field: this.#name ?? "stream", cause: error },
    );
  }
}
