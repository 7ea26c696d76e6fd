/**
 * Declarative packet mutations for the packet-family negative cases, turned into a mutation hook:
 * each edits the first RAM packet carrying pages on its channel, sends it, and ends the transfer
 * so the destination's reaction to that one packet is what a case observes.
 *
 * @module
 */

import { viewOf, writeCString } from "../wire/bytes.ts";
import { IDSTR_SIZE, type PacketLayout } from "../wire/packet.ts";
import { PAGES_PER_PACKET, setU64 } from "./src_packer.ts";
import type {
  MutatePacket,
  PacketMutation,
  PacketMutationResult,
  PacketMutationSpec,
  PacketView,
} from "./source_options.ts";

/** Values the mutations use when none is given: each just past what a destination accepts. */
export const MUTATION_DEFAULTS = {
  magic: 0xdeadbeef,
  version: 2,
  count: PAGES_PER_PACKET + 1,
  ramBlock: "no-such-block",
} as const;

/**
 * Combines a hook and declarative mutations into one hook. `ramBytes` is the RAM block's length
 * (the default bad offset is the block's end).
 *
 * @example
 * ```ts
 * import { mutationHook } from "./src_mutation.ts";
 * const hook = mutationHook("v10.0", 16 << 20, undefined, [{ mutation: { kind: "magic" } }]);
 * console.log(typeof hook); // "function"
 * ```
 */
export function mutationHook(
  layout: PacketLayout,
  ramBytes: number,
  hook: MutatePacket | undefined,
  specs: readonly PacketMutationSpec[] | undefined,
): MutatePacket | undefined {
  if (!specs?.length) return hook;
  for (const spec of specs) {
    if (spec.mutation.kind === "zero-pages" && layout === "v7.2") {
      throw new RangeError('mutation zero-pages: layout "v7.2" has no zero_pages field');
    }
  }
  const done = new Set<PacketMutationSpec>();
  return (channel, index, packet) => {
    let result: PacketMutationResult = hook?.(channel, index, packet);
    if (packet.sync || !hasPages(packet)) return result;
    for (const spec of specs) {
      if (done.has(spec) || (spec.channel ?? 0) !== channel) continue;
      if (spec.mutation.kind === "truncate-payload" && packet.payload.length === 0) continue;
      done.add(spec);
      const applied = applyMutation(spec.mutation, packet, ramBytes);
      result = { ...(result || {}), ...applied, stop: true };
    }
    return result;
  };
}

function hasPages(packet: PacketView): boolean {
  const view = viewOf(packet.header);
  return view.getUint32(16) + view.getUint32(32) > 0;
}

/**
 * Edits `packet` as `mutation` says; returns a payload cut for `truncate-payload`.
 *
 * @example
 * ```ts
 * import { applyMutation } from "./src_mutation.ts";
 * const header = new Uint8Array(1344);
 * applyMutation({ kind: "version" }, { header, payload: new Uint8Array(0), sync: false }, 0);
 * console.log(header[7]); // 2
 * ```
 */
export function applyMutation(
  mutation: PacketMutation,
  packet: PacketView,
  ramBytes: number,
): { truncatePayload?: number } {
  const view = viewOf(packet.header);
  switch (mutation.kind) {
    case "magic":
      view.setUint32(0, mutation.value ?? MUTATION_DEFAULTS.magic);
      return {};
    case "version":
      view.setUint32(4, mutation.value ?? MUTATION_DEFAULTS.version);
      return {};
    case "flags":
      view.setUint32(8, mutation.value);
      return {};
    case "pages-alloc":
      view.setUint32(12, mutation.value ?? MUTATION_DEFAULTS.count);
      return {};
    case "normal-pages":
      view.setUint32(16, mutation.value ?? MUTATION_DEFAULTS.count);
      return {};
    case "zero-pages":
      view.setUint32(32, mutation.value ?? MUTATION_DEFAULTS.count);
      return {};
    case "offset":
      setU64(view, 320, mutation.value ?? ramBytes);
      return {};
    case "ramblock":
      writeCString(
        packet.header.subarray(64, 64 + IDSTR_SIZE),
        mutation.value ?? MUTATION_DEFAULTS.ramBlock,
      );
      return {};
    case "truncate-payload":
      return { truncatePayload: mutation.value ?? (packet.payload.length >>> 1) };
  }
}
