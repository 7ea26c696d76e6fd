import assert from "node:assert/strict";
import { pkiDir } from "../pki/pki.ts";
import { WireError } from "../wire/errors.ts";
import { CloseNotifyDropper, startFaultProxy } from "./fault_proxy.ts";
import { connect, listen } from "./listen.ts";
import { ByteReader } from "./read.ts";
import { connectTls, listenTlsServer } from "./tls.ts";

const good = pkiDir("good");

function record(type: number, length: number, fill = 0xab): Uint8Array {
  const out = new Uint8Array(5 + length).fill(fill);
  out.set([type, 3, 3, length >> 8, length & 0xff]);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function through(
  stream: Uint8Array,
  step: number,
): { out: Uint8Array; dropper: CloseNotifyDropper } {
  const dropper = new CloseNotifyDropper();
  const parts: Uint8Array[] = [];
  for (let i = 0; i < stream.length; i += step) {
    parts.push(...dropper.push(stream.subarray(i, i + step)).map((p) => p.slice()));
  }
  parts.push(...dropper.finish());
  return { out: concat(parts), dropper };
}

Deno.test("CloseNotifyDropper drops only a final close_notify-like record", async (t) => {
  const body = [record(22, 300, 1), record(20, 1, 2), record(23, 16384, 3), record(23, 29, 4)];
  for (const step of [1, 2, 5, 7, 300, 100_000]) {
    await t.step(`chunks of ${step}`, () => {
      // TLS 1.2 close_notify: an alert record last.
      let r = through(concat([...body, record(21, 26, 5)]), step);
      assert.deepEqual(r.out, concat(body));
      assert.deepEqual(r.dropper.dropped, { type: 21, length: 26 });
      assert.equal(r.dropper.records, 5);
      // TLS 1.3 close_notify: a 19-byte application-data record last.
      r = through(concat([...body, record(23, 19, 6)]), step);
      assert.deepEqual(r.out, concat(body));
      assert.deepEqual(r.dropper.dropped, { type: 23, length: 19 });
      // A candidate followed by more records is forwarded.
      const middle = concat([record(21, 26, 5), ...body]);
      r = through(middle, step);
      assert.deepEqual(r.out, middle);
      assert.equal(r.dropper.dropped, null);
      // A stream ending inside a record keeps every byte.
      const torn = concat([...body, record(21, 26, 5)]).slice(0, -3);
      r = through(torn, step);
      assert.deepEqual(r.out, torn);
      // Not TLS: passed through untouched.
      const plain = new TextEncoder().encode("QEVM not a TLS stream at all");
      r = through(plain, step);
      assert.deepEqual(r.out, plain);
    });
  }
});

async function tlsPair(faults: Parameters<typeof startFaultProxy>[0]["faults"]) {
  const server = await listenTlsServer({
    certFile: `${good}/server-cert.pem`,
    keyFile: `${good}/server-key.pem`,
    caFile: `${good}/ca-cert.pem`,
    timeoutMs: 5000,
  });
  const proxy = await startFaultProxy({ upstream: server.endpoint, faults, tlsRecords: true });
  const client = await connectTls({
    port: proxy.port,
    caFile: `${good}/ca-cert.pem`,
    certFile: `${good}/client-cert.pem`,
    keyFile: `${good}/client-key.pem`,
    timeoutMs: 5000,
  });
  const conn = await server.accept();
  return {
    server,
    proxy,
    client,
    conn,
    async [Symbol.asyncDispose]() {
      await client[Symbol.asyncDispose]();
      await conn[Symbol.asyncDispose]();
      await proxy.close();
      server.close();
    },
  };
}

Deno.test("fault proxy: dropCloseNotify makes a clean TLS 1.2 close look abrupt", async (t) => {
  for (const drop of [false, true]) {
    await t.step(drop ? "dropped" : "passed", async () => {
      await using p = await tlsPair(drop ? [{ dropCloseNotify: "toUpstream" }] : []);
      await p.client.write(new Uint8Array(50_000).fill(1));
      await p.client.close("clean");
      const reader = new ByteReader(p.conn.readable, { timeoutMs: 5000 });
      await reader.readExactly(new Uint8Array(50_000));
      assert.equal(await p.conn.peerEnded(), drop ? "abrupt" : "close_notify");
      await p.conn.close("clean");
      const [report] = await p.proxy.finished({ timeoutMs: 5000 });
      assert.equal(report.toUpstream.end, "fin");
      assert.ok((report.toUpstream.records ?? 0) >= 5, "records are counted");
      if (drop) {
        assert.deepEqual(report.toUpstream.droppedRecord?.type, 21);
        assert.equal(report.toUpstream.forwarded, report.toUpstream.received - 31);
      } else {
        assert.equal(report.toUpstream.droppedRecord, undefined);
        assert.equal(report.toUpstream.forwarded, report.toUpstream.received);
      }
    });
  }
});

Deno.test("fault proxy: dropCloseNotify also strips a TLS 1.3 close_notify (rustls)", async () => {
  const pem = (name: string) => Deno.readTextFileSync(`${good}/${name}`);
  using listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: pem("server-cert.pem"),
    key: pem("server-key.pem"),
  });
  await using proxy = await startFaultProxy({
    upstream: { hostname: "127.0.0.1", port: listener.addr.port },
    faults: [{ dropCloseNotify: "toUpstream" }],
  });
  const accepted = listener.accept();
  const client = await Deno.connectTls({
    hostname: "localhost",
    port: proxy.port,
    caCerts: [pem("ca-cert.pem")],
  });
  const conn = await accepted;
  const reader = new ByteReader(conn, { timeoutMs: 5000 });
  const reading = reader.readExactly(new Uint8Array(1000));
  await client.handshake();
  await client.write(new Uint8Array(1000).fill(2));
  client.close();
  await reading;
  const error = await reader.ended().then(() => null, (e) => e);
  assert.ok(error instanceof WireError, `expected an abrupt end, got ${error}`);
  assert.equal(error.errorClass, "E_TLS_PREMATURE_EOF");
  conn.close();
  const [report] = await proxy.finished({ timeoutMs: 5000 });
  assert.deepEqual(report.toUpstream.droppedRecord, { type: 23, length: 19 });
});

