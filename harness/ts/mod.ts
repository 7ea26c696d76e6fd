/**
 * The TypeScript implementation of both sides of QEMU's multifd migration protocol.
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
