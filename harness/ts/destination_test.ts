import assert from "node:assert/strict";
import { CLIENT_HELLO_PREFIX } from "../net/tls_record.ts";
import type { Endpoint, Outcome } from "../implementation.ts";
import { pkiDir, readPki } from "../pki/pki.ts";
import { sha256Hex } from "../ram/pattern.ts";
import { encodeInitPacket } from "../wire/init_packet.ts";
import { encodeDeviceStatePacket, encodePacket } from "../wire/packet.ts";
import { startTsDestination } from "./destination.ts";
import { startTsSource } from "./source.ts";
import type { TsDestinationOptions, TsRunningDestination } from "./dst_options.ts";
import {
  be,
  concat,
  mainHeader,
  pageContent,
  ramPacket,
  ramStart,
  scriptedMigration,
  syncPacket,
} from "./dst_testing.ts";

const MIB = 1;
const RAM = { mib: MIB, seed: 1 };
const UUID = "12345678-9abc-def0-1122-334455667788";

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length;) at += await conn.write(data.subarray(at));
}

/** Connects and sends each stream in order; `close` ends each with FIN once written. */
async function send(
  endpoint: Endpoint,
  streams: readonly Uint8Array[],
  options: { close?: boolean } = {},
): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  for (const stream of streams) {
    // A destination that has already rejected the migration no longer listens.
    const conn = await Deno.connect({ hostname: endpoint.hostname, port: endpoint.port }).catch(
      () => null,
    );
    if (!conn) break;
    conns.push(conn);
    // The destination may reject and close first; what it saw is what the test checks.
    await writeAll(conn, stream).catch(() => {});
  }
  if (options.close ?? true) {
    for (const conn of conns) await conn.closeWrite().catch(() => {});
  }
  return conns;
}

function closeAll(conns: Deno.Conn[]): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch {
      // Already closed.
    }
  }
}

async function start(options: Partial<TsDestinationOptions> = {}): Promise<TsRunningDestination> {
  return await startTsDestination({
    channels: 2,
    ram: RAM,
    uuid: UUID,
    sourceVersion: "10.0",
    readTimeoutMs: 2000,
    verifyPattern: false,
    ...options,
  });
}

async function expectFailure(
  dst: TsRunningDestination,
  errorClass: string,
  message?: RegExp,
): Promise<Outcome> {
  const outcome = await dst.outcome(AbortSignal.timeout(10_000));
  assert.equal(outcome.status, "failed", `expected ${errorClass}, got ${outcome.status}`);
  assert.equal(outcome.errorClass, errorClass, outcome.message);
  if (message) assert.match(outcome.message ?? "", message);
  return outcome;
}

Deno.test("ts destination completes a scripted migration in every layout", async (t) => {
  for (const layout of ["v7.2", "v9.0", "v10.0"] as const) {
    await t.step(layout, async () => {
      const script = scriptedMigration({
        channels: 3,
        mib: MIB,
        pages: [0, 1, 2, 3, 10, 11, 200, 255],
        zeroPages: layout === "v7.2" ? [] : [5, 6],
        uuid: UUID,
        layout,
      });
      await using dst = await start({
        channels: 3,
        sourceVersion: { "v7.2": "7.2", "v9.0": "9.0", "v10.0": "10.0" }[layout],
      });
      const conns = await send(dst.endpoint, [script.main, ...script.channels]);
      try {
        const outcome = await dst.outcome(AbortSignal.timeout(10_000));
        assert.equal(outcome.status, "completed", outcome.message);
        assert.equal(outcome.ramSha256, await sha256Hex(script.expected));
        const transcript = dst.transcript();
        assert.equal(transcript.main?.syncPoints, 2);
        const multifd = transcript.connections.filter((c) => c.kind === "multifd");
        assert.deepEqual(multifd.map((c) => c.channelId), [0, 1, 2]);
        assert.deepEqual(multifd.map((c) => c.syncs), [2, 2, 2]);
        assert.deepEqual(multifd.map((c) => c.end), ["fin", "fin", "fin"]);
        assert.equal(multifd.reduce((n, c) => n + (c.normalPages ?? 0), 0), 8);
        assert.equal(transcript.connections[0].kind, "main");
        assert.equal(transcript.connections[0].head, "5145564d");
      } finally {
        closeAll(conns);
      }
    });
  }
});

