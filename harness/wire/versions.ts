/**
 * The one table of QEMU version differences the codec, the TypeScript implementation, the
 * expectations and the reports share. Each fact carries where in QEMU it lives, the commit that
 * introduced it and the first release that has it, as data for reports.
 *
 * @module
 */

import type { ClassificationPolicy } from "./classify.ts";
import { COMPRESSION_MASK_V7_2, COMPRESSION_MASK_V9_1, COMPRESSION_MASK_V9_2 } from "./flags.ts";
import type { PacketLayout } from "./packet.ts";

/** The QEMU feature releases the table knows, oldest first. */
export const QEMU_VERSIONS = [
  "7.2",
  "8.0",
  "8.1",
  "8.2",
  "9.0",
  "9.1",
  "9.2",
  "10.0",
  "10.1",
  "10.2",
] as const;

/** A QEMU feature release, `major.minor`. */
export type QemuVersion = typeof QEMU_VERSIONS[number];

/** Where a behaviour lives in QEMU and when it began. */
export interface QemuReference {
  /** QEMU function (or property/parameter) that has the behaviour. */
  readonly where: string;
  /** Commit that introduced the behaviour as it is in this version. */
  readonly commit: string;
  /** First release with that commit. */
  readonly since: string;
  /** One line on what the behaviour means for a peer. */
  readonly note?: string;
}

/** A value with its QEMU reference. */
export interface VersionFact<T> extends QemuReference {
  readonly value: T;
}

/** How the main stream tells the destination to sync the multifd channels. */
export type FlushStyle = "eos" | "multifd-flush";

/** What a destination shows after a multifd channel fails its handshake (spec §6.1). */
export type BadChannelReporting =
  /** No status, no error-desc in `query-migrate`; hangs. */
  | "hang-no-status"
  /** `status: "setup"`, no error-desc; hangs. */
  | "hang-setup"
  /** `status: "setup"` with the error in error-desc; hangs. */
  | "hang-setup-error-desc"
  /** Error on stderr, `status: "failed"`, exits 1 unless `exit-on-error: false`. */
  | "fail-exit";

/** What a TLS destination does when a multifd channel ends without close_notify (spec §5.2). */
export type TlsPrematureEof =
  /** Never reported. */
  | "silent"
  /** Shown in error-desc, but the migration still completes. */
  | "error-desc"
  /** The migration fails (unless `multifd-clean-tls-termination=false`). */
  | "fails";

/** Everything migwire knows about one QEMU feature release. */
export interface QemuVersionInfo {
  readonly version: QemuVersion;
  /** The release commit ("Update version for vX.Y.0 release"). */
  readonly releaseCommit: string;
  readonly packetLayout: VersionFact<PacketLayout>;
  /** `MULTIFD_FLAG_COMPRESSION_MASK`. */
  readonly compressionMask: VersionFact<number>;
  /** How a destination maps plain TCP connections to channels. */
  readonly classificationPlain: VersionFact<ClassificationPolicy>;
  /** How a destination maps TLS connections (never peekable) to channels. */
  readonly classificationTls: VersionFact<ClassificationPolicy>;
  /** Default sync on the main stream (`multifd-flush-after-each-section` off from 8.1). */
  readonly flushStyle: VersionFact<FlushStyle>;
  /** Whether zero pages travel on multifd channels by default (`zero-page-detection=multifd`). */
  readonly zeroPagesOnMultifd: VersionFact<boolean>;
  /** Whether the source sends `MIG_CMD_SWITCHOVER_START` (`send-switchover-start`). */
  readonly switchoverStart: VersionFact<boolean>;
  /** Whether the source sends close_notify on multifd TLS channels. */
  readonly cleanTlsTermination: VersionFact<boolean>;
  /** Destination reaction to a multifd channel ending without close_notify. */
  readonly tlsPrematureEof: VersionFact<TlsPrematureEof>;
  readonly afterBadMultifdChannel: VersionFact<BadChannelReporting>;
  /** The init-packet id check: `>` in every QEMU (off by one; spec §8.1). */
  readonly channelIdCheck: VersionFact<">" | ">=">;
  /** Whether SYNC packets are pure (no pages, `pages_alloc` 0) from this source. */
  readonly pureSyncPackets: VersionFact<boolean>;
  /** Whether `migrate-incoming` takes `exit-on-error` (default true). */
  readonly exitOnError: VersionFact<boolean>;
}

const V7_2 = "b67b00e6b4";

