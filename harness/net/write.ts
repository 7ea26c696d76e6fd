/**
 * Writing whole buffers to a socket or stream, with a bound on every wait.
 *
 * @module
 */

import { classOf, WireError } from "../wire/errors.ts";
import { Deadline, DEFAULT_TIMEOUT_MS, type WaitOptions } from "./wait.ts";

/** Anything with `Deno.Conn`'s `write`: writes some bytes of a buffer and returns the count. */
export interface RawWriter {
  write(buffer: Uint8Array): Promise<number>;
}

/** What a {@linkcode ByteWriter} writes to. */
export type ByteSink = WritableStream<Uint8Array> | RawWriter;

function isRawWriter(sink: ByteSink): sink is RawWriter {
  return typeof (sink as Partial<RawWriter>).write === "function";
}

/** Options of a {@linkcode ByteWriter}. */
export interface ByteWriterOptions {
  /** Bound of each wait when the call gives none. Default {@linkcode DEFAULT_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  /** Name of the stream in error messages, e.g. `multifd channel 1`. */
  readonly name?: string;
}

/**
 * Writes whole buffers in order, each within a bound. A write that times out stays in flight and
 * the next write waits for it first, so the byte order on the wire never changes. The caller
 * must not modify a buffer until its write has resolved.
 *
 * @example
 * ```ts
 * import { ByteWriter } from "./write.ts";
 * const chunks: Uint8Array[] = [];
 * const sink = new WritableStream<Uint8Array>({ write: (c) => void chunks.push(c) });
 * const writer = new ByteWriter(sink, { name: "main channel" });
 * await writer.write(new Uint8Array([0x51, 0x45, 0x56, 0x4d]), { timeoutMs: 1000 });
 * await writer.close();
 * console.log(chunks.length);
 * ```
 */
export class ByteWriter {
  readonly #raw?: RawWriter;
  readonly #stream?: WritableStreamDefaultWriter<Uint8Array>;
  readonly #timeoutMs: number;
  readonly #name?: string;
  #pending: Promise<void> | null = null;
  #error: WireError | null = null;
  #bytesWritten = 0;

  constructor(sink: ByteSink, options: ByteWriterOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#name = options.name;
    // Tested by shape, as `ByteReader` does: `instanceof WritableStream` loads Deno's streams
    // module, which a raw socket never needs.
    if (isRawWriter(sink)) this.#raw = sink;
    else this.#stream = sink.getWriter();
  }

  /** Bytes the transport has accepted so far. */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /** Writes all of `data`. `E_TIMEOUT` if the peer does not take it within the bound. */
  async write(data: Uint8Array, options?: WaitOptions): Promise<void> {
    const what = options?.what ?? "data";
    const deadline = new Deadline(
      { ...options, what: this.#name ? `${what} to ${this.#name}` : what },
      this.#timeoutMs,
      "data",
    );
    deadline.throwIfAborted();
    deadline.progress = () => ` (writing ${data.length} bytes)`;
    try {
      if (this.#pending) await deadline.race(this.#pending);
      if (this.#error) throw this.#error;
      const write = this.#start(data);
      this.#pending = write;
      await deadline.race(write);
      if (this.#pending === write) this.#pending = null;
      if (this.#error) throw this.#error;
    } finally {
      deadline.clear();
    }
  }

  /** Waits for writes in flight and closes the stream (stream sinks only; sockets close themselves). */
  async close(options?: WaitOptions): Promise<void> {
    const deadline = new Deadline(options, this.#timeoutMs, "close");
    try {
      if (this.#pending) await deadline.race(this.#pending);
      if (this.#stream) await deadline.race(this.#stream.close());
    } finally {
      deadline.clear();
    }
  }

  /** Releases the stream writer's lock (stream sinks only). */
  releaseLock(): void {
    this.#stream?.releaseLock();
  }

  /** Never rejects: failures are stored so a write nobody awaits cannot go unhandled. */
  async #start(data: Uint8Array): Promise<void> {
    try {
      if (this.#stream) {
        await this.#stream.write(data);
        this.#bytesWritten += data.length;
      } else {
        let offset = 0;
        while (offset < data.length) {
          const n = await this.#raw!.write(data.subarray(offset));
          offset += n;
          this.#bytesWritten += n;
        }
      }
    } catch (error) {
      const where = this.#name ? ` to ${this.#name}` : "";
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      this.#error = new WireError(
        classOf(error),
        `write failed${where} after ${this.#bytesWritten} bytes: ${message}`,
        { field: this.#name ?? "stream", cause: error },
      );
    }
  }
}