Deno.test("ts destination with ram.prealloc completes a migration", async () => {
  const script = scriptedMigration({
    channels: 2,
    mib: MIB,
    pages: [0, 1, 7, 255],
    zeroPages: [3],
    uuid: UUID,
    layout: "v10.0",
  });
  await using dst = await start({ ram: { ...RAM, prealloc: true } });
  const conns = await send(dst.endpoint, [script.main, ...script.channels]);
  try {
    const outcome = await dst.outcome(AbortSignal.timeout(10_000));
    assert.equal(outcome.status, "completed", outcome.message);
    assert.equal(outcome.ramSha256, await sha256Hex(script.expected));
  } finally {
    closeAll(conns);
  }
});

Deno.test("ts destination times the transfer to the main stream's end, not to the source's close", async () => {
  const HOLD_MS = 2000;
  const script = scriptedMigration({
    channels: 2,
    mib: MIB,
    pages: [0, 1, 7, 255],
    uuid: UUID,
    layout: "v10.0",
  });
  await using dst = await start({ readTimeoutMs: 10_000 });
  const conns = await send(dst.endpoint, [script.main, ...script.channels], { close: false });
  try {
    let settledAt = 0;
    const outcome = dst.outcome(AbortSignal.timeout(20_000)).finally(() => {
      settledAt = performance.now();
    });
    // The source holds every channel open after its last byte, as a QEMU source does until its
    // cleanup; QEMU's destination is `completed` before that.
    await new Promise((resolve) => setTimeout(resolve, HOLD_MS));
    const closedAt = performance.now();
    for (const conn of conns) await conn.closeWrite();
    const done = await outcome;
    assert.equal(done.status, "completed", done.message);
    assert.ok(settledAt >= closedAt, "the outcome waits for every channel to end");
    assert.deepEqual(
      dst.transcript().connections.map((c) => c.end),
      ["fin", "fin", "fin"],
    );
    const seconds = done.seconds ?? Infinity;
    assert.ok(seconds < HOLD_MS / 2000, `transfer ${seconds} s includes the hold`);
    assert.equal(done.evidence?.transferSeconds, done.seconds);
  } finally {
    closeAll(conns);
  }
});

Deno.test("ts destination classifies by magic or by arrival order", async (t) => {
  const script = scriptedMigration({ channels: 2, mib: MIB, pages: [1, 2], uuid: UUID });
  await t.step("peek-magic takes the main channel whenever it comes", async () => {
    await using dst = await start();
    const conns = await send(dst.endpoint, [script.channels[1], script.main, script.channels[0]]);
    try {
      const outcome = await dst.outcome(AbortSignal.timeout(10_000));
      assert.equal(outcome.status, "completed", outcome.message);
      assert.deepEqual(dst.transcript().connections.map((c) => c.kind), [
        "multifd",
        "main",
        "multifd",
      ]);
    } finally {
      closeAll(conns);
    }
  });
  await t.step("arrival-order takes the first connection as main, as QEMU 7.2", async () => {
    await using dst = await start({ policy: "arrival-order" });
    const conns = await send(dst.endpoint, [script.channels[1], script.main, script.channels[0]]);
    try {
      // The init packet read as a main stream header, the main stream read as an init packet.
      await expectFailure(dst, "E_MAGIC");
      assert.equal(dst.transcript().connections[0].kind, "main");
    } finally {
      closeAll(conns);
    }
  });
});