const LAYOUT_V7_2: VersionFact<PacketLayout> = {
  value: "v7.2",
  where: "migration/multifd.h MultiFDPacket_t",
  commit: "af8b7d2b09",
  since: "3.0",
};
const LAYOUT_V9_0: VersionFact<PacketLayout> = {
  value: "v9.0",
  where: "migration/multifd.h MultiFDPacket_t.zero_pages",
  commit: "303e6f54f9",
  since: "9.0",
  note: "zero_pages at offset 32; zero-page offsets follow normal ones and carry no payload",
};
const LAYOUT_V10_0: VersionFact<PacketLayout> = {
  value: "v10.0",
  where: "migration/multifd.h MultiFDPacketHdr_t, multifd_recv_thread",
  commit: "8050c435b7",
  since: "10.0",
  note: "12-byte header read first; DEVICE_STATE flag selects a 276-byte packet (f588f3c46a)",
};

const MASK_V7_2: VersionFact<number> = {
  value: COMPRESSION_MASK_V7_2,
  where: "migration/multifd.h MULTIFD_FLAG_COMPRESSION_MASK",
  commit: "af8b7d2b09",
  since: "3.0",
};
const MASK_V9_1: VersionFact<number> = {
  value: COMPRESSION_MASK_V9_1,
  where: "migration/multifd.h MULTIFD_FLAG_COMPRESSION_MASK",
  commit: "354cac2859",
  since: "9.1",
  note: "QPL 0x08 and UADK 0x10 (f3d8bb759d)",
};
const MASK_V9_2: VersionFact<number> = {
  value: COMPRESSION_MASK_V9_2,
  where: "migration/multifd.h MULTIFD_FLAG_COMPRESSION_MASK",
  commit: "80484f9459",
  since: "9.2",
  note: "QATZIP 0x20",
};

const ORDER_V7_2: VersionFact<ClassificationPolicy> = {
  value: "arrival-order",
  where: "migration/migration.c migration_ioc_process_incoming",
  commit: "af8b7d2b09",
  since: "3.0",
  note: "first connection is main, later ones multifd",
};
const PEEK_V8_0: VersionFact<ClassificationPolicy> = {
  value: "peek-magic",
  where: "migration/migration.c migration_ioc_process_incoming, migration_channel_read_peek",
  commit: "6720c2b327",
  since: "8.0",
  note: "QEVM is main, any other magic multifd; peek blocks the main loop",
};
const PEEK_V10_1: VersionFact<ClassificationPolicy> = {
  value: "peek-magic-strict",
  where: "migration/migration.c migration_ioc_process_incoming",
  commit: "00f3fcef19",
  since: "10.1",
  note: "unknown magic fails with 'unknown channel magic: %u'",
};
const TLS_ORDER: VersionFact<ClassificationPolicy> = {
  value: "arrival-order",
  where: "io/channel-tls.c (no QIO_CHANNEL_FEATURE_READ_MSG_PEEK)",
  commit: "6720c2b327",
  since: "8.0",
  note: "TLS channels cannot be peeked: order of handshake completion decides",
};

const FLUSH_EOS: VersionFact<FlushStyle> = {
  value: "eos",
  where: "migration/ram.c ram_load_precopy (RAM_SAVE_FLAG_EOS)",
  commit: "af8b7d2b09",
  since: "3.0",
  note: "destination syncs on every EOS; 0x200 is an unknown flag",
};
const FLUSH_MULTIFD: VersionFact<FlushStyle> = {
  value: "multifd-flush",
  where: "migration/ram.c ram_load_precopy (RAM_SAVE_FLAG_MULTIFD_FLUSH)",
  commit: "294e5a4034",
  since: "8.1",
  note: "property migration.multifd-flush-after-each-section defaults to off",
};

const ZERO_MAIN: VersionFact<boolean> = {
  value: false,
  where: "migration/ram.c save_zero_page",
  commit: "af8b7d2b09",
  since: "3.0",
  note: "zero pages travel on the main stream as RAM_SAVE_FLAG_ZERO",
};
const ZERO_MULTIFD: VersionFact<boolean> = {
  value: true,
  where: "migration/multifd-zero-page.c multifd_send_zero_page_detect",
  commit: "303e6f54f9",
  since: "9.0",
  note: "parameter zero-page-detection defaults to multifd",
};

const NO_SWITCHOVER: VersionFact<boolean> = {
  value: false,
  where: "migration/savevm.c qemu_savevm_send_switchover_start",
  commit: "4e55cb3cde",
  since: "10.0",
};
const SWITCHOVER: VersionFact<boolean> = {
  ...NO_SWITCHOVER,
  value: true,
  note: "MIG_CMD_SWITCHOVER_START (11); property migration.send-switchover-start",
};

