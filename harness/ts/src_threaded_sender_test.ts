import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { closeQuietly, listen } from "../net/listen.ts";
import { INIT_PACKET_SIZE } from "../wire/init_packet.ts";
import { MULTIFD_FLAG_SYNC } from "../wire/flags.ts";
import { decodePacket, type PacketLayout } from "../wire/packet.ts";
import { PACKET_HEADER_LENGTH } from "./src_packer.ts";
import { nativeTcpAvailable } from "../net/native_tcp.ts";
import { PAGE_SIZE, sha256Hex } from "../ram/pattern.ts";
import { startTsDestination } from "./destination.ts";
import { startTsSource } from "./source.ts";
import { Recorder } from "./src_testing.ts";
import { useChannelThreads } from "./src_threaded_sender.ts";
import type { TsSourceOptions } from "./source_options.ts";

const native = nativeTcpAvailable();
const UUID = "12345678-9abc-def0-1122-334455667788";
const LOCAL = { hostname: "127.0.0.1", port: 4444 };

/** Runs `body` with `MIGWIRE_NATIVE_TCP` set to `value`, then restores it. */
async function withNativeTcp<T>(value: string, body: () => Promise<T>): Promise<T> {
  const before = Deno.env.get("MIGWIRE_NATIVE_TCP");
  Deno.env.set("MIGWIRE_NATIVE_TCP", value);
  try {
    return await body();
  } finally {
    if (before === undefined) Deno.env.delete("MIGWIRE_NATIVE_TCP");
    else Deno.env.set("MIGWIRE_NATIVE_TCP", before);
  }
}

Deno.test("channel threads are chosen exactly for plain native TCP without per-packet hooks", async () => {
  assert.equal(useChannelThreads({ connect: LOCAL }), native);
  assert.equal(useChannelThreads({ connect: LOCAL, tls: { dir: "pki" } }), false);
  assert.equal(useChannelThreads({ connect: LOCAL, script: { mutatePacket: () => {} } }), false);
  assert.equal(
    useChannelThreads({ connect: LOCAL, script: { mutations: [{ mutation: { kind: "magic" } }] } }),
    false,
  );
  assert.equal(useChannelThreads({ connect: { hostname: "localhost", port: 1 } }), false);
  assert.equal(useChannelThreads({ connect: LOCAL, script: { order: "main-last" } }), native);
  await withNativeTcp("0", () => {
    assert.equal(useChannelThreads({ connect: LOCAL }), false);
    return Promise.resolve();
  });
});

interface Packet {
  readonly sync: boolean;
  readonly sha256: string;
}

/** Every packet of the multifd channels by packet_num; each SYNC checked against its channel. */
function packetsOf(channels: Uint8Array[], layout: PacketLayout): Map<number, Packet> {
  const packets = new Map<number, Packet>();
  for (const bytes of channels) {
    let at = INIT_PACKET_SIZE;
    let lastSize = 0;
    while (at < bytes.length) {
      const packet = decodePacket(layout, bytes, at);
      const length = PACKET_HEADER_LENGTH + packet.normalPages * PAGE_SIZE;
      const sync = (packet.flags & MULTIFD_FLAG_SYNC) !== 0;
      if (sync && layout === "v7.2") assert.equal(packet.nextPacketSize, lastSize);
      if (!sync) lastSize = packet.normalPages * PAGE_SIZE;
      const digest = createHash("sha256").update(bytes.subarray(at, at + length)).digest("hex");
      packets.set(Number(packet.packetNum), { sync, sha256: digest });
      at += length;
    }
    assert.equal(at, bytes.length);
  }
  return packets;
}

async function record(
  options: Omit<TsSourceOptions, "connect">,
  connections: number,
): Promise<{ threads: unknown; bytes: Uint8Array[] }> {
  const signal = AbortSignal.timeout(20_000);
  await using recorder = new Recorder();
  await using source = await startTsSource({ ...options, connect: recorder.endpoint, signal });
  const outcome = await source.outcome(signal);
  assert.equal(outcome.status, "completed", outcome.message);
  const recorded = await recorder.connections(connections, signal);
  return { threads: outcome.evidence?.channelThreads, bytes: recorded.map((r) => r.bytes) };
}

for (const version of ["10.0", "7.2"]) {
  Deno.test({
    name:
      `channel threads send the same main stream and packets as the main thread (QEMU ${version})`,
    ignore: !native,
  }, async () => {
    const options = {
      channels: 3,
      ram: { mib: 8, seed: 5, density: 0.4 },
      uuid: UUID,
      targetVersion: version,
    };
    const threaded = await record(options, 4);
    const single = await withNativeTcp("0", () => record(options, 4));
    assert.equal(threaded.threads, true);
    assert.equal(single.threads, false);
    // The main stream is the same; which channel carries a packet depends on timing on either
    // path (the first free one), so packets are compared by packet_num.
    assert.equal(await sha256Hex(threaded.bytes[0]), await sha256Hex(single.bytes[0]));
    const layout = version === "7.2" ? "v7.2" : "v10.0";
    const [a, b] = [
      packetsOf(threaded.bytes.slice(1), layout),
      packetsOf(single.bytes.slice(1), layout),
    ];
    assert.deepEqual([...a.keys()].sort((x, y) => x - y), [...b.keys()].sort((x, y) => x - y));
    for (const [num, packet] of a) {
      // SYNCs before 9.2 carry what their channel sent last: compared on their own channel.
      if (packet.sync) continue;
      assert.equal(packet.sha256, b.get(num)!.sha256, `packet ${num}`);
    }
  });
}