Deno.test("ts destination rejects bad init packets with their class", async (t) => {
  const cases: [string, Uint8Array, string, RegExp?][] = [
    ["magic", encodeInitPacket({ magic: 0xdeadbeef, uuid: UUID }), "E_MAGIC", /0xdeadbeef/],
    ["version", encodeInitPacket({ version: 2, uuid: UUID }), "E_VERSION"],
    ["uuid", encodeInitPacket({ uuid: "01020304-0506-0708-090a-0b0c0d0e0f10" }), "E_UUID"],
    // QEMU checks `id > channels` and crashes on id == channels (spec §8.1).
    ["id == channels", encodeInitPacket({ uuid: UUID, id: 2 }), "E_CHANNEL_ID"],
    ["id 200", encodeInitPacket({ uuid: UUID, id: 200 }), "E_CHANNEL_ID"],
  ];
  for (const [name, init, errorClass, message] of cases) {
    await t.step(name, async () => {
      await using dst = await start();
      const conns = await send(dst.endpoint, [mainHeader(), init], { close: false });
      try {
        const outcome = await expectFailure(dst, errorClass, message);
        const transcript = outcome.evidence?.transcript as ReturnType<typeof dst.transcript>;
        const bad = transcript.connections[1];
        assert.equal(bad.end, "error");
        assert.equal(bad.errorClass, errorClass);
        assert.equal(bad.init?.raw.length, 128);
      } finally {
        closeAll(conns);
      }
    });
  }
  await t.step("duplicate id", async () => {
    await using dst = await start();
    const init = encodeInitPacket({ uuid: UUID, id: 1 });
    const conns = await send(dst.endpoint, [mainHeader(), init, init], { close: false });
    try {
      await expectFailure(dst, "E_DUPLICATE_ID");
    } finally {
      closeAll(conns);
    }
  });
  await t.step("truncated init", async () => {
    await using dst = await start();
    const init = encodeInitPacket({ uuid: UUID, id: 0 }).subarray(0, 20);
    const conns = await send(dst.endpoint, [mainHeader(), init]);
    try {
      await expectFailure(dst, "E_TRUNCATED", /20 of 64 bytes/);
    } finally {
      closeAll(conns);
    }
  });
  await t.step("reserved bytes are recorded, not rejected (QEMU ignores them)", async () => {
    const script = scriptedMigration({ channels: 2, mib: MIB, pages: [1], uuid: UUID });
    const channel0 = script.channels[0].slice();
    channel0[40] = 0x99;
    await using dst = await start();
    const conns = await send(dst.endpoint, [script.main, channel0, script.channels[1]]);
    try {
      const outcome = await dst.outcome(AbortSignal.timeout(10_000));
      assert.equal(outcome.status, "completed", outcome.message);
      const c = dst.transcript().connections.find((c) => c.channelId === 0);
      assert.deepEqual(c?.init?.reservedNonZero, [40]);
    } finally {
      closeAll(conns);
    }
  });
});

Deno.test("ts destination refuses a second main channel", async () => {
  await using dst = await start();
  const conns = await send(dst.endpoint, [mainHeader(), mainHeader()], { close: false });
  try {
    await expectFailure(dst, "E_UNKNOWN_CHANNEL", /second main channel/);
  } finally {
    closeAll(conns);
  }
});

