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

/** What a channel receiver needs of the sync barrier (a Worker has a stand-in for it). */
export type ChannelBarrier = Pick<SyncBarrier, "touch" | "channelSynced">;

/** What a channel receiver works with. */
export interface MultifdChannelContext {
  readonly id: number;
  readonly reader: ByteReader;
  readonly layout: PacketLayout;
  readonly ram: RamImage;
  readonly barrier: ChannelBarrier;
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

/** A read the receiver asks its driver for: fill `into` completely. */
export interface ReadStep {
  readonly kind: "read";
  readonly into: Uint8Array;
  /** What is read, for errors, e.g. `packet header`. */
  readonly what: string;
  /** A clean end of stream before the first byte is answered with `false` instead of failing. */
  readonly endOk: boolean;
  /**
   * Bytes past `into` the driver may read with it: 0 when a payload read straight into RAM
   * follows (bytes staged on the way would be copied again), `Infinity` when anything may.
   */
  readonly readAhead: number;
}

/** A wait the receiver asks its driver for. */
export interface WaitStep {
  /** `blocks`: until the main stream announced the RAM blocks; `sync`: the barrier after a SYNC. */
  readonly kind: "blocks" | "sync";
}

/** What {@linkcode channelSteps} asks of its driver. */
export type ChannelStep = ReadStep | WaitStep;

/** What the receiving logic needs, whatever drives its I/O. */
export interface ChannelCore {
  readonly layout: PacketLayout;
  readonly ram: RamImage;
  readonly cleanEnd: "fin" | "close_notify";
  readonly relaxedEof: boolean;
  readonly observed: ObservedConnection;
  /** Bytes read from the channel so far. */
  bytesRead(): number;
  /** After every packet, with the bytes it took. */
  onPacket(bytes: number): void;
}

/**
 * One channel's receiving logic, free of I/O: a generator that yields the reads and waits it
 * needs and is answered by a driver ({@linkcode receiveMultifdChannel} on this thread, a
 * channel Worker with blocking reads). A read is answered with `true` (filled) or `false` (clean
 * end, only when `endOk`); a failed read is thrown into it. Returns how the channel ended.
 *
 * @throws {WireError} as {@linkcode receiveMultifdChannel}.
 * @example
 * ```ts ignore
 * const steps = channelSteps(core);
 * for (let next = steps.next(); !next.done; next = steps.next(answer(next.value)));
 * ```
 */
export function* channelSteps(ctx: ChannelCore): Generator<ChannelStep, ChannelEnd, boolean> {
  const { layout, ram, observed } = ctx;
  const count = pageCount(PAGE_SIZE);
  const packet = new Uint8Array(packetLength(PAGE_SIZE));
  const offsets = new Float64Array(count);
  // QEMU ≥ 10.0 reads the 12-byte header first; older ones the whole fixed-size packet.
  const firstRead = layout === "v10.0" ? PACKET_HDR_SIZE : packet.length;
  // A payload read straight into RAM follows header and body, so they are read without going
  // past the packet. 10.0+'s header may take a RAM packet's body with it: a device-state packet
  // is shorter, but what it brings along of the next bytes is no RAM payload.
  const headerAhead = layout === "v10.0" ? packet.length - PACKET_HDR_SIZE : 0;
  const exact = (into: Uint8Array, what: string, readAhead = 0, endOk = false): ReadStep => ({
    kind: "read",
    into,
    what,
    endOk,
    readAhead,
  });
  // The same two reads start every packet: made once, not per packet.
  const headerStep = exact(packet.subarray(0, firstRead), "packet header", headerAhead, true);
  const bodyStep = exact(packet.subarray(PACKET_HDR_SIZE), "packet body");
  observed.packets ??= 0;
  observed.syncs ??= 0;
  observed.normalPages ??= 0;
  observed.zeroPages ??= 0;
  for (;;) {
    const before = ctx.bytesRead();
    let head: boolean;
    try {
      head = yield headerStep;
    } catch (error) {
      if (
        ctx.relaxedEof && error instanceof WireError &&
        error.errorClass === "E_TLS_PREMATURE_EOF" && ctx.bytesRead() === before
      ) {
        return "abrupt";
      }
      throw error;
    }
    if (!head) return ctx.cleanEnd;
    if (layout === "v10.0") {
      const hdr = decodePacketHdr(packet);
      validatePacketHdr(hdr);
      if (packetKind(layout, hdr.flags) === "device-state") {
        yield* deviceStateSteps(ctx, packet);
        continue;
      }
      yield bodyStep;
    }
    const decoded = decodePacket(layout, packet, 0, PAGE_SIZE, offsets);
    if (ram.blocks.length === 0 && decoded.normalPages + decoded.zeroPages > 0) {
      yield { kind: "blocks" };
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
      yield read(ram.page(decoded.ramBlock, offsets[i], run), "page payload");
      i += run;
    }
    for (let i = normal; i < normal + zero; i++) ram.zero(decoded.ramBlock, offsets[i], 1);
    observed.packets!++;
    observed.normalPages! += normal;
    observed.zeroPages! += zero;
    if (decoded.reservedNonZero.length > 0) {
      observed.packetsWithReservedBytes = (observed.packetsWithReservedBytes ?? 0) + 1;
    }
    ctx.onPacket(ctx.bytesRead() - before);
    if (isSyncPacket(decoded)) {
      observed.syncs!++;
      if (normal + zero > 0) observed.syncsWithPages = (observed.syncsWithPages ?? 0) + 1;
      yield { kind: "sync" };
    }
  }
}

/** A 10.0+ device-state packet: checked, its payload read (bounded) and dropped. */
function* deviceStateSteps(
  ctx: ChannelCore,
  packet: Uint8Array,
): Generator<ChannelStep, void, boolean> {
  const body = new Uint8Array(276);
  body.set(packet.subarray(0, PACKET_HDR_SIZE));
  yield read(body.subarray(PACKET_HDR_SIZE), "device state packet");
  const decoded = decodeDeviceStatePacket(body);
  validateDeviceStatePacket(decoded, { maxPayload: DEFAULT_MAX_DEVICE_STATE });
  // No device here takes device state; read and drop it in bounded steps.
  const sink = new Uint8Array(Math.min(decoded.nextPacketSize, 64 * 1024));
  for (let left = decoded.nextPacketSize; left > 0;) {
    const step = Math.min(left, sink.length);
    yield read(sink.subarray(0, step), "device state payload");
    left -= step;
  }
  ctx.observed.packets!++;
  ctx.observed.deviceStatePackets = (ctx.observed.deviceStatePackets ?? 0) + 1;
}

function read(into: Uint8Array, what: string): ReadStep {
  return { kind: "read", into, what, endOk: false, readAhead: Infinity };
}

/**
 * Receives packets until the channel ends, reading with the context's `ByteReader` on this
 * thread. Resolves with how it ended.
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
  const { reader } = ctx;
  const steps = channelSteps({
    layout: ctx.layout,
    ram: ctx.ram,
    cleanEnd: ctx.cleanEnd,
    relaxedEof: ctx.relaxedEof,
    observed: ctx.observed,
    bytesRead: () => reader.bytesRead,
    onPacket: (bytes) => {
      ctx.barrier.touch();
      ctx.onBytes?.(bytes);
    },
  });
  const perform = async (step: ChannelStep): Promise<boolean> => {
    switch (step.kind) {
      case "read": {
        const wait = {
          signal: ctx.signal,
          timeoutMs: ctx.readTimeoutMs,
          what: step.what,
          readAhead: step.readAhead,
        };
        if (step.endOk) return (await reader.readExactlyOrEnd(step.into, wait)) !== null;
        await reader.readExactly(step.into, wait);
        return true;
      }
      case "blocks":
        await ctx.ram.whenAnnounced(ctx.signal);
        return true;
      case "sync":
        await ctx.barrier.channelSynced(ctx.id, ctx.signal);
        return true;
    }
  };
  let next = steps.next();
  while (!next.done) {
    let answer: boolean;
    try {
      answer = await perform(next.value);
    } catch (error) {
      next = steps.throw(error);
      continue;
    }
    next = steps.next(answer);
  }
  return next.value;
}