/** The pages of each progress event of a source of `ram` into a listener that discards it all. */
async function progressPages(
  ram: { mib: number; seed: number; density: number },
): Promise<number[]> {
  const signal = AbortSignal.timeout(30_000);
  const pages: number[] = [];
  await using server = listen({ name: "discarding destination" });
  const drained = Array.from({ length: 4 }, async () => {
    const conn = await server.accept({ timeoutMs: 10_000 });
    try {
      for await (const _ of conn.readable) { /* discarded */ }
    } finally {
      closeQuietly(conn);
    }
  });
  await using source = await startTsSource({
    channels: 3,
    ram,
    uuid: UUID,
    connect: server.endpoint,
    signal,
    onEvent: (event) => {
      if (event.event === "progress") pages.push(event.pages);
    },
  });
  const outcome = await source.outcome(signal);
  assert.equal(outcome.status, "completed", outcome.message);
  await Promise.all(drained);
  return pages;
}

Deno.test({
  name: "channel threads report a run's progress every 512 packets, as the main thread does",
  ignore: !native,
}, async () => {
  // 320 MiB: 640 packets of 128 pages, so one report once 512 packets' worth of pages are out.
  const ram = { mib: 320, seed: 9, density: 0.5 };
  const total = (ram.mib << 20) / PAGE_SIZE;
  const threaded = await progressPages(ram);
  const single = await withNativeTcp("0", () => progressPages(ram));
  assert.deepEqual(single, [512 * 128]);
  // Workers tally every 64 packets each: the report comes at the first tally past the mark.
  assert.equal(threaded.length, 1, `progress events: ${threaded}`);
  assert.ok(threaded[0] >= 512 * 128 && threaded[0] < total, `pages ${threaded[0]}`);
});

Deno.test({
  name: "a per-packet hook keeps the main-thread path",
  ignore: !native,
}, async () => {
  const { threads } = await record({
    channels: 2,
    ram: { mib: 2, seed: 3 },
    script: { mutatePacket: () => {} },
  }, 3);
  assert.equal(threads, false);
});

Deno.test({
  name: "channel threads → ts destination: RAM digests match",
  ignore: !native,
}, async () => {
  const ram = { mib: 32, seed: 17, density: 0.3 };
  const signal = AbortSignal.timeout(30_000);
  await using dst = await startTsDestination({ channels: 4, ram, uuid: UUID, signal });
  await using src = await startTsSource({
    channels: 4,
    ram,
    uuid: UUID,
    connect: dst.endpoint,
    signal,
  });
  const [srcOutcome, dstOutcome] = await Promise.all([src.outcome(signal), dst.outcome(signal)]);
  assert.equal(srcOutcome.status, "completed", srcOutcome.message);
  assert.equal(dstOutcome.status, "completed", dstOutcome.message);
  assert.equal(srcOutcome.evidence?.channelThreads, true);
  assert.equal(dstOutcome.ramSha256, srcOutcome.ramSha256);
});

Deno.test({
  name: "channel threads: an abort mid-transfer ends the source quickly, nothing leaks",
  ignore: !native,
}, async () => {
  // A destination that accepts every channel and never reads: the Workers block in send.
  await using server = listen({ name: "silent destination" });
  const accepted: Deno.TcpConn[] = [];
  const accepting = (async () => {
    for (let i = 0; i < 5; i++) {
      accepted.push(await server.accept({ timeoutMs: 10_000 }));
    }
  })();
  const stop = new AbortController();
  const src = await startTsSource({
    channels: 4,
    ram: { mib: 64, seed: 2, density: 1 },
    connect: server.endpoint,
    timeoutMs: 20_000,
    signal: stop.signal,
  });
  await accepting;
  await new Promise((resolve) => setTimeout(resolve, 300));
  const started = performance.now();
  stop.abort(new Error("test abort"));
  const outcome = await src.outcome(AbortSignal.timeout(10_000));
  await src[Symbol.asyncDispose]();
  assert.ok(performance.now() - started < 3_000, "ends well within the write bound");
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.errorClass, "E_TIMEOUT");
  assert.match(outcome.message ?? "", /aborted/);
  assert.equal(outcome.evidence?.channelThreads, true);
  for (const conn of accepted) closeQuietly(conn);
});