Deno.test("ts destination rejects bad packets with E_PACKET naming the field", async (t) => {
  const length = MIB * 1024 * 1024;
  const prefix = concat(mainHeader(), ramStart(length, "multifd-flush"));
  const page = pageContent(1);
  const cases: [string, Uint8Array, RegExp][] = [
    [
      "pages_alloc",
      ramPacket("v10.0", { pagesAlloc: 129, normalOffsets: [0] }, page),
      /pages_alloc/,
    ],
    [
      "normal_pages",
      ramPacket("v10.0", { pagesAlloc: 4, normalPages: 5, normalOffsets: [0] }, page),
      /normal_pages/,
    ],
    [
      "zero_pages",
      ramPacket("v10.0", { pagesAlloc: 4, zeroPages: 5, normalOffsets: [0] }, page),
      /zero_pages/,
    ],
    [
      "unknown block",
      ramPacket("v10.0", { ramBlock: "pc.ram", normalOffsets: [0] }, page),
      /ramblock/,
    ],
    [
      "offset",
      ramPacket("v10.0", { normalOffsets: [length] }, page),
      /offset\[0\]/,
    ],
    [
      "compression",
      ramPacket("v10.0", { flags: 0x04, normalOffsets: [0] }, page),
      /flags/,
    ],
    [
      "next_packet_size",
      ramPacket("v10.0", { nextPacketSize: 100, normalOffsets: [0] }, page),
      /next_packet_size/,
    ],
    ["device state without a payload", encodeDeviceStatePacket({ idstr: "dev" }), /device_state/],
  ];
  for (const [name, packet, field] of cases) {
    await t.step(name, async () => {
      await using dst = await start({ channels: 1 });
      const channel = concat(encodeInitPacket({ uuid: UUID, id: 0 }), packet);
      const conns = await send(dst.endpoint, [prefix, channel], { close: false });
      try {
        await expectFailure(dst, "E_PACKET", field);
      } finally {
        closeAll(conns);
      }
    });
  }
  await t.step("bad packet magic and version", async () => {
    for (
      const [fields, errorClass] of [[{ magic: 1 }, "E_MAGIC"], [
        { version: 9 },
        "E_VERSION",
      ]] as const
    ) {
      await using dst = await start({ channels: 1 });
      const channel = concat(
        encodeInitPacket({ uuid: UUID, id: 0 }),
        encodePacket("v10.0", fields),
      );
      const conns = await send(dst.endpoint, [prefix, channel], { close: false });
      try {
        await expectFailure(dst, errorClass);
      } finally {
        closeAll(conns);
      }
    }
  });
});

Deno.test("ts destination rejects bad main streams with E_STREAM", async (t) => {
  const length = MIB * 1024 * 1024;
  const init = encodeInitPacket({ uuid: UUID, id: 0 });
  const cases: [string, Uint8Array, string, RegExp][] = [
    ["main magic", concat(be(0x11223344, 4), be(3, 4)), "E_MAGIC", /stream\.magic/],
    ["stream version 2", concat(be(0x5145564d, 4), be(2, 4)), "E_VERSION", /obsolete/],
    [
      "configuration missing",
      concat(be(0x5145564d, 4), be(3, 4), be(0x01, 1)),
      "E_STREAM",
      /configuration/,
    ],
    ["section type", concat(mainHeader(), be(0x42, 1)), "E_STREAM", /section\.type/],
    [
      "block list longer than the RAM",
      concat(mainHeader(), ramStart(length * 2, "multifd-flush")),
      "E_STREAM",
      /used_length|RAM size/,
    ],
    [
      "flush from a source that syncs on EOS",
      concat(mainHeader(), ramStart(length, "multifd-flush")),
      "E_STREAM",
      /MULTIFD_FLUSH/,
    ],
    [
      "footer",
      concat(mainHeader(), ramStart(length, "multifd-flush").slice(0, -5), be(0x7e, 1), be(9, 4)),
      "E_STREAM",
      /footer/,
    ],
    [
      "truncated",
      concat(mainHeader(), ramStart(length, "multifd-flush").slice(0, 20)),
      "E_TRUNCATED",
      /inside a record.*state ram/,
    ],
  ];
  for (const [name, main, errorClass, message] of cases) {
    await t.step(name, async () => {
      await using dst = await start({
        channels: 1,
        sourceVersion: name.startsWith("flush") ? "7.2" : "10.0",
        // A stream that starts with the multifd magic would be taken for a multifd channel.
        policy: name === "main magic" ? "arrival-order" : "peek-magic",
      });
      const conns = await send(dst.endpoint, [main, concat(init, syncPacket("v10.0"))], {
        close: name === "truncated",
      });
      try {
        await expectFailure(dst, errorClass, message);
      } finally {
        closeAll(conns);
      }
    });
  }
});

