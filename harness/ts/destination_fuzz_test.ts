import assert from "node:assert/strict";
import { ByteReader, type RawReader } from "../net/read.ts";
import { ERROR_CLASSES, WireError } from "../wire/errors.ts";
import { decodeInitPacket, encodeInitPacket, validateInitPacket } from "../wire/init_packet.ts";
import type { PacketLayout } from "../wire/packet.ts";
import { SeededRandom } from "../wire/test_random.ts";
import { startTsDestination } from "./destination.ts";
import { consumeMainStream } from "./dst_main_stream.ts";
import { receiveMultifdChannel } from "./dst_multifd.ts";
import { RamImage } from "./dst_ram_image.ts";
import { SyncBarrier } from "./dst_sync.ts";
import type { ObservedConnection } from "./dst_transcript.ts";
import {
  concat,
  mainHeader,
  mainTrailer,
  pageContent,
  ramEnd,
  ramPacket,
  ramStart,
  scriptedMigration,
  syncPacket,
} from "./dst_testing.ts";

const CLASSES = new Set<string>(ERROR_CLASSES);
const UUID = "12345678-9abc-def0-1122-334455667788";
const INTERESTING = [0, 1, 2, 0x7f, 0x80, 0x81, 0xff, 0x100, 0x1000, 0x7fffffff, 0xffffffff];

/** Mutates `input` in one of several ways; returns a new array. */
function mutate(random: SeededRandom, input: Uint8Array): Uint8Array {
  const out = input.slice();
  const kind = random.below(7);
  if (out.length === 0) return random.bytes(random.below(16));
  const at = random.below(out.length);
  switch (kind) {
    case 0: // bit flips
      for (let i = 0, n = 1 + random.below(4); i < n; i++) {
        out[random.below(out.length)] ^= 1 << random.below(8);
      }
      return out;
    case 1: // a byte set to a boundary value
      out[at] = [0, 0xff, 0x7f, 0x80, 0x7e, 0x05, 0x10][random.below(7)];
      return out;
    case 2: { // a u32 set to an interesting value
      const v = INTERESTING[random.below(INTERESTING.length)];
      const view = new DataView(out.buffer);
      if (at + 4 <= out.length) view.setUint32(at - (at % 4), v >>> 0);
      return out;
    }
    case 3: // truncation
      return out.subarray(0, random.below(out.length));
    case 4: // random bytes inserted
      return concat(out.subarray(0, at), random.bytes(1 + random.below(12)), out.subarray(at));
    case 5: // a span removed
      return concat(
        out.subarray(0, at),
        out.subarray(Math.min(out.length, at + 1 + random.below(64))),
      );
    default: // a span overwritten with random bytes
      out.set(random.bytes(Math.min(out.length - at, 1 + random.below(32))), at);
      return out;
  }
}

