/**
 * migwire: a conformance suite and test harness for QEMU's live-migration wire protocol, centred on
 * the multifd channels.
 *
 * @module
 */

export * from "./harness/wire/errors.ts";
export * from "./harness/wire/mod.ts";
export type * from "./harness/implementation.ts";
export * from "./harness/ram/pattern.ts";
export * from "./harness/qemu/mod.ts";
export * from "./harness/pki/mod.ts";
export * from "./harness/net/mod.ts";
