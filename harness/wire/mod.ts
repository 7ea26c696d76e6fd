/**
 * The wire codec of QEMU's live migration, centred on multifd: pure functions over byte arrays,
 * no I/O. Every rejection is a {@linkcode WireError} with a canonical class naming the field, the
 * value received and the value expected.
 *
 * - `init_packet.ts`: `MultiFDInit_t`, the 64 bytes that open each multifd channel.
 * - `packet.ts`, `flags.ts`: RAM and device-state packets in the layouts of QEMU 7.2, 9.0 and 10.0.
 * - `classify.ts`: which channel an incoming connection is.
 * - `versions.ts`: the one table of QEMU version differences, with references.
 * - `qemu_messages.ts`: QEMU's error texts per version, mapped back to canonical classes.
 * - `main_stream.ts`, `main_stream_decoder.ts`, `vmdesc.ts`: the main (QEVM) stream.
 *
 * @example Check an init packet as a destination does
 * ```ts
 * import { decodeInitPacket, encodeInitPacket, validateInitPacket } from "./mod.ts";
 * const bytes = encodeInitPacket({ uuid: "12345678-9abc-def0-1122-334455667788", id: 1 });
 * const id = validateInitPacket(decodeInitPacket(bytes), {
 *   uuid: "12345678-9abc-def0-1122-334455667788",
 *   channels: 2,
 *   seen: new Set(),
 * });
 * console.log(id); // 1
 * ```
 *
 * @module
 */

export * from "./errors.ts";
export * from "./bytes.ts";
export * from "./uuid.ts";
export * from "./init_packet.ts";
export * from "./flags.ts";
export * from "./packet.ts";
export * from "./classify.ts";
export * from "./versions.ts";
export * from "./main_stream.ts";
export * from "./qemu_messages.ts";
export * from "./main_stream_decoder.ts";
export * from "./vmdesc.ts";
