/**
 * Runs the destination's main-stream consumer over a recorded QEMU main stream before it listens.
 * The channels wait on this thread twice: for the setup at the start of a transfer and for the
 * final sync point at its end. Unwarmed, V8 interprets the main stream's code then, on the two
 * cores the transfer also needs.
 *
 * @module
 */

import { ByteReader, type RawReader } from "../net/read.ts";
import { WireError } from "../wire/errors.ts";
import type { FlushStyle } from "../wire/versions.ts";
import { consumeMainStream } from "./dst_main_stream.ts";
import { RamImage } from "./dst_ram_image.ts";
import { SyncBarrier } from "./dst_sync.ts";
import type { ObservedMain } from "./dst_transcript.ts";

/** Times the recorded stream is consumed: enough for V8 to compile the path past its interpreter. */
export const MAIN_WARM_UP_ROUNDS = 40;

const STREAMS = new URL("../../fixtures/vectors/streams/", import.meta.url);

/** The recorded main stream (a 16 MiB guest, two multifd channels) of each flush style. */
const RECORDED: Record<FlushStyle, string> = {
  "eos": "qemu-7.2-multifd2.bin",
  "multifd-flush": "qemu-10.0-multifd2.bin",
};

/** The guest RAM of the recorded streams, in MiB. */
const RECORDED_MIB = 16;

/**
 * Consumes the recorded QEMU main stream of `flushStyle` `rounds` times, each into a scratch RAM
 * image with a barrier whose one channel is always at its SYNC packet, read in the destination's
 * own chunk sizes. Returns the sync points passed.
 *
 * @throws {WireError} `E_STREAM` when the recording cannot be read, and what the consumer throws
 * if it rejects the recording (a bug in either).
 * @example
 * ```ts
 * import { warmUpMainStream } from "./dst_main_warm_up.ts";
 * console.log(await warmUpMainStream("multifd-flush", 1)); // 3
 * ```
 */
export async function warmUpMainStream(
  flushStyle: FlushStyle,
  rounds: number = MAIN_WARM_UP_ROUNDS,
): Promise<number> {
  const file = new URL(RECORDED[flushStyle], STREAMS);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(file);
  } catch (error) {
    throw new WireError("E_STREAM", `cannot read the main stream to warm up with: ${error}`, {
      field: "mainWarmUp",
      received: file.href,
      cause: error,
    });
  }
  // One scratch memory for every round; each round's image takes a block list of its own.
  const memory = new Uint8Array(new SharedArrayBuffer(RECORDED_MIB * 1024 * 1024));
  let syncPoints = 0;
  for (let round = 0; round < rounds; round++) {
    syncPoints += await consumeOnce(bytes, flushStyle, new RamImage(RECORDED_MIB, memory));
  }
  return syncPoints;
}

async function consumeOnce(
  bytes: Uint8Array,
  flushStyle: FlushStyle,
  ram: RamImage,
): Promise<number> {
  const barrier = new SyncBarrier(1);
  const done = new AbortController();
  const channel = (async () => {
    while (!done.signal.aborted) await barrier.channelSynced(0, done.signal);
  })().catch(() => {});
  let main: ObservedMain | undefined;
  try {
    await consumeMainStream({
      reader: new ByteReader(memoryReader(bytes), { name: "main stream warm-up" }),
      ram,
      barrier,
      flushStyle,
      uuid: new Uint8Array(16),
      signal: done.signal,
      readTimeoutMs: 10_000,
      observed: (observed) => main = observed,
    });
  } finally {
    done.abort();
    await channel;
  }
  return main?.syncPoints ?? 0;
}

function memoryReader(data: Uint8Array): RawReader {
  let at = 0;
  return {
    read(buffer: Uint8Array): Promise<number | null> {
      if (at >= data.length) return Promise.resolve(null);
      const n = Math.min(buffer.length, data.length - at);
      buffer.set(data.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
}
