/**
 * How a source channel's thread paces its writes so that the receiver copies each packet while
 * it is still in cache, as QEMU's `multifd_send_thread` does by waiting for its next packet.
 *
 * Left unpaced, a channel thread that never waits keeps its socket full ahead of the peer's
 * window. Two costs follow on loopback (`bench/README.md` has the figures):
 *
 * - unsent bytes are pushed out by the receiver's own window updates, so the receiver runs the
 *   sender's transmit path (`tcp_ack` → `__tcp_push_pending_frames`) for about a third of the
 *   bytes;
 * - the receiver copies each packet long after it was written, from memory instead of cache.
 *
 * @module
 */

import { IPPROTO_TCP, type Libc, setIntOption, TCP_NOTSENT_LOWAT } from "../net/libc.ts";

/** Unsent bytes a channel's socket may hold before its writer waits. */
export const CHANNEL_UNSENT_LIMIT = 64 * 1024;

/**
 * Bounds the unsent bytes of channel socket `fd` to {@linkcode CHANNEL_UNSENT_LIMIT}
 * (`TCP_NOTSENT_LOWAT`). Returns whether the kernel took it: false for a socket that is not TCP.
 *
 * @example
 * ```ts ignore
 * import { loadLibc } from "../net/libc.ts";
 * import { limitUnsent } from "./src_channel_pacing.ts";
 * limitUnsent(loadLibc()!, fd);
 * ```
 */
export function limitUnsent(lib: Libc, fd: number): boolean {
  return setIntOption(lib, fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, CHANNEL_UNSENT_LIMIT);
}

/**
 * Gives the CPU to any other runnable thread after a packet (`sched_yield`): on a shared machine
 * that is the receiver the packet just woke. Without one it returns at once.
 *
 * @example
 * ```ts ignore
 * import { loadLibc } from "../net/libc.ts";
 * import { yieldAfterPacket } from "./src_channel_pacing.ts";
 * yieldAfterPacket(loadLibc()!);
 * ```
 */
export function yieldAfterPacket(lib: Libc): void {
  lib.sched_yield();
}