const ABRUPT_TLS: VersionFact<boolean> = {
  value: false,
  where: "migration/multifd.c multifd_send_shutdown",
  commit: "48796f6b44",
  since: "10.0",
};
const CLEAN_TLS: VersionFact<boolean> = {
  ...ABRUPT_TLS,
  value: true,
  note: "migration_tls_channel_end sends close_notify on each channel",
};

const EOF_SILENT: VersionFact<TlsPrematureEof> = {
  value: "silent",
  where: "io/channel-tls.c qio_channel_tls_readv",
  commit: "af8b7d2b09",
  since: "3.0",
  note: "multifd recv errors only reach migrate_set_error, invisible on a destination",
};
const EOF_ERROR_DESC: VersionFact<TlsPrematureEof> = {
  value: "error-desc",
  where: "crypto/tlssession.c qcrypto_tls_session_read",
  commit: "57941c9c86",
  since: "9.1",
  note: "error-desc 'The TLS connection was non-properly terminated.', migration completes",
};
const EOF_FAILS: VersionFact<TlsPrematureEof> = {
  value: "fails",
  where: "migration/savevm.c qemu_loadvm_state (migration error checked after loadvm)",
  commit: "e0ad300fe1",
  since: "10.0",
  note: "relaxed by migration.multifd-clean-tls-termination=false (9b3b192f65)",
};

const BAD_NO_STATUS: VersionFact<BadChannelReporting> = {
  value: "hang-no-status",
  where: "migration/migration.c fill_destination_migration_info",
  commit: "af8b7d2b09",
  since: "3.0",
  note: "mis->state stays NONE",
};
const BAD_SETUP: VersionFact<BadChannelReporting> = {
  value: "hang-setup",
  where: "migration/migration.c qemu_start_incoming_migration",
  commit: "4111a732e8",
  since: "8.2",
};
const BAD_ERROR_DESC: VersionFact<BadChannelReporting> = {
  value: "hang-setup-error-desc",
  where: "migration/migration.c fill_destination_migration_info",
  commit: "dbea1c89da",
  since: "9.1",
};
const BAD_FAIL_EXIT: VersionFact<BadChannelReporting> = {
  value: "fail-exit",
  where: "migration/channel.c migration_channel_process_incoming",
  commit: "2b667a8c0f",
  since: "10.0",
  note: "error_report_err, state FAILED, exit(1) if exit-on-error",
};

const ID_CHECK: VersionFact<">" | ">="> = {
  value: ">",
  where: "migration/multifd.c multifd_recv_initial_packet",
  commit: "af8b7d2b09",
  since: "3.0",
  note: "msg.id > migrate_multifd_channels(): id == channels indexes past params[] and crashes",
};

const SYNC_WITH_PAGES: VersionFact<boolean> = {
  value: false,
  where: "migration/multifd.c multifd_send_fill_packet",
  commit: "af8b7d2b09",
  since: "3.0",
  note: "SYNC packets carry pages_alloc=page_count and stale ramblock/next_packet_size",
};
const SYNC_PURE: VersionFact<boolean> = {
  value: true,
  where: "migration/multifd.c multifd_send_fill_packet",
  commit: "d7e58f412c",
  since: "9.2",
  note: "packet zeroed, SYNC packets have pages_alloc 0",
};

const NO_EXIT_ON_ERROR: VersionFact<boolean> = {
  value: false,
  where: "qapi/migration.json migrate-incoming",
  commit: "dbea1c89da",
  since: "9.1",
};
const EXIT_ON_ERROR: VersionFact<boolean> = { ...NO_EXIT_ON_ERROR, value: true };

type Row = Omit<QemuVersionInfo, "version" | "releaseCommit" | "channelIdCheck">;

