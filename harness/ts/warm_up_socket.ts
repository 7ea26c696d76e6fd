/**
 * The socket pair a channel Worker's warm-up runs its real I/O path over (`dst_warm_up.ts`,
 * `src_warm_up.ts`): one end as the channel's `SyncSocket`, the other for the warm-up itself.
 *
 * @module
 */

import { AF_UNIX, type Libc, loadLibc, SOCK_CLOEXEC, SOCK_STREAM } from "../net/libc.ts";
import { SyncSocket } from "../net/native_sync.ts";
import { WireError } from "../wire/errors.ts";

/** Bound of a warm-up call: its peer is this thread, which has written or will read at once. */
const TIMEOUT_MS = 5_000;

/** A connected pair: `socket` stands for a channel, `peer` is the other end's descriptor. */
export interface WarmUpSocketPair extends Disposable {
  readonly lib: Libc;
  readonly socket: SyncSocket;
  readonly peer: number;
}

/**
 * Opens a socket pair whose first end is a `SyncSocket` made as a channel's is, with `abort`;
 * disposing closes both ends.
 *
 * @throws {Deno.errors.NotSupported} without Linux, libc or FFI.
 * @throws {WireError} `E_IO` when no pair can be made.
 * @example
 * ```ts ignore
 * import { openWarmUpSocketPair } from "./warm_up_socket.ts";
 * using pair = openWarmUpSocketPair(new Int32Array(new SharedArrayBuffer(4)));
 * pair.socket.writeAll(new Uint8Array(4));
 * ```
 */
export function openWarmUpSocketPair(abort: Int32Array): WarmUpSocketPair {
  const lib = loadLibc();
  if (!lib) throw new Deno.errors.NotSupported("the warm-up needs Linux, libc.so.6 and FFI");
  const fds = new Int32Array(2);
  if (lib.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, new Uint8Array(fds.buffer)) !== 0) {
    throw new WireError("E_IO", "warm-up: no socket pair could be made");
  }
  const close = () => {
    lib.close(fds[0]);
    lib.close(fds[1]);
  };
  try {
    // Name and bound cloned, as a channel's arrive in a message: V8 treats a literal string as
    // another type, and code optimised for one is thrown away at the other.
    const { timeoutMs, name } = structuredClone({ timeoutMs: TIMEOUT_MS, name: "warm-up channel" });
    const socket = new SyncSocket(fds[0], { timeoutMs, name, abort });
    return { lib, socket, peer: fds[1], [Symbol.dispose]: close };
  } catch (error) {
    close();
    throw error;
  }
}
