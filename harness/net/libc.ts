/**
 * The C library's socket calls through Deno's FFI, shared by `native_tcp.ts` (non-blocking
 * sockets for the JavaScript thread, with one `poll` on Deno's blocking pool waiting for all of
 * them) and `native_sync.ts` (blocking calls, for a Worker that owns a channel). Linux only; the constants are those of x86-64 and AArch64, which
 * agree on every one used here.
 *
 * @module
 */

/** `AF_UNIX`. */
export const AF_UNIX = 1;
/** `AF_INET`. */
export const AF_INET = 2;
/** `SOCK_STREAM`. */
export const SOCK_STREAM = 1;
/** `SOCK_CLOEXEC`. */
export const SOCK_CLOEXEC = 0o2000000;
/** `SOCK_NONBLOCK`, `O_NONBLOCK`, `EFD_NONBLOCK`. */
export const O_NONBLOCK = 0o4000;
/** `F_GETFL`. */
export const F_GETFL = 3;
/** `F_SETFL`. */
export const F_SETFL = 4;
/** `SO_ERROR`. */
export const SO_ERROR = 4;
/** `MSG_DONTWAIT`. */
export const MSG_DONTWAIT = 0x40;
/** `POLLOUT`. */
export const POLLOUT = 0x4;
/** `POLLNVAL`. */
export const POLLNVAL = 0x20;
/** `SOL_SOCKET`. */
export const SOL_SOCKET = 1;
/** `SO_REUSEADDR`. */
export const SO_REUSEADDR = 2;
/** `SO_RCVTIMEO` (the 64-bit `struct timeval` form). */
export const SO_RCVTIMEO = 20;
/** `SO_SNDTIMEO` (the 64-bit `struct timeval` form). */
export const SO_SNDTIMEO = 21;
/** `IPPROTO_TCP`. */
export const IPPROTO_TCP = 6;
/** `TCP_NODELAY`. */
export const TCP_NODELAY = 1;
/** `TCP_NOTSENT_LOWAT`: writable only while fewer unsent bytes than this wait in the socket. */
export const TCP_NOTSENT_LOWAT = 25;
/** `TCP_INFO`: the connection's `struct tcp_info`. */
const TCP_INFO = 11;
/** Offset of `tcpi_last_data_recv` (u32, milliseconds) in `struct tcp_info`. */
const TCPI_LAST_DATA_RECV = 52;
/** `MSG_WAITALL`: a `recv` that returns only once the buffer is full (or at end, error, timeout). */
export const MSG_WAITALL = 0x100;
/** `MSG_NOSIGNAL`: a send to a closed peer fails instead of raising `SIGPIPE`. */
export const MSG_NOSIGNAL = 0x4000;
/** `SHUT_RD`. */
export const SHUT_RD = 0;
/** `SHUT_WR`. */
export const SHUT_WR = 1;
/** `SHUT_RDWR`. */
export const SHUT_RDWR = 2;
/** `POLLIN`. */
export const POLLIN = 0x1;
/** `POLLERR`. */
export const POLLERR = 0x8;
/** `POLLHUP`. */
export const POLLHUP = 0x10;
/** Size of `struct sockaddr_in`. */
export const SOCKADDR_IN_SIZE = 16;
/** Retries of a call that failed on a socket that is still up (an interrupted call). */
export const MAX_RETRIES = 16;

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  socketpair: { parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  getpeername: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  accept4: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  send: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  /** The one call that blocks a pool thread: the reactor's wait on every socket at once. */
  pollWait: {
    name: "poll",
    parameters: ["buffer", "u64", "i32"],
    result: "i32",
    nonblocking: true,
  },
  recvBlocking: {
    name: "recv",
    parameters: ["i32", "buffer", "usize", "i32"],
    result: "isize",
  },
  sendBlocking: {
    name: "send",
    parameters: ["i32", "buffer", "usize", "i32"],
    result: "isize",
  },
  sendmsgBlocking: { name: "sendmsg", parameters: ["i32", "buffer", "i32"], result: "isize" },
  sched_yield: { parameters: [], result: "i32" },
  /** For guest RAM (`harness/ram/huge_pages.ts`), not sockets. */
  madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
} as const;

/** The symbols loaded from the C library. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let libc: Libc | null | undefined;

/**
 * The C library, loaded once per thread; `null` when it cannot be (not Linux on x86-64 or
 * AArch64, no FFI permission, no `libc.so.6`).
 *
 * @example
 * ```ts
 * import { loadLibc } from "./libc.ts";
 * const lib = loadLibc();
 * console.log(lib === null || typeof lib.recv === "function"); // true
 * ```
 */
