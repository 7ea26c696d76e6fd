/**
 * Plain TCP through the C library (FFI): non-blocking sockets read and written by the JavaScript
 * thread, readiness from one `poll` for all of them (`native_reactor.ts`). What Deno's own sockets
 * cannot do is the point: a connection's descriptor can be lent to a Worker, which then reads or
 * writes it with blocking calls (`native_sync.ts`), so several channels are copied by several
 * cores at once, as QEMU's per-channel threads do.
 *
 * The connections behave like `Deno.TcpConn` where the harness relies on it: `read` resolves
 * `null` at FIN, `closeWrite` sends FIN, `close` with unread bytes resets the connection, and a
 * read or write pending at `close` rejects (`Deno.errors.Interrupted`). A failed call cannot
 * report its `errno` (it is thread-local to a pool thread), so failures are told apart by the
 * socket's state: `ConnectionReset` for a reset or failed peer, `BrokenPipe` for a failed send.
 *
 * Linux only (x86-64 and AArch64 share every constant used), IPv4 only, and only with the FFI
 * permission; {@linkcode nativeTcpAvailable} says whether it can be used, and
 * `MIGWIRE_NATIVE_TCP=0` turns it off.
 *
 * @module
 */

import { Reactor } from "./native_reactor.ts";
import {
  AF_INET,
  F_GETFL,
  F_SETFL,
  getIntOption,
  hungUp,
  IPPROTO_TCP,
  type Libc,
  loadLibc,
  MSG_DONTWAIT,
  MSG_NOSIGNAL,
  O_NONBLOCK,
  POLLIN,
  POLLOUT,
  setOption,
  SHUT_RD,
  SHUT_RDWR,
  SHUT_WR,
  SO_ERROR,
  SO_REUSEADDR,
  SOCK_CLOEXEC,
  SOCK_STREAM,
  SOCKADDR_IN_SIZE,
  SOL_SOCKET,
  TCP_NODELAY,
} from "./libc.ts";

const LISTEN_BACKLOG = 128;

/**
 * Whether native TCP can be used here: Linux, the FFI permission, a loadable `libc.so.6`, and
 * `MIGWIRE_NATIVE_TCP` not set to `0`.
 *
 * @example
 * ```ts
 * import { nativeTcpAvailable } from "./native_tcp.ts";
 * console.log(typeof nativeTcpAvailable()); // "boolean"
 * ```
 */
export function nativeTcpAvailable(): boolean {
  let setting: string | undefined;
  try {
    setting = Deno.env.get("MIGWIRE_NATIVE_TCP");
  } catch {
    setting = undefined; // No env permission: the default.
  }
  if (setting === "0") return false;
  return loadLibc() !== null;
}

function requireLibc(): Libc {
  const lib = loadLibc();
  if (!lib) throw new Deno.errors.NotSupported("native TCP needs Linux, libc.so.6 and --allow-ffi");
  return lib;
}

/** Where to listen or connect: an IPv4 address and a port. */
export interface NativeTcpAddress {
  /** Dotted IPv4 address, e.g. `127.0.0.1`. */
  readonly hostname: string;
  readonly port: number;
}

/** The four octets of a dotted IPv4 address, or `null`. */
function ipv4Octets(hostname: string): number[] | null {
  const octets = hostname.split(".").map((part) => /^\d{1,3}$/.test(part) ? Number(part) : NaN);
  return octets.length === 4 && octets.every((o) => o >= 0 && o <= 255) ? octets : null;
}

/**
 * Whether native TCP can serve `hostname`: it is available ({@linkcode nativeTcpAvailable}) and
 * the address is dotted IPv4.
 *
 * @example
 * ```ts
 * import { nativeTcpServes } from "./native_tcp.ts";
 * console.log(nativeTcpServes("localhost")); // false: names are left to Deno's sockets
 * ```
 */
export function nativeTcpServes(hostname: string): boolean {
  return ipv4Octets(hostname) !== null && nativeTcpAvailable();
}

