/**
 * References into QEMU's code that the cases cite: function, file, the release where the behaviour
 * began, the commit and the spec section (`/work/shared/spec/multifd-wire.md` in the repo's
 * terms, `docs` once published). Taken from the spec and `harness/wire/versions.ts`.
 *
 * @module
 */

import type { Ref } from "../case.ts";

/** `qemu_savevm_state_header`: QEVM magic and stream version 3 first on the main channel. */
export const SAVEVM_HEADER: Ref = {
  fn: "qemu_savevm_state_header",
  file: "migration/savevm.c",
  since: "≤7.2",
  spec: "§1.1",
};

/** `multifd_send_initial_packet`: the 64-byte `MultiFDInit_t` first on every multifd channel. */
export const SEND_INIT: Ref = {
  fn: "multifd_send_initial_packet",
  file: "migration/multifd.c",
  since: "3.0",
  commit: "af8b7d2b09",
  spec: "§3",
};

/** `multifd_recv_initial_packet`: the destination's init checks, in order. */
export const RECV_INIT: Ref = {
  fn: "multifd_recv_initial_packet",
  file: "migration/multifd.c",
  since: "3.0",
  commit: "af8b7d2b09",
  spec: "§3.1",
};

/** The id range check message (the check itself is still `>`, off by one). */
export const RECV_INIT_ID_MESSAGE: Ref = {
  fn: "multifd_recv_initial_packet",
  file: "migration/multifd.c",
  since: "9.0",
  commit: "c77b40859a",
  spec: "§3.1, §8.1",
};

/** `multifd_recv_new_channel`: duplicate id detection and the channel's registration. */
export const RECV_NEW_CHANNEL: Ref = {
  fn: "multifd_recv_new_channel",
  file: "migration/multifd.c",
  since: "3.0",
  commit: "af8b7d2b09",
  spec: "§3.1",
};

/** Mapping connections to channels by peeking the magic (plain sockets only). */
export const PEEK_MAGIC: Ref = {
  fn: "migration_ioc_process_incoming",
  file: "migration/migration.c",
  since: "8.0",
  commit: "6720c2b327",
  spec: "§2",
};

/** The 4-byte peek runs in the main loop and blocks it until the bytes arrive. */
export const READ_PEEK: Ref = {
  fn: "migration_channel_read_peek",
  file: "migration/channel.c",
  since: "8.0",
  commit: "6720c2b327",
  spec: "§2, §8.6",
};

/** 10.0: a multifd channel error fails the migration and is reported (gitlab #2633). */
export const CHANNEL_ERROR_REPORTED: Ref = {
  fn: "migration_channel_process_incoming",
  file: "migration/channel.c",
  since: "10.0",
  commit: "2b667a8c0f",
  spec: "§6.1",
};

/** `multifd_recv_sync_main`: one SYNC packet on every channel per sync point. */
export const RECV_SYNC: Ref = {
  fn: "multifd_recv_sync_main",
  file: "migration/multifd.c",
  since: "3.0",
  commit: "af8b7d2b09",
  spec: "§1.3",
};

/** `multifd_recv_unfill_packet`: the destination's packet checks. */
export const RECV_UNFILL: Ref = {
  fn: "multifd_recv_unfill_packet",
  file: "migration/multifd.c",
  since: "3.0",
  commit: "af8b7d2b09",
  spec: "§4.5",
};

/** 10.0: the recv thread's error is checked after loadvm, so a bad packet fails the migration. */
export const LOADVM_CHECKS_ERROR: Ref = {
  fn: "process_incoming_migration_co",
  file: "migration/migration.c",
  since: "10.0",
  commit: "e0ad300fe1",
  spec: "§5.2",
};

/** 10.0: the source ends every multifd TLS channel with close_notify. */
export const TLS_BYE: Ref = {
  fn: "multifd_send_shutdown → migration_tls_channel_end",
  file: "migration/multifd.c",
  since: "10.0",
  commit: "48796f6b44",
  spec: "§5.1",
};

/** 10.0: `multifd-clean-tls-termination` (default true) decides strict or relaxed EOF. */
export const TLS_CLEAN_TERMINATION: Ref = {
  fn: "migration.multifd-clean-tls-termination (QIO_CHANNEL_READ_FLAG_RELAXED_EOF)",
  file: "migration/options.c, io/channel-tls.c",
  since: "10.0",
  commit: "9b3b192f65",
  spec: "§5.1, §5.2",
};

/** TLS client with the hostname to check the destination's certificate against. */
export const TLS_CLIENT: Ref = {
  fn: "migration_tls_client_create",
  file: "migration/tls.c",
  since: "≤7.2",
  spec: "§5",
};

/** TLS server on every incoming socket, verifying the client (`verify-peer`). */
export const TLS_SERVER: Ref = {
  fn: "migration_tls_channel_process_incoming",
  file: "migration/tls.c",
  since: "≤7.2",
  spec: "§5",
};

/** TLS channels are not peekable: mapping by order of handshake completion. */
export const TLS_ORDER: Ref = {
  fn: "migration_ioc_process_incoming (no QIO_CHANNEL_FEATURE_READ_MSG_PEEK on TLS)",
  file: "migration/migration.c, io/channel-tls.c",
  since: "8.0",
  commit: "6720c2b327",
  spec: "§2",
};

/** The TLS handshake of every migration channel, driven from the main loop. */
export const TLS_HANDSHAKE: Ref = {
  fn: "qio_channel_tls_handshake → qio_channel_tls_handshake_task → qcrypto_tls_session_handshake",
  file: "io/channel-tls.c, crypto/tlssession.c",
  since: "≤7.2",
  spec: "§5",
};
