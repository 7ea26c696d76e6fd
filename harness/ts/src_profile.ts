/**
 * What the source does differently per target QEMU version, read from the one version table
 * (`harness/wire/versions.ts`).
 *
 * @module
 */

import type { ImplementationInfo } from "../implementation.ts";
import { TS_DEFAULT_WIRE_VERSION, wireVersionOf } from "../qemu/knobs.ts";
import type { PacketLayout } from "../wire/packet.ts";
import { type QemuVersion, versionInfo } from "../wire/versions.ts";

/** The wire behaviour of a QEMU source of one version. */
export interface SourceProfile {
  /** Feature release, e.g. `10.0`. */
  readonly version: QemuVersion;
  /** Multifd packet layout. */
  readonly layout: PacketLayout;
  /** Zero pages listed in multifd packets (9.0+) rather than as `ZERO` records on the main stream. */
  readonly zeroPagesOnMultifd: boolean;
  /** Sync with `RAM_SAVE_FLAG_MULTIFD_FLUSH` once per round (8.1+) rather than on every EOS. */
  readonly multifdFlush: boolean;
  /** `MIG_CMD_SWITCHOVER_START` before the RAM section's END (10.0+). */
  readonly switchoverStart: boolean;
  /** SYNC packets zeroed (`pages_alloc` 0, no stale `ramblock`) as from 9.2. */
  readonly pureSyncPackets: boolean;
}

/**
 * The profile of `version` (`"7.2"`, `"10.0.2"`, …).
 *
 * @example
 * ```ts
 * import { sourceProfile } from "./src_profile.ts";
 * console.log(sourceProfile("7.2.22").zeroPagesOnMultifd); // false
 * ```
 */
export function sourceProfile(version: string): SourceProfile {
  const info = versionInfo(version);
  return {
    version: info.version,
    layout: info.packetLayout.value,
    zeroPagesOnMultifd: info.zeroPagesOnMultifd.value,
    multifdFlush: info.flushStyle.value === "multifd-flush",
    switchoverStart: info.switchoverStart.value,
    pureSyncPackets: info.pureSyncPackets.value,
  };
}

/**
 * The version to speak to `peer`: a QEMU's own version, the wire version a `ts` implementation
 * names (`0.1.0+qemu-7.2`), else 10.0 (`wireVersionOf` of `harness/qemu/knobs.ts`).
 *
 * @example
 * ```ts
 * import { targetVersionOf } from "./src_profile.ts";
 * console.log(targetVersionOf({ name: "qemu-7.2", version: "7.2.22" })); // "7.2.22"
 * ```
 */
export function targetVersionOf(peer: ImplementationInfo | undefined): string {
  return peer ? wireVersionOf(peer) : TS_DEFAULT_WIRE_VERSION;
}