/** A `sockaddr_in` for `hostname:port`; `TypeError` naming the value if it is not dotted IPv4. */
function sockaddr(address: NativeTcpAddress): Uint8Array {
  const octets = ipv4Octets(address.hostname);
  if (!octets) {
    throw new TypeError(`hostname must be a dotted IPv4 address, got ${address.hostname}`);
  }
  if (!Number.isInteger(address.port) || address.port < 0 || address.port > 65535) {
    throw new RangeError(`port must be an integer in 0..65535, got ${address.port}`);
  }
  const bytes = new Uint8Array(SOCKADDR_IN_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, AF_INET, true);
  view.setUint16(2, address.port, false);
  bytes.set(octets, 4);
  return bytes;
}

/** The local or peer address of `fd` as a `Deno.NetAddr`. */
function addressOf(lib: Libc, fd: number, which: "getsockname" | "getpeername"): Deno.NetAddr {
  const bytes = new Uint8Array(SOCKADDR_IN_SIZE);
  const length = new Uint32Array([SOCKADDR_IN_SIZE]);
  if (lib[which](fd, bytes, new Uint8Array(length.buffer)) !== 0) {
    return { transport: "tcp", hostname: "0.0.0.0", port: 0 };
  }
  const view = new DataView(bytes.buffer);
  return {
    transport: "tcp",
    hostname: Array.from(bytes.subarray(4, 8)).join("."),
    port: view.getUint16(2, false),
  };
}

/** The reactor of this thread, made on first use. */
let reactor: Reactor | undefined;

function reactorOf(lib: Libc): Reactor {
  return reactor ??= new Reactor(lib);
}

function setBlocking(lib: Libc, fd: number, blocking: boolean): void {
  const flags = lib.fcntl(fd, F_GETFL, 0);
  lib.fcntl(fd, F_SETFL, blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK);
}

/**
 * A file descriptor that is closed only once no call or loan uses it any more, so nothing ever
 * works on a number the kernel has handed out again.
 */
class Descriptor {
  readonly lib: Libc;
  readonly fd: number;
  #uses = 0;
  #lentForWrite = 0;
  #closing = false;
  #released = false;

  constructor(lib: Libc, fd: number) {
    this.lib = lib;
    this.fd = fd;
  }

  get closing(): boolean {
    return this.#closing;
  }

