/**
 * The init packet (`MultiFDInit_t`) each multifd channel of the source starts with, QEMU's by
 * default (`multifd_send_initial_packet`: magic, version 1, the VM UUID, id = channel index) and
 * any field or the raw bytes overridden by the script.
 *
 * @module
 */

import { encodeInitPacket, INIT_PACKET_SIZE } from "../wire/init_packet.ts";
import type { InitOverride } from "./source_options.ts";

/** What to send on a channel before its packets, and what to do after it. */
export interface InitPlan {
  /** Bytes to write (the whole init, or a prefix for truncate/stall). */
  readonly bytes: Uint8Array;
  /** `send`: go on with packets; `close`: close after the bytes; `stall`: hold until aborted. */
  readonly then: "send" | "close" | "stall";
  /** The id in the init (for events); the slot's index when not overridden. */
  readonly id: number;
  /**
   * Set when the channel stalls in its TLS handshake: the ClientHello bytes to send in its place
   * (`bytes` is then empty and `then` is `stall`).
   */
  readonly tlsStall?: Uint8Array;
}

/**
 * The start of a TLS 1.2 ClientHello as a client sends it: a handshake record header announcing
 * 512 bytes, the handshake header of a ClientHello, the client version. A server that has read a
 * prefix of it waits for the rest.
 */
export const CLIENT_HELLO_PREFIX: Uint8Array = new Uint8Array([
  0x16,
  0x03,
  0x01,
  0x02,
  0x00, // record: handshake, TLS 1.0 framing, 512 bytes
  0x01,
  0x00,
  0x01,
  0xfc, // handshake: ClientHello, 508 bytes
  0x03,
  0x03, // client_version: TLS 1.2
]);

/**
 * Plans the init of multifd slot `slot` with VM UUID `uuid`.
 *
 * @throws {RangeError} when `truncateAt`/`stallAt` is outside the init's length.
 * @example
 * ```ts
 * import { planInit } from "./src_init.ts";
 * const plan = planInit(1, undefined, { truncateAt: 10 });
 * console.log(plan.bytes.length, plan.then); // 10 "close"
 * ```
 */
export function planInit(
  slot: number,
  uuid: string | undefined,
  override?: InitOverride,
): InitPlan {
  const id = override?.id ?? slot;
  const full = override?.raw ?? encodeInitPacket({
    magic: override?.magic,
    version: override?.version,
    uuid: override?.uuid ?? uuid,
    id,
    unused1: override?.unused1,
    unused2: override?.unused2,
  });
  const tlsStallAt = override?.tlsStallAt;
  if (tlsStallAt !== undefined) {
    const most = CLIENT_HELLO_PREFIX.length;
    if (!Number.isInteger(tlsStallAt) || tlsStallAt < 0 || tlsStallAt > most) {
      throw new RangeError(`init of slot ${slot}: tlsStallAt ${tlsStallAt} outside 0..${most}`);
    }
    return {
      bytes: new Uint8Array(0),
      then: "stall",
      id,
      tlsStall: CLIENT_HELLO_PREFIX.subarray(0, tlsStallAt),
    };
  }
  if (override?.truncateAt !== undefined && override.stallAt !== undefined) {
    throw new RangeError(`init of slot ${slot}: truncateAt and stallAt exclude each other`);
  }
  const cut = override?.truncateAt ?? override?.stallAt;
  if (cut !== undefined) {
    if (!Number.isInteger(cut) || cut < 0 || cut > full.length) {
      throw new RangeError(
        `init of slot ${slot}: cut at ${cut} outside 0..${full.length} (init is ${INIT_PACKET_SIZE} bytes)`,
      );
    }
    return {
      bytes: full.subarray(0, cut),
      then: override?.truncateAt !== undefined ? "close" : "stall",
      id,
    };
  }
  return { bytes: full, then: "send", id };
}
