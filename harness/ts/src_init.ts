/**
 * The init packet (`MultiFDInit_t`) each multifd channel of the source starts with, QEMU's by
 * default (`multifd_send_initial_packet`: magic, version 1, the VM UUID, id = channel index) and
 * any field or the raw bytes overridden by the script.
 *
 * @module
 */

import { encodeInitPacket, INIT_PACKET_SIZE } from "../wire/init_packet.ts";
import type { InitOverride } from "./source_options.ts";
import { CLIENT_HELLO_PREFIX } from "../net/tls_record.ts";

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
 * Plans the init of multifd slot `slot` with VM UUID `uuid`.
 *
 * @throws {RangeError} when `truncateAt`/`stallAt` is outside the init's length, or `tlsStallAt`
 *   outside the ClientHello prefix.
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
  const full = override?.raw ?? encodeInitPacket({
    magic: override?.magic,
    version: override?.version,
    uuid: override?.uuid ?? uuid,
    id,
    unused1: override?.unused1,
    unused2: override?.unused2,
  });
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
