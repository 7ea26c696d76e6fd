/**
 * Blocking reads and writes on a socket lent to a Worker (`NativeTcpConn.lend`): the Worker's
 * thread makes the C library's `recv`/`send`/`sendmsg` calls itself, so every channel copies on
 * its own core, as QEMU's per-channel threads do, without a thread hop per call. Each call is
 * bounded by `SO_RCVTIMEO`/`SO_SNDTIMEO`; the lending thread ends a call early by shutting the
 * socket down and raising the shared abort flag.
 *
 * @module
 */

import { WireError } from "../wire/errors.ts";
import {
  hungUp,
  type Libc,
  loadLibc,
  MAX_RETRIES,
  MSG_NOSIGNAL,
  MSG_WAITALL,
  msSinceDataReceived,
  setTimeoutOption,
  SO_RCVTIMEO,
  SO_SNDTIMEO,
} from "./libc.ts";

/** Options of a {@linkcode SyncSocket}. */
export interface SyncSocketOptions {
  /** Bound of each read or write without progress, in milliseconds. */
  readonly timeoutMs: number;
  /** Name in error messages, e.g. `multifd channel 1`. */
  readonly name: string;
  /** Set (non-zero at index 0) by the lending thread to stop: calls end with `E_TIMEOUT`. */
  readonly abort?: Int32Array;
}

const IOVEC_SIZE = 16;
const MSGHDR_SIZE = 56;
/** Linux's `IOV_MAX`. */
const MAX_IOVECS = 1024;

/**
 * A lent socket read and written with blocking calls.
 *
 * @example
 * ```ts ignore
 * import { SyncSocket } from "./native_sync.ts";
 * const socket = new SyncSocket(fd, { timeoutMs: 30_000, name: "multifd channel 0" });
 * const header = new Uint8Array(12);
 * if (socket.readFull(header) < header.length) console.log("end of stream");
 * ```
 */
export class SyncSocket {
  readonly fd: number;
  readonly #lib: Libc;
  readonly #options: SyncSocketOptions;
  #bytesRead = 0;
  #bytesWritten = 0;
  // Reused by every `writeAllv`, which runs once per packet: 32-bit halves, as BigInts allocate.
  readonly #iov = new Uint32Array(MAX_IOVECS * (IOVEC_SIZE / 4));
  readonly #msghdr = new Uint32Array(MSGHDR_SIZE / 4);
  readonly #msghdrBytes = new Uint8Array(this.#msghdr.buffer);

  constructor(fd: number, options: SyncSocketOptions) {
    const lib = loadLibc();
    if (!lib) throw new Deno.errors.NotSupported("SyncSocket needs Linux, libc.so.6 and FFI");
    this.fd = fd;
    this.#lib = lib;
    this.#options = options;
    setTimeoutOption(lib, fd, SO_RCVTIMEO, options.timeoutMs);
    setTimeoutOption(lib, fd, SO_SNDTIMEO, options.timeoutMs);
    // msg_iov: the iovec array, which stays put; msg_iovlen is set per call.
    setWord(this.#msghdr, 2, addressOf(new Uint8Array(this.#iov.buffer)));
  }

  /** Bytes read so far. */
  get bytesRead(): number {
    return this.#bytesRead;
  }

  /** Bytes written so far. */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /** Reads at least one byte into the first `length` bytes of `buffer`; 0 at end of stream. */
  read(buffer: Uint8Array, what = "data", length: number = buffer.length): number {
    const want = Math.min(length, buffer.length);
    if (want <= 0) return 0;
    return this.#recv(buffer, want, 0, what);
  }

  /** Fills `buffer`; returns fewer bytes only at end of stream. */
  readFull(buffer: Uint8Array, what = "data"): number {
    let got = 0;
    while (got < buffer.length) {
      const rest = got === 0 ? buffer : buffer.subarray(got);
      const n = this.#recv(rest, rest.length, MSG_WAITALL, what);
      if (n === 0) break;
      got += n;
      if (got < buffer.length) this.#throwIfStalled(what, got, buffer.length);
    }
    return got;
  }

  /**
   * After a short `MSG_WAITALL` read (its timeout or a signal ended it): `SO_RCVTIMEO` bounds the
   * whole call, so its bytes may all have come at its start and nothing since. The kernel's time
   * since the last data tells such a stall from a slow stream, which goes on.
   */
  #throwIfStalled(what: string, got: number, want: number): void {
    const idleMs = msSinceDataReceived(this.#lib, this.fd);
    if (idleMs !== null && idleMs >= this.#options.timeoutMs * 0.9) {
      throw this.#timedOut(what, got, want);
    }
  }

  /** Writes all of `buffer`. */
  writeAll(buffer: Uint8Array, what = "data"): void {
    for (let done = 0, attempt = 0; done < buffer.length; attempt++) {
      this.#throwIfAborted(what);
      const started = performance.now();
      const n = Number(
        this.#lib.sendBlocking(
          this.fd,
          buffer.subarray(done),
          BigInt(buffer.length - done),
          MSG_NOSIGNAL,
        ),
      );
      if (n < 0) this.#failed("write", what, started, done, buffer.length, attempt);
      else done += n;
      this.#bytesWritten += Math.max(0, n);
    }
  }

