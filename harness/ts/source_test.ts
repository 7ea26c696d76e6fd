import assert from "node:assert/strict";
import { decodeInitPacket, INIT_PACKET_SIZE } from "../wire/init_packet.ts";
import { decodePacket, type PacketLayout, validatePacket } from "../wire/packet.ts";
import { formatUuid } from "../wire/uuid.ts";
import { PAGE_SIZE, patternRam, sha256Hex } from "../ram/pattern.ts";
import { listen, listenThreaded, type PlainConn } from "../net/listen.ts";
import { startTsSource } from "./source.ts";
import { PACKET_HEADER_LENGTH } from "./src_packer.ts";
import { type RecordedConnection, Recorder } from "./src_testing.ts";
import type { TsSourceOptions } from "./source_options.ts";

const UUID = "12345678-9abc-def0-1122-334455667788";
const streams = new URL("../../fixtures/vectors/streams/", import.meta.url);

async function runToRecorder(
  options: Omit<TsSourceOptions, "connect">,
  connections: number,
): Promise<
  {
    outcome: Awaited<ReturnType<Awaited<ReturnType<typeof startTsSource>>["outcome"]>>;
    recorded: RecordedConnection[];
  }
> {
  const signal = AbortSignal.timeout(20_000);
  await using recorder = new Recorder();
  await using source = await startTsSource({ ...options, connect: recorder.endpoint, signal });
  const outcome = await source.outcome(signal);
  const recorded = await recorder.connections(connections, signal);
  return { outcome, recorded };
}

interface ChannelDump {
  readonly id: number;
  readonly uuid: string;
  readonly packets: ReturnType<typeof decodePacket>[];
  readonly payloads: Uint8Array[];
}

function parseChannel(bytes: Uint8Array, layout: PacketLayout): ChannelDump {
  const init = decodeInitPacket(bytes);
  const packets: ReturnType<typeof decodePacket>[] = [];
  const payloads: Uint8Array[] = [];
  let at = INIT_PACKET_SIZE;
  while (at < bytes.length) {
    const packet = decodePacket(layout, bytes, at);
    at += PACKET_HEADER_LENGTH;
    payloads.push(bytes.subarray(at, at + packet.normalPages * PAGE_SIZE));
    at += packet.normalPages * PAGE_SIZE;
    packets.push(packet);
  }
  assert.equal(at, bytes.length, "channel ends at a packet boundary");
  return { id: init.id, uuid: formatUuid(init.uuid), packets, payloads };
}

for (const version of ["10.0", "7.2"]) {
  Deno.test(`ts source main stream for QEMU ${version} equals QEMU's own byte for byte (zero RAM)`, async () => {
    const { outcome, recorded } = await runToRecorder({
      channels: 2,
      ram: { mib: 16, seed: 1, density: 0 },
      targetVersion: version,
    }, 3);
    assert.equal(outcome.status, "completed", outcome.message);
    const expected = await Deno.readFile(new URL(`qemu-${version}-multifd2.bin`, streams));
    assert.deepEqual(recorded[0].bytes, expected);
  });
}

for (const [version, layout] of [["10.0", "v10.0"], ["9.0", "v9.0"], ["7.2", "v7.2"]] as const) {
  Deno.test(`ts source multifd channels for QEMU ${version}: inits, ${layout} packets, one SYNC per channel per sync point, the RAM`, async () => {
    const ram = { mib: 4, seed: 9, density: 0.3 };
    const channels = 3;
    const { outcome, recorded } = await runToRecorder({
      channels,
      ram,
      uuid: UUID,
      targetVersion: version,
      mainTemplate: version === "9.0"
        ? await Deno.readFile(new URL("qemu-10.0-multifd2.bin", streams))
        : undefined,
    }, channels + 1);
    assert.equal(outcome.status, "completed", outcome.message);
    const image = patternRam(ram.mib, ram.seed, ram.density);
    assert.equal(outcome.ramSha256, await sha256Hex(image));
    assert.equal(
      outcome.bytes,
      recorded.reduce((sum, c) => sum + c.bytes.length, 0),
      "bytes counts every channel",
    );
    const dumps = recorded.slice(1).map((c) => parseChannel(c.bytes, layout));
    assert.deepEqual(dumps.map((d) => d.id), [0, 1, 2], "main first, then ids in order");
    for (const dump of dumps) assert.equal(dump.uuid, UUID);
    const received = new Uint8Array(image.length);
    const numbers: bigint[] = [];
    for (const dump of dumps) {
      const syncs = dump.packets.filter((p) => p.flags & 1);
      assert.equal(syncs.length, 3, "START, PART and END each sync once");
      dump.packets.forEach((packet, i) => {
        numbers.push(packet.packetNum);
        if (packet.flags & 1) {
          assert.equal(packet.normalPages + packet.zeroPages, 0, "SYNC packets carry no pages");
          assert.equal(packet.pagesAlloc, version === "7.2" || version === "9.0" ? 128 : 0);
          return;
        }
        validatePacket(layout, packet, { ramBlocks: new Map([["ram", image.length]]) });
        for (let k = 0; k < packet.normalPages; k++) {
          received.set(
            dump.payloads[i].subarray(k * PAGE_SIZE, (k + 1) * PAGE_SIZE),
            packet.offsets[k],
          );
        }
        if (layout === "v7.2") assert.ok(packet.normalPages > 0);
      });
    }
    numbers.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    assert.deepEqual(
      numbers,
      numbers.map((_, i) => BigInt(i)),
      "packet_num counts every packet once",
    );
    assert.deepEqual(received, image, "normal pages reassemble the RAM (zero pages are zero)");
  });
}

