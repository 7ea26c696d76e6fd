/**
 * How many made-up packets a channel Worker runs its hot loop over before the transfer, on either
 * side (`dst_warm_up.ts`, `src_warm_up.ts`). A Worker of a 1 GiB, 4-channel migration handles
 * about 500 packets, all of them in V8's slow tiers unless it has warmed up: measured in a loop,
 * the destination's receiver costs about 30 µs a packet for the first 500 and 3 µs once optimised.
 *
 * @module
 */

import { PAGE_SIZE } from "../ram/pattern.ts";
import { WireError } from "../wire/errors.ts";
import { pageCount } from "../wire/packet.ts";

/** Warm-up packets at most: enough for V8 to optimise a channel's loop. */
export const MAX_WARM_UP_PACKETS = 2000;

/**
 * How many packets to warm a channel up with: four per packet the channel is expected to carry
 * (the RAM shared out over the channels), at most {@linkcode MAX_WARM_UP_PACKETS}, so a small
 * migration pays next to nothing for it.
 *
 * @example
 * ```ts
 * import { warmUpPackets } from "./warm_up_packets.ts";
 * console.log(warmUpPackets(16, 4), warmUpPackets(1024, 4)); // 32 2000
 * ```
 */
export function warmUpPackets(ramMib: number, channels: number): number {
  const packets = Math.ceil((ramMib * 1024 * 1024) / (pageCount(PAGE_SIZE) * PAGE_SIZE));
  return Math.min(MAX_WARM_UP_PACKETS, 4 * Math.ceil(packets / Math.max(1, channels)));
}

/**
 * Whether a Worker that reports `got` warm-up packets of `asked` did them all; otherwise the
 * error to fail its start with. Fewer means its loop stopped early: a bug, not a slow start.
 *
 * @example
 * ```ts
 * import { warmUpShortfall } from "./warm_up_packets.ts";
 * console.log(warmUpShortfall("channel worker", 50, 50)); // null
 * ```
 */
export function warmUpShortfall(who: string, got: number, asked: number): WireError | null {
  if (got === asked) return null;
  return new WireError("E_IO", `${who} warmed up on ${got} of ${asked} packets`);
}