  /** Writes all of `buffers` in order, with one `sendmsg` per up to 1024 of them. */
  writeAllv(buffers: readonly Uint8Array[], what = "data"): void {
    const total = buffers.reduce((sum, b) => sum + b.length, 0);
    const iov = this.#iov;
    const msghdr = this.#msghdr;
    const msghdrBytes = this.#msghdrBytes;
    let index = 0;
    let offset = 0;
    let written = 0;
    for (let attempt = 0; index < buffers.length; attempt++) {
      this.#throwIfAborted(what);
      let count = 0;
      for (let i = index; i < buffers.length && count < MAX_IOVECS; i++, count++) {
        const buffer = buffers[i];
        const skip = i === index ? offset : 0;
        const length = buffer.length - skip;
        setWord(iov, count * 2, length === 0 ? 0 : addressOf(buffer) + skip);
        setWord(iov, count * 2 + 1, length);
      }
      setWord(msghdr, 3, count);
      const started = performance.now();
      let n = Number(this.#lib.sendmsgBlocking(this.fd, msghdrBytes, MSG_NOSIGNAL));
      if (n < 0) {
        this.#failed("write", what, started, written, total, attempt);
        continue;
      }
      written += n;
      this.#bytesWritten += n;
      // Step past what was written: whole buffers, then into a partly written one.
      while (index < buffers.length && n >= buffers[index].length - offset) {
        n -= buffers[index].length - offset;
        index++;
        offset = 0;
      }
      offset += n;
    }
  }

  #recv(buffer: Uint8Array, length: number, flags: number, what: string): number {
    for (let attempt = 0;; attempt++) {
      this.#throwIfAborted(what);
      const started = performance.now();
      const n = Number(this.#lib.recvBlocking(this.fd, buffer, BigInt(length), flags));
      if (n >= 0) {
        // A shutdown by the lending thread reads as end of stream: tell it apart.
        if (n === 0) this.#throwIfAborted(what);
        this.#bytesRead += n;
        return n;
      }
      this.#failed("read", what, started, 0, length, attempt);
    }
  }

  /** A call returned -1: a reset, a timeout, or an interrupted call (then it is retried). */
  #failed(
    op: "read" | "write",
    what: string,
    started: number,
    got: number,
    want: number,
    attempt = 0,
  ): void {
    this.#throwIfAborted(what);
    const waited = performance.now() - started;
    if (hungUp(this.#lib, this.fd) || attempt >= MAX_RETRIES) {
      throw new WireError("E_IO", `${op} failed on ${this.#options.name}: connection reset`, {
        field: what,
        received: got,
        expected: want,
      });
    }
    if (waited >= this.#options.timeoutMs * 0.9) throw this.#timedOut(what, got, want);
  }

  /** Worded as a `Deadline` words it, so both paths report a stall alike. */
  #timedOut(what: string, got: number, want: number): WireError {
    const where = `${what} on ${this.#options.name}`;
    return new WireError(
      "E_TIMEOUT",
      `timed out after ${this.#options.timeoutMs} ms waiting for ${where} (${got} of ${want} bytes)`,
      { field: where, expected: `within ${this.#options.timeoutMs} ms` },
    );
  }

  #throwIfAborted(what: string): void {
    if (this.#options.abort && Atomics.load(this.#options.abort, 0) !== 0) {
      throw new WireError("E_TIMEOUT", `${what} on ${this.#options.name} aborted`, {
        field: what,
      });
    }
  }
}

/** Where each buffer's memory starts: a pointer lookup costs more than packing a page does. */
const baseAddresses = new WeakMap<ArrayBufferLike, number>();

/**
 * The address of `view`'s first byte. Reading `view.buffer` moves a small typed array's bytes
 * off V8's heap, where no buffer's bytes move, so an address looked up once stays right.
 */
function addressOf(view: Uint8Array): number {
  const buffer = view.buffer;
  let base = baseAddresses.get(buffer);
  if (base === undefined) {
    base = Number(Deno.UnsafePointer.value(Deno.UnsafePointer.of(new Uint8Array(buffer))));
    baseAddresses.set(buffer, base);
  }
  return base + view.byteOffset;
}

/** Sets the 64-bit little-endian word `index` of `words` to `value` (below 2⁵³). */
function setWord(words: Uint32Array, index: number, value: number): void {
  words[index * 2] = value >>> 0;
  words[index * 2 + 1] = Math.floor(value / 0x1_0000_0000);
}
