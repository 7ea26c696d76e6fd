/**
 * How a destination decides what an incoming connection is: the main channel, a multifd channel,
 * or the postcopy-preempt channel. A pure function of the policy, the first four bytes (when the
 * transport lets them be peeked) and what has been accepted so far.
 *
 * Policies (see `versions.ts` for which QEMU uses which):
 * - `"arrival-order"`: the first connection is main, every later one multifd (postcopy without
 *   multifd). QEMU 7.2 (`migration_ioc_process_incoming`), and every version on channels that
 *   cannot be peeked, such as TLS.
 * - `"peek-magic"`: QEMU 8.0–10.0 (6720c2b327): with multifd on, peek 4 bytes; `QEVM` is main,
 *   anything else multifd. Without multifd, or without bytes to peek, arrival order.
 * - `"peek-magic-strict"`: QEMU 10.1+ (00f3fcef19): `QEVM` is main, `MULTIFD_MAGIC` multifd, any
 *   other magic fails with `unknown channel magic: %u`; once main and every multifd channel exist,
 *   further connections are postcopy-preempt.
 *
 * @module
 */

import { viewOf } from "./bytes.ts";
import { hex, WireError } from "./errors.ts";
import { MULTIFD_MAGIC } from "./init_packet.ts";
import { QEMU_VM_FILE_MAGIC } from "./main_stream.ts";

/** A channel classification policy. */
export type ClassificationPolicy = "arrival-order" | "peek-magic" | "peek-magic-strict";

/** Every policy. */
export const CLASSIFICATION_POLICIES: readonly ClassificationPolicy[] = [
  "arrival-order",
  "peek-magic",
  "peek-magic-strict",
];

/** What a connection is taken for. */
export type ChannelKind = "main" | "multifd" | "postcopy";

/** Bytes peeked to classify a channel. */
export const PEEK_LENGTH = 4;

/** What the destination has accepted so far. */
export interface ClassifierState {
  /** Whether a main channel has been accepted (QEMU's `mis->from_src_file`). */
  readonly mainSeen: boolean;
  /** Multifd channels accepted so far. */
  readonly multifdSeen: number;
  /** The destination's `multifd-channels`. */
  readonly channels: number;
  /** Whether the multifd capability is on. */
  readonly multifdEnabled: boolean;
}

/**
 * Classifies a new connection. `first4` is the first four bytes when they could be peeked, or
 * `undefined` for a channel that cannot be peeked (TLS), which is then classified by order.
 *
 * @throws {WireError} `E_UNKNOWN_CHANNEL` (`unknown channel magic: <decimal>`, or a channel no
 * rule admits) under `"peek-magic-strict"`; `E_TRUNCATED` when fewer than 4 bytes were peeked.
 * @example
 * ```ts
 * import { classifyChannel } from "./classify.ts";
 * const state = { mainSeen: false, multifdSeen: 0, channels: 2, multifdEnabled: true };
 * console.log(classifyChannel("peek-magic", new Uint8Array([0x11, 0x22, 0x33, 0x44]), state));
 * // "multifd"
 * ```
 */
export function classifyChannel(
  policy: ClassificationPolicy,
  first4: Uint8Array | undefined,
  state: ClassifierState,
): ChannelKind {
  if (first4 !== undefined && first4.length < PEEK_LENGTH) {
    throw new WireError("E_TRUNCATED", "channel ended before its magic could be peeked", {
      field: "channel.magic",
      received: `${first4.length} bytes`,
      expected: `${PEEK_LENGTH} bytes`,
    });
  }
  switch (policy) {
    case "arrival-order":
      return byOrder(state);
    case "peek-magic":
      if (!state.multifdEnabled || first4 === undefined) return byOrder(state);
      return readMagic(first4) === QEMU_VM_FILE_MAGIC ? "main" : "multifd";
    case "peek-magic-strict":
      return strict(first4, state);
    default:
      throw new TypeError(`unknown classification policy ${JSON.stringify(policy)}`);
  }
}

function byOrder(state: ClassifierState): ChannelKind {
  if (!state.mainSeen) return "main";
  return state.multifdEnabled ? "multifd" : "postcopy";
}

function strict(first4: Uint8Array | undefined, state: ClassifierState): ChannelKind {
  const allMultifd = !state.multifdEnabled || state.multifdSeen >= state.channels;
  if (state.mainSeen && allMultifd) return "postcopy";
  if (first4 === undefined) {
    if (state.mainSeen && state.multifdEnabled) return "multifd";
    if (!state.mainSeen) return "main";
    throw new WireError("E_UNKNOWN_CHANNEL", "non-peekable channel used without multifd", {
      field: "channel",
    });
  }
  const magic = readMagic(first4);
  if (magic === QEMU_VM_FILE_MAGIC) return "main";
  if (magic === MULTIFD_MAGIC) {
    // QEMU 10.1+ asserts migrate_multifd() here and aborts; migwire refuses the channel instead.
    if (!state.multifdEnabled) {
      throw new WireError("E_UNKNOWN_CHANNEL", "multifd channel while multifd is off", {
        field: "channel.magic",
        received: hex(magic),
        expected: hex(QEMU_VM_FILE_MAGIC),
      });
    }
    return "multifd";
  }
  throw new WireError("E_UNKNOWN_CHANNEL", `unknown channel magic: ${magic}`, {
    field: "channel.magic",
    received: hex(magic),
    expected: `${hex(QEMU_VM_FILE_MAGIC)} or ${hex(MULTIFD_MAGIC)}`,
  });
}

function readMagic(first4: Uint8Array): number {
  return viewOf(first4).getUint32(0);
}