  /** Runs `op` (which may wait for readiness), keeping the descriptor open until it is done. */
  async use<T>(op: () => Promise<T>): Promise<T> {
    if (this.#closing) throw new Deno.errors.BadResource("socket is closed");
    this.#uses++;
    try {
      return await op();
    } finally {
      this.#uses--;
      this.#releaseIfIdle();
    }
  }

  /** Waits until the socket is ready for `events`, or is being closed. */
  ready(events: number): Promise<void> {
    return reactorOf(this.lib).wait(this.fd, events);
  }

  /** A use by another thread until {@linkcode giveBack}; the socket blocks meanwhile. */
  lend(write: boolean): number {
    if (this.#closing) throw new Deno.errors.BadResource("socket is closed");
    this.#uses++;
    if (write) this.#lentForWrite++;
    setBlocking(this.lib, this.fd, true);
    return this.fd;
  }

  /** Ends a use begun with {@linkcode lend}. */
  giveBack(write: boolean): void {
    this.#uses--;
    if (write) this.#lentForWrite--;
    if (!this.#closing) setBlocking(this.lib, this.fd, false);
    this.#releaseIfIdle();
  }

  /**
   * Closes the descriptor now, or wakes what uses it and closes it after: waiters here are
   * released; a Worker blocked in a lent call is woken by `shutdown` (`SHUT_RD` sends nothing, so
   * the final `close` still decides between FIN and reset; a blocked writer needs `SHUT_RDWR`).
   */
  close(): void {
    if (this.#closing) return;
    this.#closing = true;
    if (this.#uses === 0) return this.#release();
    this.lib.shutdown(this.fd, this.#lentForWrite > 0 ? SHUT_RDWR : SHUT_RD);
    reactorOf(this.lib).release(this.fd);
  }

  #releaseIfIdle(): void {
    if (this.#closing && this.#uses === 0) this.#release();
  }

  #release(): void {
    if (this.#released) return;
    this.#released = true;
    reactor?.release(this.fd);
    this.lib.close(this.fd);
  }
}

/**
 * A non-blocking TCP connection driven by this thread, whose descriptor can be lent to a Worker.
 *
 * @example Echo a few bytes through a native listener
 * ```ts ignore
 * import { connectNative, listenNative } from "./native_tcp.ts";
 * const listener = listenNative({ hostname: "127.0.0.1", port: 0 });
 * const [client, server] = await Promise.all([connectNative(listener.addr), listener.accept()]);
 * await client.write(new Uint8Array([1, 2, 3]));
 * console.log(await server.read(new Uint8Array(3))); // 3
 * client.close();
 * server.close();
 * listener.close();
 * ```
 */
export class NativeTcpConn {
  readonly localAddr: Deno.NetAddr;
  readonly remoteAddr: Deno.NetAddr;
  readonly #fd: Descriptor;

  /** Wraps a connected, non-blocking descriptor. */
  constructor(lib: Libc, fd: number) {
    this.#fd = new Descriptor(lib, fd);
    this.localAddr = addressOf(lib, fd, "getsockname");
    this.remoteAddr = addressOf(lib, fd, "getpeername");
  }

  /**
   * Lends the descriptor to a Worker, which reads (`"read"`) or writes (`"write"`) it with
   * {@linkcode SyncSocket} (blocking) until {@linkcode NativeTcpConn.giveBack}. This thread must
   * not use the connection meanwhile; `close` wakes the Worker's blocked calls (`shutdown`) and
   * closes the descriptor once it is given back.
   */
  lend(use: "read" | "write"): number {
    return this.#fd.lend(use === "write");
  }

  /** Ends a loan made with {@linkcode NativeTcpConn.lend}. */
  giveBack(use: "read" | "write"): void {
    this.#fd.giveBack(use === "write");
  }

  /** Reads at least one byte into `buffer`; `null` at end of stream. */
  read(buffer: Uint8Array): Promise<number | null> {
    if (buffer.length === 0) return Promise.resolve(0);
    return this.#fd.use(() => this.#recv(buffer));
  }

  /** Writes some of `buffer` (waiting until the socket takes a byte) and returns the count. */
  write(buffer: Uint8Array): Promise<number> {
    const fd = this.#fd;
    return fd.use(async () => {
      for (;;) {
        const n = Number(
          fd.lib.send(fd.fd, buffer, BigInt(buffer.length), MSG_DONTWAIT | MSG_NOSIGNAL),
        );
        if (n >= 0) return n;
        if (fd.closing) throw new Deno.errors.Interrupted("connection closed while writing");
        if (hungUp(fd.lib, fd.fd)) {
          throw new Deno.errors.BrokenPipe("send failed: the peer closed or reset the connection");
        }
        await fd.ready(POLLOUT);
        if (fd.closing) throw new Deno.errors.Interrupted("connection closed while writing");
      }
    });
  }

  /** Sends FIN; reading goes on. */
  closeWrite(): Promise<void> {
    if (this.#fd.closing) return Promise.reject(new Deno.errors.BadResource("socket is closed"));
    this.#fd.lib.shutdown(this.#fd.fd, SHUT_WR);
    return Promise.resolve();
  }

  /** Sets `TCP_NODELAY`. */
  setNoDelay(noDelay = true): void {
    if (!this.#fd.closing) setOption(this.#fd.lib, this.#fd.fd, IPPROTO_TCP, TCP_NODELAY, noDelay);
  }

  /** Closes the connection; a pending read or write rejects. Safe to call twice. */
  close(): void {
    this.#fd.close();
  }

  async #recv(buffer: Uint8Array): Promise<number | null> {
    const fd = this.#fd;
    for (;;) {
      const n = Number(fd.lib.recv(fd.fd, buffer, BigInt(buffer.length), MSG_DONTWAIT));
      if (fd.closing) throw new Deno.errors.Interrupted("connection closed while reading");
      if (n > 0) return n;
      if (n === 0) return null;
      // -1: nothing to read yet, or a failure; a failed socket is hung up.
      if (hungUp(fd.lib, fd.fd)) {
        throw new Deno.errors.ConnectionReset("recv failed: the peer reset the connection");
      }
      await fd.ready(POLLIN);
      if (fd.closing) throw new Deno.errors.Interrupted("connection closed while reading");
    }
  }
}

/**
 * A non-blocking listening socket.
 *
 * @example
 * ```ts ignore
 * import { listenNative } from "./native_tcp.ts";
 * const listener = listenNative({ hostname: "127.0.0.1", port: 0 });
 * console.log(listener.addr.port > 0); // true
 * listener.close();
 * ```
 */
export class NativeTcpListener {
  readonly addr: Deno.NetAddr;
  readonly #lib: Libc;
  readonly #fd: Descriptor;

  /** Wraps a bound, listening, non-blocking descriptor. */
  constructor(lib: Libc, fd: number) {
    this.#lib = lib;
    this.#fd = new Descriptor(lib, fd);
    this.addr = addressOf(lib, fd, "getsockname");
  }

  /** The next connection. Rejects with `BadResource` once the listener is closed. */
  accept(): Promise<NativeTcpConn> {
    const fd = this.#fd;
    return fd.use(async () => {
      for (let failures = 0; !fd.closing;) {
        const conn = this.#lib.accept4(fd.fd, null, null, SOCK_CLOEXEC | O_NONBLOCK);
        if (conn >= 0) return new NativeTcpConn(this.#lib, conn);
        // Nothing pending, or a connection that failed before it was accepted: wait, retry.
        if (hungUp(this.#lib, fd.fd) || ++failures > 1000) break;
        await fd.ready(POLLIN);
      }
      throw new Deno.errors.BadResource("listener is closed");
    });
  }

  /** Stops listening; a pending accept rejects. Safe to call twice. */
  close(): void {
    this.#fd.close();
  }
}

/**
 * Listens on `hostname:port` (port 0: the kernel picks one), with `SO_REUSEADDR` as Deno sets it.
 *
 * @throws {Deno.errors.NotSupported} without native TCP; `AddrInUse` when the bind fails.
 * @example
 * ```ts ignore
 * import { listenNative } from "./native_tcp.ts";
 * const listener = listenNative({ hostname: "127.0.0.1", port: 0 });
 * listener.close();
 * ```
 */
export function listenNative(address: NativeTcpAddress): NativeTcpListener {
  const lib = requireLibc();
  const addr = sockaddr(address);
  const fd = lib.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | O_NONBLOCK, 0);
  if (fd < 0) throw new Deno.errors.NotSupported("socket() failed");
  setOption(lib, fd, SOL_SOCKET, SO_REUSEADDR, true);
  if (lib.bind(fd, addr, SOCKADDR_IN_SIZE) !== 0 || lib.listen(fd, LISTEN_BACKLOG) !== 0) {
    lib.close(fd);
    throw new Deno.errors.AddrInUse(`cannot listen on ${address.hostname}:${address.port}`);
  }
  return new NativeTcpListener(lib, fd);
}

/**
 * Connects to `hostname:port`.
 *
 * @throws {Deno.errors.ConnectionRefused} when the connection fails.
 * @example
 * ```ts ignore
 * import { connectNative } from "./native_tcp.ts";
 * const conn = await connectNative({ hostname: "127.0.0.1", port: 4444 });
 * conn.close();
 * ```
 */
export async function connectNative(address: NativeTcpAddress): Promise<NativeTcpConn> {
  const lib = requireLibc();
  const addr = sockaddr(address);
  const fd = lib.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | O_NONBLOCK, 0);
  if (fd < 0) throw new Deno.errors.NotSupported("socket() failed");
  const descriptor = new Descriptor(lib, fd);
  let connected = false;
  try {
    connected = await descriptor.use(async () => {
      // Non-blocking: 0 at once on loopback, else EINPROGRESS; writable once it is decided.
      if (lib.connect(fd, addr, SOCKADDR_IN_SIZE) !== 0) await descriptor.ready(POLLOUT);
      const error = getIntOption(lib, fd, SOL_SOCKET, SO_ERROR);
      return !descriptor.closing && error === 0 && addressOf(lib, fd, "getpeername").port !== 0;
    });
  } finally {
    if (!connected) descriptor.close();
  }
  if (!connected) {
    throw new Deno.errors.ConnectionRefused(
      `connect to ${address.hostname}:${address.port} failed`,
    );
  }
  return new NativeTcpConn(lib, fd);
}
