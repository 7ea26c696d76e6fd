/**
 * The texts QEMU prints (stderr, `error-desc`) for each failure migwire provokes, per version, and
 * the way back from such a text to a canonical class. Formats are QEMU's own `printf` formats
 * with `PRIu64` and `RAM_ADDR_FMT` expanded; `since`/`until` bound the feature releases that have
 * the exact text (versions before 7.2 are not looked at).
 *
 * @module
 */

import type { ErrorClass } from "./errors.ts";
import { compareVersions } from "./versions.ts";

/** One QEMU error text. */
export interface QemuMessage {
  /** migwire's name for the check, e.g. `init.magic`. */
  readonly id: string;
  readonly errorClass: ErrorClass;
  /** QEMU's format string. */
  readonly format: string;
  /** First feature release with this exact text (7.2 at the earliest). */
  readonly since: string;
  /** Last feature release with it; absent while master still has it. */
  readonly until?: string;
  /** The QEMU function that reports it. */
  readonly where: string;
  /** Matches the text anywhere in a line (QEMU prefixes some messages). */
  readonly pattern: RegExp;
}

type Row = [
  id: string,
  errorClass: ErrorClass,
  format: string,
  since: string,
  until: string | undefined,
  where: string,
];

// Most specific texts first: classification takes the first match.
const ROWS: Row[] = [
  // Main stream (spec §1.1, §1.3).
  [
    "stream.magic",
    "E_STREAM",
    "Not a migration stream, magic: %x != %x",
    "10.2",
    undefined,
    "qemu_loadvm_state_header",
  ],
  ["stream.magic", "E_STREAM", "Not a migration stream", "7.2", "10.1", "qemu_loadvm_state_header"],
  [
    "stream.version",
    "E_STREAM",
    "SaveVM v2 format is obsolete and no longer supported",
    "10.2",
    undefined,
    "qemu_loadvm_state_header",
  ],
  [
    "stream.version",
    "E_STREAM",
    "SaveVM v2 format is obsolete and don't work anymore",
    "7.2",
    "10.1",
    "qemu_loadvm_state_header",
  ],
  [
    "stream.version",
    "E_STREAM",
    "Unsupported migration stream version, file version %x != %x",
    "10.2",
    undefined,
    "qemu_loadvm_state_header",
  ],
  [
    "stream.version",
    "E_STREAM",
    "Unsupported migration stream version",
    "7.2",
    "10.1",
    "qemu_loadvm_state_header",
  ],
  [
    "stream.configuration",
    "E_STREAM",
    "Configuration section missing, %x != %x",
    "10.2",
    undefined,
    "qemu_loadvm_state_header",
  ],
  [
    "stream.configuration",
    "E_STREAM",
    "Configuration section missing",
    "7.2",
    "10.1",
    "qemu_loadvm_state_header",
  ],
  [
    "stream.machine",
    "E_STREAM",
    "Machine type received is '%.*s' and local is '%s'",
    "7.2",
    undefined,
    "configuration_post_load",
  ],
  [
    "stream.page-bits",
    "E_STREAM",
    "Received TARGET_PAGE_BITS is %d but local is %d",
    "7.2",
    undefined,
    "configuration_post_load",
  ],
  [
    "stream.capability",
    "E_STREAM",
    "Capability %s is %s, but received capability is %s",
    "7.2",
    undefined,
    "configuration_validate_capabilities",
  ],
  [
    "stream.ram-flags",
    "E_STREAM",
    "Unknown combination of migration flags: 0x%x",
    "7.2",
    undefined,
    "ram_load_precopy",
  ],
  [
    "stream.device",
    "E_STREAM",
    "error while loading state for instance 0x%x of device '%s'",
    "7.2",
    undefined,
    "qemu_loadvm_section_start_full",
  ],
  [
    "stream.section-type",
    "E_STREAM",
    "Unknown section type %d",
    "10.2",
    undefined,
    "qemu_loadvm_state_main",
  ],
  [
    "stream.section-type",
    "E_STREAM",
    "Unknown savevm section type %d",
    "7.2",
    "10.1",
    "qemu_loadvm_state_main",
  ],
  [
    "stream.instance",
    "E_STREAM",
    "Unknown section or instance '%s' %u",
    "10.2",
    undefined,
    "qemu_loadvm_section_start_full",
  ],
  [
    "stream.instance",
    "E_STREAM",
    "Unknown savevm section or instance '%s' %u",
    "7.2",
    "10.1",
    "qemu_loadvm_section_start_full",
  ],
  [
    "stream.section",
    "E_STREAM",
    "Unknown section %d",
    "10.2",
    undefined,
    "qemu_loadvm_section_part_end",
  ],
  [
    "stream.section",
    "E_STREAM",
    "Unknown savevm section %d",
    "7.2",
    "10.1",
    "qemu_loadvm_section_part_end",
  ],
  [
    "stream.footer",
    "E_STREAM",
    "Missing section footer for %s",
    "7.2",
    undefined,
    "check_section_footer",
  ],
  [
    "stream.ram-block",
    "E_STREAM",
    'Unknown ramblock "%s", cannot accept migration',
    "7.2",
    undefined,
    "parse_ramblocks",
  ],
  [
    "stream.ram-block",
    "E_STREAM",
    "Can't find block %s",
    "7.2",
    undefined,
    "ram_block_from_stream",
  ],
  [
    "stream.ram-continue",
    "E_STREAM",
    "Ack, bad migration stream!",
    "7.2",
    undefined,
    "ram_block_from_stream",
  ],
  [
    "stream.ram-offset",
    "E_STREAM",
    "Illegal RAM offset %llx",
    "7.2",
    undefined,
    "ram_load_precopy",
  ],
  [
    "stream.zero-fill",
    "E_STREAM",
    "Found a zero page with value %d",
    "8.2",
    undefined,
    "ram_load_precopy",
  ],
  [
    "stream.command-length",
    "E_STREAM",
    "%s received with bad length - expecting %zu, got %d",
    "7.2",
    undefined,
    "loadvm_process_command",
  ],
  // Channel classification (spec §2).
  [
    "channel.peek",
    "E_TRUNCATED",
    "Failed to peek at channel",
    "8.0",
    undefined,
    "migration_channel_read_peek",
  ],
  [
    "channel.magic",
    "E_UNKNOWN_CHANNEL",
    "unknown channel magic: %u",
    "10.1",
    undefined,
    "migration_ioc_process_incoming",
  ],
  [
    "channel.non-peekable",
    "E_UNKNOWN_CHANNEL",
    "non-peekable channel used without multifd",
    "10.1",
    undefined,
    "migration_ioc_process_incoming",
  ],
  // Init packet (spec §3.1).
  [
    "io.eof",
    "E_TRUNCATED",
    "Unexpected end-of-file before all data were read",
    "7.2",
    undefined,
    "qio_channel_readv_all",
  ],
  [
    "init.magic",
    "E_MAGIC",
    "multifd: received packet magic %x expected %x",
    "7.2",
    undefined,
    "multifd_recv_initial_packet",
  ],
  [
    "init.version",
    "E_VERSION",
    "multifd: received packet version %u expected %u",
    "7.2",
    undefined,
    "multifd_recv_initial_packet",
  ],
  [
    "init.uuid",
    "E_UUID",
    "multifd: received uuid '%s' and expected uuid '%s' for channel %hhd",
    "7.2",
    undefined,
    "multifd_recv_initial_packet",
  ],
  [
    "init.id",
    "E_CHANNEL_ID",
    "multifd: received channel id %u is greater than number of channels %u",
    "9.0",
    undefined,
    "multifd_recv_initial_packet",
  ],
  // 7.2-8.2 print the version here, a copy-paste slip fixed by c77b40859a.
  [
    "init.id",
    "E_CHANNEL_ID",
    "multifd: received channel version %u expected %u",
    "7.2",
    "8.2",
    "multifd_recv_initial_packet",
  ],
  [
    "init.duplicate",
    "E_DUPLICATE_ID",
    "multifd: received id '%d' already setup'",
    "7.2",
    undefined,
    "multifd_recv_new_channel",
  ],
  // Packets (spec §4.5).
  [
    "packet.magic",
    "E_MAGIC",
    "multifd: received packet magic %x, expected %x",
    "9.2",
    undefined,
    "multifd_recv_unfill_packet_header",
  ],
  [
    "packet.magic",
    "E_MAGIC",
    "multifd: received packet magic %x and expected magic %x",
    "7.2",
    "9.1",
    "multifd_recv_unfill_packet",
  ],
  [
    "packet.version",
    "E_VERSION",
    "multifd: received packet version %u, expected %u",
    "9.2",
    undefined,
    "multifd_recv_unfill_packet_header",
  ],
  [
    "packet.version",
    "E_VERSION",
    "multifd: received packet version %u and expected version %u",
    "7.2",
    "9.1",
    "multifd_recv_unfill_packet",
  ],
  [
    "packet.pages-alloc",
    "E_PACKET",
    "multifd: received packet with %u pages, expected %u",
    "9.2",
    undefined,
    "multifd_ram_unfill_packet",
  ],
  [
    "packet.pages-alloc",
    "E_PACKET",
    "multifd: received packet with size %u and expected a size of %u",
    "7.2",
    "9.1",
    "multifd_recv_unfill_packet",
  ],
  [
    "packet.normal-pages",
    "E_PACKET",
    "multifd: received packet with %u non-zero pages, which exceeds maximum expected pages %u",
    "9.2",
    undefined,
    "multifd_ram_unfill_packet",
  ],
  [
    "packet.normal-pages",
    "E_PACKET",
    "multifd: received packet with %u normal pages and expected maximum pages are %u",
    "9.0",
    "9.1",
    "multifd_recv_unfill_packet",
  ],
  [
    "packet.normal-pages",
    "E_PACKET",
    "multifd: received packet with %u pages and expected maximum pages are %u",
    "7.2",
    "8.2",
    "multifd_recv_unfill_packet",
  ],
  [
    "packet.zero-pages",
    "E_PACKET",
    "multifd: received packet with %u zero pages, expected maximum %u",
    "9.2",
    undefined,
    "multifd_ram_unfill_packet",
  ],
  [
    "packet.zero-pages",
    "E_PACKET",
    "multifd: received packet with %u zero pages and expected maximum zero pages are %u",
    "9.0",
    "9.1",
    "multifd_recv_unfill_packet",
  ],
  [
    "packet.ramblock",
    "E_PACKET",
    "multifd: unknown ram block %s",
    "7.2",
    undefined,
    "multifd_ram_unfill_packet",
  ],
  [
    "packet.offset",
    "E_PACKET",
    "multifd: offset too long %llu (max %llx)",
    "7.2",
    undefined,
    "multifd_ram_unfill_packet",
  ],
  [
    "packet.flags",
    "E_PACKET",
    "multifd %u: flags received %x flags expected %x",
    "7.2",
    undefined,
    "multifd_nocomp_recv",
  ],
  [
    "packet.eof-after-header",
    "E_TRUNCATED",
    "multifd: unexpected EOF after packet header",
    "10.0",
    undefined,
    "multifd_recv_thread",
  ],
  [
    "device-state.empty",
    "E_PACKET",
    "multifd: received empty device state packet",
    "10.0",
    undefined,
    "multifd_recv_thread",
  ],
  [
    "device-state.sync",
    "E_PACKET",
    "multifd: received SYNC device state packet",
    "10.0",
    undefined,
    "multifd_recv_thread",
  ],
  [
    "device-state.idstr",
    "E_PACKET",
    "unterminated multifd device state idstr",
    "10.0",
    undefined,
    "multifd_device_state_recv",
  ],
  // TLS (spec §5).
  [
    "tls.premature-eof",
    "E_TLS_PREMATURE_EOF",
    "Cannot read from TLS channel: The TLS connection was non-properly terminated.",
    "9.1",
    undefined,
    "qcrypto_tls_session_read",
  ],
  [
    "tls.premature-eof",
    "E_TLS_PREMATURE_EOF",
    "Cannot read from TLS channel: Software caused connection abort",
    "7.2",
    "9.0",
    "qio_channel_tls_readv",
  ],
  [
    "tls.read",
    "E_IO",
    "Cannot read from TLS channel: %s",
    "7.2",
    undefined,
    "qio_channel_tls_readv",
  ],
  [
    "tls.no-hostname",
    "E_TLS",
    "No hostname for certificate validation",
    "7.2",
    undefined,
    "qcrypto_tls_session_check_certificate",
  ],
  [
    "tls.hostname",
    "E_TLS",
    "Certificate does not match the hostname %s",
    "7.2",
    undefined,
    "qcrypto_tls_session_check_certificate",
  ],
  [
    "tls.handshake",
    "E_TLS",
    "TLS handshake failed: %s",
    "7.2",
    undefined,
    "qcrypto_tls_session_handshake",
  ],
  [
    "tls.verify",
    "E_TLS",
    "Verify failed: %s",
    "7.2",
    undefined,
    "qcrypto_tls_session_check_certificate",
  ],
  [
    "tls.authz",
    "E_TLS",
    "TLS x509 authz check for %s is denied",
    "7.2",
    undefined,
    "qcrypto_tls_session_check_certificate",
  ],
  [
    "tls.expired",
    "E_TLS",
    "The certificate has expired",
    "7.2",
    undefined,
    "qcrypto_tls_session_check_certificate",
  ],
  [
    "tls.no-peers",
    "E_TLS",
    "No certificate peers",
    "7.2",
    undefined,
    "qcrypto_tls_session_check_certificate",
  ],
  [
    "tls.termination",
    "E_TLS",
    "TLS termination failed: %s",
    "10.0",
    undefined,
    "qcrypto_tls_session_bye",
  ],
  // Sockets.
  [
    "io.read",
    "E_IO",
    "Unable to read from socket: %s",
    "7.2",
    undefined,
    "qio_channel_socket_readv",
  ],
  [
    "io.write",
    "E_IO",
    "Unable to write to socket: %s",
    "7.2",
    undefined,
    "qio_channel_socket_writev",
  ],
  ["io.connect", "E_IO", "Failed to connect to '%s': %s", "7.2", undefined, "inet_connect_addr"],
];