Deno.test("fault proxy: delay holds a connection's upstream establishment", async () => {
  await using upstream = listen();
  await using proxy = await startFaultProxy({
    upstream: upstream.endpoint,
    faults: [{ connections: [0], delayMs: 300 }],
  });
  const t0 = performance.now();
  using first = await connect(proxy.endpoint, { timeoutMs: 2000 });
  using second = await connect(proxy.endpoint, { timeoutMs: 2000 });
  await first.write(new Uint8Array([0]));
  await second.write(new Uint8Array([1]));
  // The delayed connection does not hold up the next one.
  const a = await upstream.accept({ timeoutMs: 2000 });
  const tA = performance.now() - t0;
  const b = await upstream.accept({ timeoutMs: 2000 });
  const tB = performance.now() - t0;
  const firstByte = async (c: Deno.TcpConn) =>
    (await new ByteReader(c, { timeoutMs: 2000 }).readExactly(new Uint8Array(1)))[0];
  assert.deepEqual([await firstByte(a), await firstByte(b)], [1, 0]);
  assert.ok(tA < 250, `undelayed connection arrived after ${tA} ms`);
  assert.ok(tB >= 290, `delayed connection arrived after ${tB} ms`);
  a.close();
  b.close();
  const report = proxy.report();
  assert.deepEqual(report[0].applied, ["delay 300 ms"]);
  assert.ok(report[0].upstreamConnectedMs! - report[0].acceptedMs >= 290);
});

Deno.test("fault proxy: reorder connects held connections upstream in the given order", async () => {
  await using upstream = listen();
  await using proxy = await startFaultProxy({ upstream: upstream.endpoint, reorder: [2, 0, 1] });
  const clients: Deno.TcpConn[] = [];
  for (let i = 0; i < 4; i++) {
    const c = await connect(proxy.endpoint, { timeoutMs: 2000 });
    await c.write(new Uint8Array([i]));
    clients.push(c);
    // Give each connection time to reach upstream if it were not held.
    await new Promise((r) => setTimeout(r, 30));
  }
  const order: number[] = [];
  for (let i = 0; i < 4; i++) {
    const c = await upstream.accept({ timeoutMs: 2000 });
    order.push((await new ByteReader(c, { timeoutMs: 2000 }).readExactly(new Uint8Array(1)))[0]);
    c.close();
  }
  assert.deepEqual(order, [2, 0, 1, 3]);
  for (const c of clients) c.close();
});

