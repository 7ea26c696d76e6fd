/**
 * The receiver of one multifd channel after its init packet, as QEMU's `multifd_recv_thread()`:
 * read a packet (10.0+: the 12-byte header first, then a RAM or device-state body), check every
 * field, read the normal pages straight into the RAM image (one read per run of contiguous pages),
 * zero-fill the zero pages, and stop at every SYNC packet until the main stream reaches its sync
 * point. A clean end of stream between packets ends the channel.
 *
 * @module
 */

import type { ByteReader } from "../net/read.ts";
import type { WaitOptions } from "../net/wait.ts";
import { WireError } from "../wire/errors.ts";
import {
  decodeDeviceStatePacket,
  decodePacket,
  decodePacketHdr,
  DEFAULT_MAX_DEVICE_STATE,
  isSyncPacket,
  PACKET_HDR_SIZE,
  packetKind,
  type PacketLayout,
  packetLength,
  pageCount,
  validateDeviceStatePacket,
  validatePacket,
  validatePacketHdr,
} from "../wire/packet.ts";
import { PAGE_SIZE } from "../ram/pattern.ts";
import type { RamImage } from "./dst_ram_image.ts";
import type { SyncBarrier } from "./dst_sync.ts";
import type { ObservedConnection } from "./dst_transcript.ts";

/** How a channel's stream ended when it ended cleanly. */
export type ChannelEnd = "fin" | "close_notify" | "abrupt";

/** What a channel receiver works with. */
export interface MultifdChannelContext {
  readonly id: number;
  readonly reader: ByteReader;
  readonly layout: PacketLayout;
  readonly ram: RamImage;
  readonly barrier: SyncBarrier;
  readonly signal: AbortSignal;
  readonly readTimeoutMs: number;
  /** TLS: how the transport ends cleanly (`close_notify`), or `fin` for plain TCP. */
  readonly cleanEnd: "fin" | "close_notify";
  /**
   * TLS `relaxed` (QEMU's `multifd-clean-tls-termination=false`): an end without close_notify
   * is accepted at a packet boundary.
   */
  readonly relaxedEof: boolean;
  /** The transcript entry to count into. */
  readonly observed: ObservedConnection;
  /** Called after every packet with the bytes it moved (for progress). */
  readonly onBytes?: (bytes: number) => void;
}

/**
 * Receives packets until the channel ends. Resolves with how it ended.
 *
 * @throws {WireError} `E_MAGIC`, `E_VERSION`, `E_PACKET` for a bad packet, `E_TRUNCATED` when it
 * stops mid-packet, `E_TLS_PREMATURE_EOF` for a TLS end without close_notify (strict),
 * `E_TIMEOUT` when the peer stalls.
 * @example
 * ```ts ignore
 * const end = await receiveMultifdChannel({ id: 0, reader, layout: "v10.0", ram, barrier, ... });
 * ```
 */