/**
 * Turns a `printf` format into a pattern matching any text it can print.
 *
 * @example
 * ```ts
 * import { formatPattern } from "./qemu_messages.ts";
 * console.log(formatPattern("magic %x expected %x").test("magic 5145564d expected 11223344"));
 * // true
 * ```
 */
export function formatPattern(format: string): RegExp {
  let source = "";
  const spec = /%(?:[-#0 +]*)(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|z|j|t)?([diuxXsc%])/g;
  let last = 0;
  for (let match = spec.exec(format); match; match = spec.exec(format)) {
    source += escapeRegExp(format.slice(last, match.index));
    source += CONVERSIONS[match[1]];
    last = spec.lastIndex;
  }
  source += escapeRegExp(format.slice(last));
  return new RegExp(source);
}

const CONVERSIONS: Record<string, string> = {
  d: "-?\\d+",
  i: "-?\\d+",
  u: "\\d+",
  x: "[0-9a-f]+",
  X: "[0-9A-F]+",
  s: "[^]*?",
  c: "[^]",
  "%": "%",
};

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Every QEMU message migwire knows, most specific first. */
export const QEMU_MESSAGES: readonly QemuMessage[] = ROWS.map((
  [id, errorClass, format, since, until, where],
) =>
  Object.freeze({ id, errorClass, format, since, until, where, pattern: formatPattern(format) })
);

/**
 * The messages a QEMU version prints (`"10.0.2"`, `"7.2"`, …), most specific first.
 *
 * @example
 * ```ts
 * import { qemuMessages } from "./qemu_messages.ts";
 * const ids = qemuMessages("7.2.22").filter((m) => m.id === "init.id").map((m) => m.format);
 * console.log(ids); // ["multifd: received channel version %u expected %u"]
 * ```
 */
export function qemuMessages(version: string): QemuMessage[] {
  const release = version.split(".").slice(0, 2).join(".");
  return QEMU_MESSAGES.filter((message) =>
    compareVersions(release, message.since) >= 0 &&
    (message.until === undefined || compareVersions(release, message.until) <= 0)
  );
}

/**
 * The known message `text` contains, as printed by QEMU `version`; `undefined` if none.
 *
 * @example
 * ```ts
 * import { matchQemuMessage } from "./qemu_messages.ts";
 * console.log(matchQemuMessage("10.0.2", "multifd: received id '1' already setup'")?.id);
 * // "init.duplicate"
 * ```
 */
export function matchQemuMessage(version: string, text: string): QemuMessage | undefined {
  return qemuMessages(version).find((message) => message.pattern.test(text));
}

/**
 * Maps a QEMU stderr line or `error-desc` back to a canonical class.
 *
 * @example
 * ```ts
 * import { classifyQemuMessage } from "./qemu_messages.ts";
 * const text = "multifd: received packet magic 5145564d expected 11223344";
 * console.log(classifyQemuMessage("7.2.22", text)); // "E_MAGIC"
 * ```
 */
export function classifyQemuMessage(version: string, text: string): ErrorClass | undefined {
  return matchQemuMessage(version, text)?.errorClass;
}