const ROW_7_2: Row = {
  packetLayout: LAYOUT_V7_2,
  compressionMask: MASK_V7_2,
  classificationPlain: ORDER_V7_2,
  classificationTls: { ...ORDER_V7_2, note: "first handshake completed is main" },
  flushStyle: FLUSH_EOS,
  zeroPagesOnMultifd: ZERO_MAIN,
  switchoverStart: NO_SWITCHOVER,
  cleanTlsTermination: ABRUPT_TLS,
  tlsPrematureEof: EOF_SILENT,
  afterBadMultifdChannel: BAD_NO_STATUS,
  pureSyncPackets: SYNC_WITH_PAGES,
  exitOnError: NO_EXIT_ON_ERROR,
};
const ROW_8_0: Row = { ...ROW_7_2, classificationPlain: PEEK_V8_0, classificationTls: TLS_ORDER };
const ROW_8_1: Row = { ...ROW_8_0, flushStyle: FLUSH_MULTIFD };
const ROW_8_2: Row = { ...ROW_8_1, afterBadMultifdChannel: BAD_SETUP };
const ROW_9_0: Row = { ...ROW_8_2, packetLayout: LAYOUT_V9_0, zeroPagesOnMultifd: ZERO_MULTIFD };
const ROW_9_1: Row = {
  ...ROW_9_0,
  compressionMask: MASK_V9_1,
  tlsPrematureEof: EOF_ERROR_DESC,
  afterBadMultifdChannel: BAD_ERROR_DESC,
  exitOnError: EXIT_ON_ERROR,
};
const ROW_9_2: Row = { ...ROW_9_1, compressionMask: MASK_V9_2, pureSyncPackets: SYNC_PURE };
const ROW_10_0: Row = {
  ...ROW_9_2,
  packetLayout: LAYOUT_V10_0,
  switchoverStart: SWITCHOVER,
  cleanTlsTermination: CLEAN_TLS,
  tlsPrematureEof: EOF_FAILS,
  afterBadMultifdChannel: BAD_FAIL_EXIT,
};
const ROW_10_1: Row = { ...ROW_10_0, classificationPlain: PEEK_V10_1 };
const ROW_10_2: Row = { ...ROW_10_1 };

function entry(version: QemuVersion, releaseCommit: string, row: Row): QemuVersionInfo {
  return Object.freeze({ version, releaseCommit, channelIdCheck: ID_CHECK, ...row });
}

/** The table, one entry per feature release. */
export const VERSION_TABLE: Readonly<Record<QemuVersion, QemuVersionInfo>> = Object.freeze({
  "7.2": entry("7.2", V7_2, ROW_7_2),
  "8.0": entry("8.0", "c1eb2ddf0f", ROW_8_0),
  "8.1": entry("8.1", "7e5a8bb223", ROW_8_1),
  "8.2": entry("8.2", "1600b9f46b", ROW_8_2),
  "9.0": entry("9.0", "c25df57ae8", ROW_9_0),
  "9.1": entry("9.1", "fd1952d814", ROW_9_1),
  "9.2": entry("9.2", "ae35f033b8", ROW_9_2),
  "10.0": entry("10.0", "7c949c53e9", ROW_10_0),
  "10.1": entry("10.1", "f8b2f64e23", ROW_10_1),
  "10.2": entry("10.2", "698104725e", ROW_10_2),
});

/**
 * Picks the table entry for a version string: `"10.0.2"`, `"10.0"`, `"7.2.22"`, or a development
 * version such as `"10.2.50"` (taken as the release it follows). Versions newer than the table use
 * its newest entry; older than 7.2 throws.
 *
 * @throws {RangeError} naming the value when it is not a version or older than 7.2.
 * @example
 * ```ts
 * import { versionInfo } from "./versions.ts";
 * console.log(versionInfo("10.0.2").packetLayout.value); // "v10.0"
 * ```
 */
export function versionInfo(version: string): QemuVersionInfo {
  const match = /^(\d+)\.(\d+)(?:\.\d+)?(?:[-+~.][\w.+~-]*)?$/.exec(version.trim());
  if (!match) throw new RangeError(`not a QEMU version: ${JSON.stringify(version)}`);
  const wanted = Number(match[1]) * 1000 + Number(match[2]);
  let best: QemuVersionInfo | undefined;
  for (const name of QEMU_VERSIONS) {
    const [major, minor] = name.split(".").map(Number);
    if (major * 1000 + minor <= wanted) best = VERSION_TABLE[name];
  }
  if (!best) {
    throw new RangeError(`QEMU ${version} is older than 7.2, the oldest version migwire knows`);
  }
  return best;
}

/**
 * Orders two version strings (`major.minor[.micro]`): negative, zero or positive.
 *
 * @example
 * ```ts
 * import { compareVersions } from "./versions.ts";
 * console.log(compareVersions("7.2.22", "10.0.2") < 0); // true
 * ```
 */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.\-+~]/).map((p) => parseInt(p, 10) || 0);
  const pb = b.split(/[.\-+~]/).map((p) => parseInt(p, 10) || 0);
  for (let i = 0; i < 3; i++) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}