export function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (Deno.build.os !== "linux") return null;
  if (Deno.build.arch !== "x86_64" && Deno.build.arch !== "aarch64") return null;
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
  try {
    libc = Deno.dlopen("libc.so.6", SYMBOLS).symbols;
  } catch {
    libc = null;
  }
  return libc;
}

/**
 * Sets an `int` socket option.
 *
 * @example
 * ```ts ignore
 * setOption(lib, fd, IPPROTO_TCP, TCP_NODELAY, true);
 * ```
 */
export function setOption(lib: Libc, fd: number, level: number, name: number, on: boolean): void {
  setIntOption(lib, fd, level, name, on ? 1 : 0);
}

/**
 * Sets an `int` socket option to `value`; returns whether the kernel took it.
 *
 * @example
 * ```ts ignore
 * setIntOption(lib, fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, 65_536);
 * ```
 */
export function setIntOption(
  lib: Libc,
  fd: number,
  level: number,
  name: number,
  value: number,
): boolean {
  const bytes = new Int32Array([value]);
  return lib.setsockopt(fd, level, name, new Uint8Array(bytes.buffer), 4) === 0;
}

/**
 * Reads an `int` socket option, or `null` when the call fails.
 *
 * @example
 * ```ts ignore
 * getIntOption(lib, fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT); // 65536
 * ```
 */
export function getIntOption(lib: Libc, fd: number, level: number, name: number): number | null {
  const value = new Int32Array(1);
  return getOption(lib, fd, level, name, new Uint8Array(value.buffer)) === 4 ? value[0] : null;
}

/** Fills `into` with a socket option; returns the length the kernel wrote, `null` on failure. */
function getOption(
  lib: Libc,
  fd: number,
  level: number,
  name: number,
  into: Uint8Array,
): number | null {
  const length = new Uint32Array([into.length]);
  const ok = lib.getsockopt(fd, level, name, into, new Uint8Array(length.buffer)) === 0;
  return ok ? length[0] : null;
}

/**
 * Milliseconds since the connection last received data (`tcpi_last_data_recv` of `TCP_INFO`);
 * `null` when `fd` is not a TCP socket.
 *
 * @example
 * ```ts ignore
 * if ((msSinceDataReceived(lib, fd) ?? 0) >= 30_000) console.log("stalled");
 * ```
 */
export function msSinceDataReceived(lib: Libc, fd: number): number | null {
  const info = new Uint8Array(104);
  const length = getOption(lib, fd, IPPROTO_TCP, TCP_INFO, info);
  if (length === null || length < TCPI_LAST_DATA_RECV + 4) return null;
  return new DataView(info.buffer).getUint32(TCPI_LAST_DATA_RECV, true);
}

/**
 * Sets `SO_RCVTIMEO` or `SO_SNDTIMEO` to `ms` milliseconds (0: no bound).
 *
 * @example
 * ```ts ignore
 * setTimeoutOption(lib, fd, SO_RCVTIMEO, 30_000);
 * ```
 */
export function setTimeoutOption(lib: Libc, fd: number, name: number, ms: number): void {
  const bounded = Number.isFinite(ms) ? Math.max(1, Math.ceil(ms)) : 0;
  const timeval = new BigInt64Array([
    BigInt(Math.floor(bounded / 1000)),
    BigInt((bounded % 1000) * 1000),
  ]);
  lib.setsockopt(fd, SOL_SOCKET, name, new Uint8Array(timeval.buffer), 16);
}

/**
 * Whether `fd` has been hung up or has an error pending (POLLHUP or POLLERR), without waiting.
 * A failed call's `errno` cannot be read through FFI on another thread, so this tells a reset
 * peer from an interrupted call.
 *
 * @example
 * ```ts ignore
 * if (hungUp(lib, fd)) throw new Deno.errors.ConnectionReset("recv failed");
 * ```
 */
export function hungUp(lib: Libc, fd: number): boolean {
  const pollfd = new Uint8Array(8);
  const view = new DataView(pollfd.buffer);
  view.setInt32(0, fd, true);
  view.setInt16(4, 0, true);
  if (lib.poll(pollfd, 1n, 0) < 0) return true;
  return (view.getInt16(6, true) & (POLLHUP | POLLERR)) !== 0;
}