/** Serves `data` in random chunk sizes, then end of stream. */
function chunkedSource(random: SeededRandom, data: Uint8Array): RawReader {
  let at = 0;
  return {
    read(buffer: Uint8Array): Promise<number | null> {
      if (at >= data.length) return Promise.resolve(null);
      const n = Math.min(buffer.length, data.length - at, 1 + random.below(2000));
      buffer.set(data.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
}

function assertCanonical(error: unknown, input: Uint8Array, seed: number): void {
  if (error instanceof WireError && CLASSES.has(error.errorClass)) return;
  throw new Error(
    `seed ${seed}: not a canonical rejection for ${input.length} bytes: ${
      error instanceof Error ? error.stack : error
    }`,
  );
}

const LAYOUTS: readonly PacketLayout[] = ["v7.2", "v9.0", "v10.0"];

Deno.test("fuzz: ts destination decoders reject every mutated input with a canonical class", async (t) => {
  let total = 0;

  await t.step("init packets (40,000)", () => {
    const random = new SeededRandom(0x1001);
    const base = encodeInitPacket({ uuid: UUID, id: 1 });
    for (let i = 0; i < 40_000; i++) {
      const input = i % 10 === 0 ? random.bytes(random.below(80)) : mutate(random, base);
      try {
        const id = validateInitPacket(decodeInitPacket(input), {
          uuid: UUID,
          channels: 4,
          seen: new Set([3]),
        });
        assert.ok(id >= 0 && id < 4 && id !== 3);
      } catch (error) {
        assertCanonical(error, input, i);
      }
      total++;
    }
  });

  await t.step("multifd packet streams (40,000)", async () => {
    const random = new SeededRandom(0x2002);
    const ram = new RamImage(1);
    ram.setBlocks([{ name: "ram", length: 1 << 20 }]);
    const bases = LAYOUTS.map((layout) =>
      concat(
        ramPacket(layout, {
          normalOffsets: [0, 4096, 12288],
          zeroOffsets: layout === "v7.2" ? [] : [8192],
        }, concat(pageContent(0), pageContent(1), pageContent(3))),
        syncPacket(layout),
        ramPacket(layout, { normalOffsets: [65536] }, pageContent(16)),
      )
    );
    for (let i = 0; i < 40_000; i++) {
      const which = random.below(LAYOUTS.length);
      const input = mutate(random, bases[which]);
      const barrier = new SyncBarrier(1);
      const controller = new AbortController();
      // The main stream's side of the barrier: every SYNC is released at once.
      const pump = (async () => {
        while (!controller.signal.aborted) await barrier.syncMain(controller.signal);
      })().catch(() => {});
      const observed: ObservedConnection = {
        index: 0,
        kind: "multifd",
        transport: "tcp",
        acceptedAtMs: 0,
        bytes: 0,
        end: "open",
      };
      try {
        await receiveMultifdChannel({
          id: 0,
          reader: new ByteReader(chunkedSource(random, input), { bufferSize: 4096 }),
          layout: LAYOUTS[which],
          ram,
          barrier,
          signal: controller.signal,
          readTimeoutMs: 1000,
          cleanEnd: "fin",
          relaxedEof: false,
          observed,
        });
      } catch (error) {
        assertCanonical(error, input, i);
      } finally {
        controller.abort();
        barrier.channelEnded(0);
        await pump;
      }
      total++;
    }
  });

  await t.step("main streams (25,000)", async () => {
    const random = new SeededRandom(0x3003);
    const length = 1 << 20;
    const bases = (["multifd-flush", "eos"] as const).map((flush) =>
      concat(
        mainHeader(),
        ramStart(length, flush),
        // A PART with a zero page and a normal page on the main stream (QEMU 7.2 style).
        new Uint8Array([0x02, 0, 0, 0, 2]),
        new Uint8Array([0, 0, 0, 0, 0, 0, 0x10, 0x02, 3, 0x72, 0x61, 0x6d, 0]),
        new Uint8Array([0, 0, 0, 0, 0, 0, 0x20, 0x28]),
        pageContent(2),
        new Uint8Array([0, 0, 0, 0, 0, 0, 0, 0x10, 0x7e, 0, 0, 0, 2]),
        new Uint8Array([0x08, 0, 0x0b, 0, 0]),
        ramEnd(flush),
        mainTrailer(),
      )
    );
    for (let i = 0; i < 25_000; i++) {
      const which = random.below(2);
      const input = mutate(random, bases[which]);
      const barrier = new SyncBarrier(1);
      const controller = new AbortController();
      // The channel's side of the barrier: a SYNC packet is always there.
      const pump = (async () => {
        while (!controller.signal.aborted) await barrier.channelSynced(0, controller.signal);
      })().catch(() => {});
      try {
        await consumeMainStream({
          reader: new ByteReader(chunkedSource(random, input), { bufferSize: 4096 }),
          ram: new RamImage(1),
          barrier,
          flushStyle: which === 0 ? "multifd-flush" : "eos",
          uuid: new Uint8Array(16),
          signal: controller.signal,
          readTimeoutMs: 1000,
          maxDeviceTail: 1 << 20,
          observed: () => {},
        });
      } catch (error) {
        assertCanonical(error, input, i);
      } finally {
        controller.abort();
        await pump;
      }
      total++;
    }
  });

  assert.ok(total >= 100_000, `${total} inputs`);
});

Deno.test("fuzz: a live ts destination rejects 300 mutated migrations with canonical classes", async () => {
  const random = new SeededRandom(0x4004);
  const script = scriptedMigration({
    channels: 2,
    mib: 1,
    pages: [0, 1, 2, 9],
    zeroPages: [4],
    uuid: UUID,
  });
  const counts = new Map<string, number>();
  const one = async (i: number) => {
    const streams = [script.main, ...script.channels];
    const target = random.below(streams.length);
    streams[target] = mutate(random, streams[target]);
    await using dst = await startTsDestination({
      channels: 2,
      ram: { mib: 1, seed: 0 },
      uuid: UUID,
      readTimeoutMs: 300,
      verifyPattern: false,
    });
    const conns: Deno.TcpConn[] = [];
    try {
      for (const stream of streams) {
        const conn = await Deno.connect(dst.endpoint).catch(() => null);
        if (!conn) break;
        conns.push(conn);
        for (let at = 0; at < stream.length;) at += await conn.write(stream.subarray(at));
        await conn.closeWrite();
      }
    } catch {
      // The destination closed first.
    }
    const outcome = await dst.outcome(AbortSignal.timeout(10_000));
    for (const conn of conns) {
      try {
        conn.close();
      } catch {
        // Already closed.
      }
    }
    assert.ok(
      outcome.status === "completed" ||
        (outcome.status === "failed" && CLASSES.has(outcome.errorClass ?? "")),
      `case ${i}: ${outcome.status} ${outcome.errorClass} ${outcome.message}`,
    );
    const key = outcome.errorClass ?? outcome.status;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  };
  for (let i = 0; i < 300; i += 10) {
    await Promise.all(Array.from({ length: 10 }, (_, k) => one(i + k)));
  }
  // Both outcomes occur: the mutations are neither all harmless nor all fatal.
  assert.ok(counts.size >= 3, JSON.stringify([...counts]));
});