async function plainPair(faults: Parameters<typeof startFaultProxy>[0]["faults"]) {
  const upstream = listen();
  const proxy = await startFaultProxy({ upstream: upstream.endpoint, faults });
  const client = await connect(proxy.endpoint, { timeoutMs: 2000 });
  const server = await upstream.accept({ timeoutMs: 2000 });
  return {
    proxy,
    client,
    server,
    async [Symbol.asyncDispose]() {
      for (const c of [client, server]) {
        try {
          c.close();
        } catch { /* closed by the test */ }
      }
      await proxy.close();
      upstream.close();
    },
  };
}

const data = new Uint8Array(1000).map((_, i) => i & 0xff);

Deno.test("fault proxy: stall forwards k bytes, then nothing until released", async () => {
  await using p = await plainPair([{ stall: { direction: "toUpstream", afterBytes: 100 } }]);
  await p.client.write(data);
  const reader = new ByteReader(p.server, { timeoutMs: 2000 });
  assert.deepEqual(await reader.readExactly(new Uint8Array(100)), data.subarray(0, 100));
  await assert.rejects(
    reader.readExactly(new Uint8Array(1), { timeoutMs: 300 }),
    (e) => e instanceof WireError && e.errorClass === "E_TIMEOUT",
  );
  p.proxy.release(0, "toUpstream");
  assert.deepEqual(await reader.readExactly(new Uint8Array(900)), data.subarray(100));
  assert.deepEqual(p.proxy.report()[0].applied, [
    "stall toUpstream after 100 bytes",
    "resume toUpstream",
  ]);
});

Deno.test("fault proxy: stall with ms resumes by itself", async () => {
  await using p = await plainPair([{
    stall: { direction: "fromUpstream", afterBytes: 10, ms: 200 },
  }]);
  const t0 = performance.now();
  await p.server.write(data);
  const reader = new ByteReader(p.client, { timeoutMs: 2000 });
  await reader.readExactly(new Uint8Array(10));
  await reader.readExactly(new Uint8Array(990));
  assert.ok(performance.now() - t0 >= 190);
});

Deno.test("fault proxy: cut sends FIN after k bytes and discards the rest", async () => {
  await using p = await plainPair([{ cut: { direction: "toUpstream", afterBytes: 100 } }]);
  await p.client.write(data);
  const reader = new ByteReader(p.server, { timeoutMs: 2000 });
  await reader.readExactly(new Uint8Array(100));
  assert.equal(await reader.ended(), true);
  // The sender is not stopped: it can go on writing.
  await p.client.write(data);
  await p.client.closeWrite();
  p.server.close();
  const [report] = await p.proxy.finished({ timeoutMs: 2000 });
  assert.equal(report.toUpstream.end, "cut");
  assert.equal(report.toUpstream.forwarded, 100);
  assert.equal(report.toUpstream.received, 2000);
});

Deno.test("fault proxy: reset after k bytes sends RST to both sides", async () => {
  await using p = await plainPair([{ reset: { direction: "toUpstream", afterBytes: 100 } }]);
  await p.client.write(data);
  const server = new ByteReader(p.server, { timeoutMs: 2000 });
  await server.readExactly(new Uint8Array(100));
  // Deno reads a FIN as end of stream and only a RST as ConnectionReset.
  const isReset = (e: unknown) => e instanceof WireError && /ConnectionReset/.test(e.message);
  await assert.rejects(server.ended(), isReset);
  await assert.rejects(new ByteReader(p.client, { timeoutMs: 2000 }).ended(), isReset);
  const [report] = await p.proxy.finished({ timeoutMs: 2000 });
  assert.equal(report.toUpstream.end, "reset");
  assert.equal(report.toUpstream.forwarded, 100);
});

Deno.test("fault proxy: reset of one side closes the other with FIN", async () => {
  await using p = await plainPair([{
    reset: { direction: "toUpstream", afterBytes: 0, side: "upstream" },
  }]);
  const isReset = (e: unknown) => e instanceof WireError && /ConnectionReset/.test(e.message);
  await assert.rejects(new ByteReader(p.server, { timeoutMs: 2000 }).ended(), isReset);
  assert.equal(await new ByteReader(p.client, { timeoutMs: 2000 }).ended(), true);
});