Deno.test("ts source connection scripts", async (t) => {
  const ram = { mib: 1, seed: 2, density: 0.5 };
  await t.step("main-last connects the multifd channels first", async () => {
    const { outcome, recorded } = await runToRecorder({
      channels: 2,
      ram,
      script: { order: "main-last" },
    }, 3);
    assert.equal(outcome.status, "completed", outcome.message);
    assert.deepEqual(recorded.map((c) => c.bytes[0]), [0x11, 0x11, 0x51]);
  });
  await t.step("a permutation with a duplicate id as an extra channel", async () => {
    const { outcome, recorded } = await runToRecorder({
      channels: 2,
      ram,
      script: {
        order: [1, "main", 2, 0],
        extraChannels: [{ id: 0 }],
        stopAfterInit: true,
        holdMs: 50,
      },
    }, 4);
    assert.equal(outcome.status, "failed");
    assert.match(outcome.message ?? "", /script stopped after the init packets/);
    assert.deepEqual(recorded.map((c) => c.bytes[0]), [0x11, 0x51, 0x11, 0x11]);
    assert.deepEqual([0, 2, 3].map((i) => recorded[i].bytes[24]), [1, 0, 0]);
    assert.deepEqual([0, 2, 3].map((i) => recorded[i].bytes.length), [64, 64, 64]);
    // Only the header and configuration on the main channel.
    assert.equal(recorded[1].bytes.length, 17);
  });
  await t.step("init overrides: fields, raw bytes, truncation", async () => {
    const { recorded } = await runToRecorder({
      channels: 3,
      ram,
      script: {
        inits: {
          0: { magic: 0xdeadbeef, version: 7, uuid: UUID, unused1: new Uint8Array(7).fill(1) },
          1: { raw: Uint8Array.of(1, 2, 3) },
          2: { truncateAt: 10 },
        },
        holdMs: 50,
      },
    }, 4);
    const init0 = decodeInitPacket(recorded[1].bytes);
    assert.deepEqual([init0.magic, init0.version, formatUuid(init0.uuid), init0.id], [
      0xdeadbeef,
      7,
      UUID,
      0,
    ]);
    assert.deepEqual(init0.reservedNonZero, [25, 26, 27, 28, 29, 30, 31]);
    assert.deepEqual(recorded[2].bytes, Uint8Array.of(1, 2, 3));
    assert.equal(recorded[3].bytes.length, 10);
  });
  await t.step("a bad order names the slot", async () => {
    await assert.rejects(
      startTsSource({
        channels: 2,
        ram,
        connect: { hostname: "127.0.0.1", port: 9 },
        script: { order: ["main", 0, 5] },
      }),
      /unknown channel slot 5/,
    );
    await assert.rejects(
      startTsSource({ channels: 0, ram, connect: { hostname: "127.0.0.1", port: 9 } }),
      /channels must be an integer in 1\.\.255, got 0/,
    );
  });
});

Deno.test("ts source: declarative mutations edit the first packet with pages, then stop", async () => {
  const ram = { mib: 1, seed: 2, density: 1 };
  const { outcome, recorded } = await runToRecorder({
    channels: 2,
    ram,
    script: { mutations: [{ channel: 1, mutation: { kind: "offset" } }], holdMs: 50 },
  }, 3);
  assert.equal(outcome.status, "failed");
  assert.match(outcome.message ?? "", /mutated packet 1 sent on multifd channel 1/);
  const dump = parseChannel(recorded[2].bytes, "v10.0");
  const last = dump.packets.at(-1)!;
  assert.equal(last.offsets[0], 1024 * 1024, "offset set to the end of the block");
});