export async function receiveMultifdChannel(ctx: MultifdChannelContext): Promise<ChannelEnd> {
  const { reader, layout, ram, observed } = ctx;
  const count = pageCount(PAGE_SIZE);
  const packet = new Uint8Array(packetLength(PAGE_SIZE));
  const offsets = new Float64Array(count);
  const wait = (what: string): WaitOptions => ({
    signal: ctx.signal,
    timeoutMs: ctx.readTimeoutMs,
    what,
  });
  // QEMU ≥ 10.0 reads the 12-byte header first; older ones the whole fixed-size packet.
  const firstRead = layout === "v10.0" ? PACKET_HDR_SIZE : packet.length;
  observed.packets ??= 0;
  observed.syncs ??= 0;
  observed.normalPages ??= 0;
  observed.zeroPages ??= 0;
  for (;;) {
    const before = reader.bytesRead;
    let head: Uint8Array | null;
    try {
      head = await reader.readExactlyOrEnd(packet.subarray(0, firstRead), {
        ...wait("packet header"),
        readAhead: false,
      });
    } catch (error) {
      if (
        ctx.relaxedEof && error instanceof WireError &&
        error.errorClass === "E_TLS_PREMATURE_EOF" && reader.bytesRead === before
      ) {
        return "abrupt";
      }
      throw error;
    }
    if (head === null) return ctx.cleanEnd;
    if (layout === "v10.0") {
      const hdr = decodePacketHdr(packet);
      validatePacketHdr(hdr);
      if (packetKind(layout, hdr.flags) === "device-state") {
        await receiveDeviceState(ctx, packet, wait);
        continue;
      }
      await reader.readExactly(packet.subarray(PACKET_HDR_SIZE), {
        ...wait("packet body"),
        readAhead: false,
      });
    }
    const decoded = decodePacket(layout, packet, 0, PAGE_SIZE, offsets);
    if (ram.blocks.length === 0 && decoded.normalPages + decoded.zeroPages > 0) {
      await ram.whenAnnounced(ctx.signal);
    }
    validatePacket(layout, decoded, { ramBlocks: ram.lengths, pageSize: PAGE_SIZE });
    const normal = decoded.normalPages;
    const zero = layout === "v7.2" ? 0 : decoded.zeroPages;
    if (normal > 0 && decoded.nextPacketSize !== normal * PAGE_SIZE) {
      // QEMU reads normal_pages pages whatever next_packet_size says; every QEMU sender sets it
      // to exactly that for nocomp, so a different value is a malformed packet.
      throw new WireError("E_PACKET", "packet next_packet_size does not match its pages", {
        field: "packet.next_packet_size",
        received: decoded.nextPacketSize,
        expected: normal * PAGE_SIZE,
      });
    }
    // Normal pages: payload in offset order; one read per run of contiguous pages.
    for (let i = 0; i < normal;) {
      let run = 1;
      while (i + run < normal && offsets[i + run] === offsets[i] + run * PAGE_SIZE) run++;
      await reader.readExactly(ram.page(decoded.ramBlock, offsets[i], run), wait("page payload"));
      i += run;
    }
    for (let i = normal; i < normal + zero; i++) ram.zero(decoded.ramBlock, offsets[i], 1);
    observed.packets!++;
    observed.normalPages! += normal;
    observed.zeroPages! += zero;
    if (decoded.reservedNonZero.length > 0) {
      observed.packetsWithReservedBytes = (observed.packetsWithReservedBytes ?? 0) + 1;
    }
    ctx.barrier.touch();
    ctx.onBytes?.(reader.bytesRead - before);
    if (isSyncPacket(decoded)) {
      observed.syncs!++;
      if (normal + zero > 0) observed.syncsWithPages = (observed.syncsWithPages ?? 0) + 1;
      await ctx.barrier.channelSynced(ctx.id, ctx.signal);
    }
  }
}

/** A 10.0+ device-state packet: checked, its payload read (bounded) and dropped. */
async function receiveDeviceState(
  ctx: MultifdChannelContext,
  packet: Uint8Array,
  wait: (what: string) => WaitOptions,
): Promise<void> {
  const body = new Uint8Array(276);
  body.set(packet.subarray(0, PACKET_HDR_SIZE));
  await ctx.reader.readExactly(body.subarray(PACKET_HDR_SIZE), wait("device state packet"));
  const decoded = decodeDeviceStatePacket(body);
  validateDeviceStatePacket(decoded, { maxPayload: DEFAULT_MAX_DEVICE_STATE });
  // No device here takes device state; read and drop it in bounded steps.
  const sink = new Uint8Array(Math.min(decoded.nextPacketSize, 64 * 1024));
  for (let left = decoded.nextPacketSize; left > 0;) {
    const step = Math.min(left, sink.length);
    await ctx.reader.readExactly(sink.subarray(0, step), wait("device state payload"));
    left -= step;
  }
  ctx.observed.packets!++;
  ctx.observed.deviceStatePackets = (ctx.observed.deviceStatePackets ?? 0) + 1;
}