Deno.test("ts destination times out silent and stalled peers", async (t) => {
  await t.step("connects and says nothing", async () => {
    await using dst = await start({ readTimeoutMs: 200 });
    const conns = await send(dst.endpoint, [new Uint8Array(0)], { close: false });
    try {
      await expectFailure(dst, "E_TIMEOUT", /channel magic/);
    } finally {
      closeAll(conns);
    }
  });
  await t.step("stops in the middle of a packet", async () => {
    await using dst = await start({ channels: 1, readTimeoutMs: 300 });
    const length = MIB * 1024 * 1024;
    const channel = concat(
      encodeInitPacket({ uuid: UUID, id: 0 }),
      ramPacket("v10.0", { normalOffsets: [0, 4096] }, pageContent(0)),
    );
    const conns = await send(
      dst.endpoint,
      [concat(mainHeader(), ramStart(length, "multifd-flush")), channel],
      { close: false },
    );
    try {
      await expectFailure(dst, "E_TIMEOUT", /page payload/);
    } finally {
      closeAll(conns);
    }
  });
  await t.step("closes in the middle of a packet", async () => {
    await using dst = await start({ channels: 1 });
    const length = MIB * 1024 * 1024;
    const channel = concat(
      encodeInitPacket({ uuid: UUID, id: 0 }),
      encodePacket("v10.0", { ramBlock: "ram", normalOffsets: [0] }).subarray(0, 700),
    );
    const conns = await send(dst.endpoint, [
      concat(mainHeader(), ramStart(length, "multifd-flush")),
      channel,
    ]);
    try {
      await expectFailure(dst, "E_TRUNCATED", /packet body/);
    } finally {
      closeAll(conns);
    }
  });
  await t.step("a channel that ends before its SYNC packet", async () => {
    await using dst = await start({ channels: 1 });
    const length = MIB * 1024 * 1024;
    const conns = await send(dst.endpoint, [
      concat(mainHeader(), ramStart(length, "multifd-flush")),
      encodeInitPacket({ uuid: UUID, id: 0 }),
    ]);
    try {
      await expectFailure(dst, "E_TRUNCATED", /before its SYNC/);
    } finally {
      closeAll(conns);
    }
  });
});

Deno.test("ts destination tears everything down on failure", async () => {
  await using dst = await start();
  const conns = await send(dst.endpoint, [
    mainHeader(),
    encodeInitPacket({ uuid: UUID, id: 0 }),
    encodeInitPacket({ magic: 1 }),
  ], { close: false });
  try {
    await expectFailure(dst, "E_MAGIC");
    // Every accepted socket is closed: the peers read end of stream.
    for (const conn of conns) {
      const n = await conn.read(new Uint8Array(1)).catch(() => null);
      assert.equal(n, null);
    }
    // The listener is closed.
    await assert.rejects(Deno.connect(dst.endpoint), Deno.errors.ConnectionRefused);
  } finally {
    closeAll(conns);
  }
});

Deno.test("ts destination refuses a TLS client with a certificate of another CA", async () => {
  const good = pkiDir("good");
  const other = await readPki(pkiDir("other-ca"));
  const goodPem = await readPki(good);
  await using dst = await start({ tls: { dir: good } });
  const client = Deno.connectTls({
    hostname: "localhost",
    port: dst.endpoint.port,
    caCerts: [goodPem.caCert],
    cert: other.clientCert,
    key: other.clientKey,
  }).then(async (conn) => {
    await conn.handshake().catch(() => {});
    await conn.read(new Uint8Array(1)).catch(() => {});
    conn.close();
  }, () => {});
  await expectFailure(dst, "E_TLS", /handshake/);
  await client;
});