Deno.test("ts source: truncate-payload cuts the payload and closes the channel", async () => {
  const { outcome, recorded } = await runToRecorder({
    channels: 1,
    ram: { mib: 1, seed: 2, density: 1 },
    script: { mutations: [{ mutation: { kind: "truncate-payload", value: 100 } }], holdMs: 50 },
  }, 2);
  assert.equal(outcome.status, "failed");
  // init, SYNC of START, then the first RAM packet cut 100 bytes into its payload.
  assert.equal(recorded[1].bytes.length, 64 + PACKET_HEADER_LENGTH * 2 + 100);
});

Deno.test("ts source: a destination that stops reading ends in E_TIMEOUT, never a hang", async () => {
  await using server = listen({ name: "silent destination" });
  const accepted: Deno.Conn[] = [];
  const accepting = (async () => {
    for (let i = 0; i < 2; i++) accepted.push(await server.accept({ timeoutMs: 5_000 }));
  })();
  const started = performance.now();
  await using source = await startTsSource({
    channels: 1,
    ram: { mib: 64, seed: 1, density: 1 },
    connect: server.endpoint,
    timeoutMs: 500,
  });
  const outcome = await source.outcome(AbortSignal.timeout(20_000));
  await accepting;
  for (const conn of accepted) conn.close();
  assert.equal(outcome.status, "failed");
  assert.equal(outcome.errorClass, "E_TIMEOUT", outcome.message);
  assert.match(outcome.message ?? "", /timed out after 500 ms/);
  assert.ok(performance.now() - started < 10_000);
});

Deno.test("ts source: a RAM file of the wrong size is E_IO naming the file", async () => {
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeFile(file, new Uint8Array(4096));
    await assert.rejects(
      startTsSource({
        channels: 1,
        ram: { mib: 1, seed: 0 },
        ramFile: file,
        connect: { hostname: "127.0.0.1", port: 9 },
      }),
      (e: unknown) =>
        e instanceof Error && /E_IO: RAM image size differs/.test(e.message) &&
        e.message.includes(file),
    );
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("ts source: once the destination closed a held channel, the rest close without the full wait", async () => {
  const signal = AbortSignal.timeout(20_000);
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await using source = await startTsSource({
    channels: 2,
    ram: { mib: 1, seed: 2 },
    connect: { hostname: "127.0.0.1", port: listener.addr.port },
    script: { stopAfterInit: true, holdMs: 10_000 },
    signal,
  });
  const conns: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 3; i++) conns.push(await listener.accept());
    const firstBytes = await Promise.all(conns.map(async (conn) => {
      const byte = new Uint8Array(1);
      assert.equal(await conn.read(byte), 1);
      return byte[0];
    }));
    const main = conns[firstBytes.indexOf(0x51)];
    const rejected = conns[firstBytes.indexOf(0x11)];
    // The destination rejects a multifd channel and keeps the others open, as QEMU 10.0 does
    // when it fails before loading: the source used to wait 5 s for each of them to close.
    rejected.close();
    conns.splice(conns.indexOf(rejected), 1);
    const closedAt = performance.now();
    const outcome = await source.outcome(signal);
    const waited = performance.now() - closedAt;
    assert.equal(outcome.status, "failed");
    assert.match(outcome.message ?? "", /script stopped after the init packets/);
    assert.ok(waited < 3_000, `the source ended ${Math.round(waited)} ms after the rejection`);
    const sink = new Uint8Array(4096);
    while ((await main.read(sink)) !== null) { /* the header and configuration, then FIN */ }
  } finally {
    for (const conn of conns) conn.close();
  }
});

Deno.test("ts source: a destination that resets a channel with bytes unread fails the migration", async () => {
  const signal = AbortSignal.timeout(20_000);
  // Native sockets, as the TS destination's: their close sends RST when bytes are unread.
  await using listener = listenThreaded({ name: "refusing destination" });
  // Small enough to sit in the socket buffers: the source has sent everything before the reset.
  await using source = await startTsSource({
    channels: 2,
    ram: { mib: 1, seed: 3, density: 0.05 },
    connect: listener.endpoint,
    signal,
  });
  const conns: PlainConn[] = [];
  try {
    for (let i = 0; i < 3; i++) conns.push(await listener.accept({ timeoutMs: 5_000 }));
    await Promise.all(conns.map(async (conn) => {
      assert.equal(await conn.read(new Uint8Array(1)), 1);
    }));
    // A destination that refused the migration: it closes with the rest of the bytes unread.
    await new Promise((resolve) => setTimeout(resolve, 300));
  } finally {
    for (const conn of conns) conn.close();
  }
  const outcome = await source.outcome(signal);

  assert.equal(outcome.status, "failed");
  assert.equal(outcome.errorClass, "E_IO");
  assert.match(
    outcome.message ?? "",
    /reset by the destination with bytes this source sent unread/,
  );
});
