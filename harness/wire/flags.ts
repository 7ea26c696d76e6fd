/**
 * Multifd packet flags (`migration/multifd.h`). The compression field grew with each new
 * compressor, so its mask depends on the QEMU version.
 *
 * @module
 */

/** `MULTIFD_FLAG_SYNC`: the last packet of a sync round on this channel. */
export const MULTIFD_FLAG_SYNC = 0x01;
/** `MULTIFD_FLAG_NOCOMP`: pages sent raw. */
export const MULTIFD_FLAG_NOCOMP = 0x00;
/** `MULTIFD_FLAG_ZLIB`. */
export const MULTIFD_FLAG_ZLIB = 0x02;
/** `MULTIFD_FLAG_ZSTD`. */
export const MULTIFD_FLAG_ZSTD = 0x04;
/** `MULTIFD_FLAG_QPL`, QEMU 9.1+ (354cac2859). */
export const MULTIFD_FLAG_QPL = 0x08;
/** `MULTIFD_FLAG_UADK`, QEMU 9.1+ (f3d8bb759d). */
export const MULTIFD_FLAG_UADK = 0x10;
/** `MULTIFD_FLAG_QATZIP`, QEMU 9.2+ (80484f9459). */
export const MULTIFD_FLAG_QATZIP = 0x20;
/** `MULTIFD_FLAG_DEVICE_STATE`, QEMU 10.0+: the packet is a `MultiFDPacketDeviceState_t`. */
export const MULTIFD_FLAG_DEVICE_STATE = 0x40;

/** `MULTIFD_FLAG_COMPRESSION_MASK` in QEMU 7.2–9.0: `7 << 1`. */
export const COMPRESSION_MASK_V7_2 = 0x0e;
/** `MULTIFD_FLAG_COMPRESSION_MASK` in QEMU 9.1: `0xf << 1`. */
export const COMPRESSION_MASK_V9_1 = 0x1e;
/** `MULTIFD_FLAG_COMPRESSION_MASK` in QEMU 9.2+: `0x1f << 1`. */
export const COMPRESSION_MASK_V9_2 = 0x3e;

/** Names of the compression values, for reports. */
export const COMPRESSION_NAMES: Readonly<Record<number, string>> = {
  [MULTIFD_FLAG_NOCOMP]: "nocomp",
  [MULTIFD_FLAG_ZLIB]: "zlib",
  [MULTIFD_FLAG_ZSTD]: "zstd",
  [MULTIFD_FLAG_QPL]: "qpl",
  [MULTIFD_FLAG_UADK]: "uadk",
  [MULTIFD_FLAG_QATZIP]: "qatzip",
};

/**
 * Describes `flags` for people, e.g. `SYNC|nocomp` or `DEVICE_STATE|nocomp|0x80`.
 *
 * @example
 * ```ts
 * import { describeFlags } from "./flags.ts";
 * console.log(describeFlags(0x01)); // "SYNC|nocomp"
 * ```
 */
export function describeFlags(flags: number, compressionMask = COMPRESSION_MASK_V9_2): string {
  const parts: string[] = [];
  if (flags & MULTIFD_FLAG_SYNC) parts.push("SYNC");
  if (flags & MULTIFD_FLAG_DEVICE_STATE & ~compressionMask) parts.push("DEVICE_STATE");
  const compression = flags & compressionMask;
  parts.push(COMPRESSION_NAMES[compression] ?? `compression 0x${compression.toString(16)}`);
  const known = MULTIFD_FLAG_SYNC | MULTIFD_FLAG_DEVICE_STATE | compressionMask;
  const rest = (flags & ~known) >>> 0;
  if (rest) parts.push(`0x${rest.toString(16)}`);
  return parts.join("|");
}
