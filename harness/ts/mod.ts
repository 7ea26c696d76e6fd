/**
 * The TypeScript implementation of both sides of QEMU's multifd migration protocol. On plain TCP
 * with native sockets (`harness/net/native_tcp.ts`) each multifd channel is received or sent by a
 * Worker of its own, reading and writing guest RAM in a `SharedArrayBuffer`; TLS channels and
 * scripted per-packet hooks stay on the main thread. Both paths run the same channel logic.
 *
 * @example
 * ```ts ignore
 * import { tsImplementation } from "./mod.ts";
 * const ts = tsImplementation({ policy: "arrival-order" });
 * console.log(ts.name); // "ts-arrival-order"
 * ```
 *
 * @module
 */

export * from "./destination.ts";
export * from "./implementation.ts";
export * from "./source.ts";
export type { PatternComparison, RamBlockDigest } from "./dst_ram_image.ts";