Deno.test("ts destination over TLS: channels ending with close_notify complete in both eof modes", async (t) => {
  const dir = pkiDir("good");
  const pem = await readPki(dir);
  const script = scriptedMigration({ channels: 2, mib: MIB, pages: [3, 4, 5], uuid: UUID });
  for (const eof of ["strict", "relaxed"] as const) {
    await t.step(eof, async () => {
      await using dst = await start({ tls: { dir, eof } });
      const conns: Deno.TlsConn[] = [];
      for (const stream of [script.main, ...script.channels]) {
        const conn = await Deno.connectTls({
          hostname: "localhost",
          port: dst.endpoint.port,
          caCerts: [pem.caCert],
          cert: pem.clientCert,
          key: pem.clientKey,
        });
        await conn.handshake();
        await writeAll(conn, stream);
        conns.push(conn);
      }
      // rustls sends close_notify on close(): every channel ends cleanly.
      for (const conn of conns) conn.close();
      const outcome = await dst.outcome(AbortSignal.timeout(10_000));
      assert.equal(outcome.status, "completed", outcome.message);
      assert.equal(outcome.ramSha256, await sha256Hex(script.expected));
      const ends = dst.transcript().connections.filter((c) => c.kind === "multifd").map((c) =>
        c.end
      );
      assert.deepEqual(ends, ["close_notify", "close_notify"]);
    });
  }
});

Deno.test("ts destination refuses stallTlsHandshakes without tls", async () => {
  await assert.rejects(start({ stallTlsHandshakes: true }), /stallTlsHandshakes needs tls/);
});

Deno.test("ts destination with stallTlsHandshakes never answers a TLS source's ClientHello", async () => {
  const tls = { dir: pkiDir("good"), hostname: "localhost" };
  await using dst = await start({ tls, stallTlsHandshakes: true, acceptTimeoutMs: 1500 });
  const tcp = await Deno.connect({ hostname: dst.endpoint.hostname, port: dst.endpoint.port });
  try {
    await tcp.write(CLIENT_HELLO_PREFIX.subarray(0, 5));
    const read = tcp.read(new Uint8Array(16));
    const outcome = await dst.outcome(AbortSignal.timeout(10_000));
    assert.equal(outcome.status, "failed", outcome.message);
    assert.equal(outcome.errorClass, "E_TIMEOUT");
    assert.match(outcome.message ?? "", /first connection/);
    // Nothing was ever sent back; the connection ends with the destination.
    assert.equal(await read, null);
  } finally {
    tcp.close();
  }
});

Deno.test("ts destination drops a TLS channel whose source stalls in its ClientHello (scripted source)", async () => {
  const tls = { dir: pkiDir("good"), hostname: "localhost" };
  await using dst = await start({ tls, handshakeTimeoutMs: 1000 });
  await using src = await startTsSource({
    channels: 2,
    ram: RAM,
    uuid: UUID,
    tls,
    connect: dst.endpoint,
    script: { inits: { 1: { tlsStallAt: 5 } }, holdMs: 20_000 },
  });
  const outcome = await dst.outcome(AbortSignal.timeout(10_000));
  assert.equal(outcome.status, "failed", outcome.message);
  assert.equal(outcome.errorClass, "E_TIMEOUT");
  assert.match(outcome.message ?? "", /TLS handshake on ts destination connection 2/);
  // The destination closed the stalled connection: the source's hold ends long before 20 s.
  const source = await src.outcome(AbortSignal.timeout(10_000));
  assert.equal(source.status, "failed");
  assert.match(source.message ?? "", /script stopped after the init packets/);
});

Deno.test("ts source gives up a TLS handshake the destination never answers", async () => {
  const tls = { dir: pkiDir("good"), hostname: "localhost" };
  await using dst = await start({ tls, stallTlsHandshakes: true, acceptTimeoutMs: 10_000 });
  await using src = await startTsSource({
    channels: 2,
    ram: RAM,
    uuid: UUID,
    tls,
    connect: dst.endpoint,
    handshakeTimeoutMs: 500,
  });
  const outcome = await src.outcome(AbortSignal.timeout(10_000));
  assert.equal(outcome.status, "failed", outcome.message);
  assert.equal(outcome.errorClass, "E_TIMEOUT");
  assert.match(outcome.message ?? "", /500 ms waiting for TLS handshake on main channel/);
  await assert.rejects(
    startTsSource({ channels: 2, ram: RAM, tls, connect: dst.endpoint, handshakeTimeoutMs: 0 }),
    /handshakeTimeoutMs must be a positive number of milliseconds, got 0/,
  );
  await assert.rejects(start({ tls, handshakeTimeoutMs: -1 }), /handshakeTimeoutMs must be/);
});
