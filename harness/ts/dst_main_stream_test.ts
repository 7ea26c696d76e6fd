import assert from "node:assert/strict";
import { ByteReader, type RawReader } from "../net/read.ts";
import { WireError } from "../wire/errors.ts";
import { MainStreamWriter, RAM_SAVE_FLAG_EOS } from "../wire/main_stream.ts";
import { parseUuid } from "../wire/uuid.ts";
import { SeededRandom } from "../wire/test_random.ts";
import type { FlushStyle } from "../wire/versions.ts";
import { consumeMainStream } from "./dst_main_stream.ts";
import { RamImage } from "./dst_ram_image.ts";
import { SyncBarrier } from "./dst_sync.ts";
import type { ObservedMain } from "./dst_transcript.ts";
import { pageContent } from "./dst_testing.ts";

const STREAMS = new URL("../../fixtures/vectors/streams/", import.meta.url);
const UUID = "12345678-9abc-def0-1122-334455667788";

/** Serves `data` in chunks of random sizes up to `max`, then end of stream. */
function chunked(data: Uint8Array, random: SeededRandom, max: number): RawReader {
  let at = 0;
  return {
    read(buffer: Uint8Array): Promise<number | null> {
      if (at >= data.length) return Promise.resolve(null);
      const n = Math.min(buffer.length, data.length - at, 1 + random.below(max));
      buffer.set(data.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
}

interface Consumed {
  readonly main: ObservedMain;
  readonly ram: RamImage;
  readonly error?: unknown;
}

/**
 * Consumes `data` as a destination with one channel whose SYNC packets are always there; a
 * failure is returned with what was recorded up to it.
 */
async function consume(
  data: Uint8Array,
  options: { flushStyle: FlushStyle; mib: number; seed?: number; max?: number },
): Promise<Consumed> {
  const ram = new RamImage(options.mib);
  const barrier = new SyncBarrier(1);
  const controller = new AbortController();
  const channel = (async () => {
    while (!controller.signal.aborted) await barrier.channelSynced(0, controller.signal);
  })().catch(() => {});
  let main: ObservedMain | undefined;
  let error: unknown;
  try {
    const random = new SeededRandom(options.seed ?? 1);
    await consumeMainStream({
      reader: new ByteReader(chunked(data, random, options.max ?? 70_000), {
        bufferSize: 1 << 20,
        directReadMin: 16384,
      }),
      ram,
      barrier,
      flushStyle: options.flushStyle,
      uuid: parseUuid(UUID),
      signal: controller.signal,
      readTimeoutMs: 2000,
      observed: (observed) => main = observed,
    });
  } catch (failure) {
    error = failure;
  } finally {
    controller.abort();
    await channel;
  }
  return { main: main!, ram, error };
}

/** Consumes `data`, expecting it to complete. */
async function completes(
  data: Uint8Array,
  options: Parameters<typeof consume>[1],
): Promise<Consumed> {
  const result = await consume(data, options);
  if (result.error !== undefined) throw result.error;
  return result;
}

function rejected(result: Consumed, errorClass: string, field: string): void {
  const error = result.error;
  assert.ok(error instanceof WireError, String(error));
  assert.equal(error.errorClass, errorClass, error.message);
  assert.equal(error.field, field, error.message);
}

Deno.test("real QEMU main streams: sync points, device sections through the VM description, EOF", async () => {
  for (
    const [file, flushStyle, syncPoints] of [
      ["qemu-7.2-multifd2.bin", "eos", 3],
      ["qemu-10.0-multifd2.bin", "multifd-flush", 3],
    ] as const
  ) {
    const bytes = await Deno.readFile(new URL(file, STREAMS));
    for (const max of [1, 300, 70_000]) {
      const { main } = await completes(bytes, { flushStyle, mib: 16, max });
      assert.equal(main.magic, 0x5145564d);
      assert.equal(main.syncPoints, syncPoints, file);
      assert.equal(main.eof, true);
      assert.deepEqual(main.records.map((r) => r.type).filter((t) => t !== "command"), [
        "configuration",
        "start",
        "part",
        "end",
        "full",
        "full",
        "eof",
        "vmdescription",
      ]);
      const [timer, globalstate] = main.records.filter((r) => r.type === "full");
      assert.equal(timer.idstr, "timer");
      assert.match(timer.fields?.cpu_ticks_offset ?? "", /^-?\d+$/);
      assert.equal(globalstate.idstr, "globalstate");
      assert.ok(Object.keys(globalstate.fields ?? {}).length > 0);
      assert.deepEqual(main.records[1].ram?.blocks, [{ name: "ram", length: 16 << 20 }]);
      assert.ok(Array.isArray((main.vmdescription as { devices?: unknown[] })?.devices));
    }
  }
});

Deno.test("pages on the main stream land in the RAM image whatever the read chunks", async () => {
  const writer = new MainStreamWriter(1 << 20).header().configuration("none")
    .sectionStart({ sectionId: 2, name: "ram", instanceId: 0, versionId: 4 })
    .ramBlocks([{ name: "ram", length: 1 << 20 }]);
  const expected = new Uint8Array(1 << 20);
  for (let page = 0; page < 256; page += 3) {
    writer.page(page * 4096, pageContent(page), page === 0 ? "ram" : undefined);
    expected.set(pageContent(page), page * 4096);
  }
  writer.zeroPage(4096).ramFlags(RAM_SAVE_FLAG_EOS).footer(2).eof();
  const bytes = writer.take();
  for (const [seed, max] of [[1, 5000], [2, 100_000], [3, 1 << 20]]) {
    const { main, ram } = await completes(bytes, { flushStyle: "eos", mib: 1, seed, max });
    assert.deepEqual(ram.bytes, expected);
    assert.equal(main.normalPages, 86);
    assert.equal(main.zeroPages, 1);
    assert.equal(main.syncPoints, 1);
  }
});

Deno.test("the configuration is checked against this destination", async () => {
  const stream = (options: Parameters<MainStreamWriter["configuration"]>[1]) =>
    new MainStreamWriter().header().configuration("none", options).eof().take();
  const ok = await completes(stream({ uuid: parseUuid(UUID), targetPageBits: 12 }), {
    flushStyle: "multifd-flush",
    mib: 1,
  });
  assert.deepEqual(ok.main.records.map((r) => r.idstr ?? r.type), [
    "configuration",
    "configuration/target-page-bits",
    "configuration/uuid",
    "eof",
  ]);
  const other = parseUuid("01020304-0506-0708-090a-0b0c0d0e0f10");
  const options = { flushStyle: "multifd-flush", mib: 1 } as const;
  rejected(await consume(stream({ uuid: other }), options), "E_UUID", "configuration.uuid");
  rejected(
    await consume(stream({ targetPageBits: 13 }), options),
    "E_STREAM",
    "configuration.target_page_bits",
  );
  rejected(
    await consume(stream({ capabilities: ["x-ignore-shared"] }), options),
    "E_STREAM",
    "configuration.capabilities",
  );
});

Deno.test("a bad header is E_MAGIC or E_VERSION, recorded as received", async () => {
  const options = { flushStyle: "multifd-flush", mib: 1 } as const;
  const magic = await consume(
    new MainStreamWriter().header(0x11223344).configuration("none").take(),
    options,
  );
  rejected(magic, "E_MAGIC", "stream.magic");
  assert.equal(magic.main.magic, 0x11223344);
  const version = await consume(
    new MainStreamWriter().header(undefined, 2).configuration("none").take(),
    options,
  );
  rejected(version, "E_VERSION", "stream.version");
  assert.equal(version.main.version, 2);
});
