import assert from "node:assert/strict";
import { pkiDir } from "../pki/pki.ts";
import { WireError } from "../wire/errors.ts";
import { startCaptureProxy } from "./capture_proxy.ts";
import { connect, listen } from "./listen.ts";
import { NodeConn } from "./node_conn.ts";
import { ByteReader } from "./read.ts";
import { connectTls, listenTlsServer } from "./tls.ts";

const good = pkiDir("good");

function bytes(n: number, seed: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 13 + seed) & 0xff;
  return out;
}

Deno.test("capture proxy records plain connections in accept order, both directions", async () => {
  await using upstream = listen({ name: "destination" });
  await using proxy = await startCaptureProxy({ upstream: upstream.endpoint });
  const sizes = [100_000, 5, 3 << 20];
  const clients: Deno.TcpConn[] = [];
  for (let i = 0; i < sizes.length; i++) {
    // Each connection reaches upstream before the next one is made.
    clients.push(await connect(proxy.endpoint, { timeoutMs: 2000 }));
  }
  const serving = Promise.all(sizes.map(async (_, i) => {
    const conn = await upstream.accept({ timeoutMs: 2000 });
    const reader = new ByteReader(conn, { timeoutMs: 5000 });
    const first = await reader.readExactly(new Uint8Array(1));
    const rest = new Uint8Array(sizes[first[0]] - 1);
    await reader.readExactly(rest);
    assert.equal(await reader.ended(), true);
    await conn.write(bytes(1000, first[0]));
    await conn.closeWrite();
    conn.close();
    return { order: i, index: first[0] };
  }));
  const sending = Promise.all(clients.map(async (client, i) => {
    const data = bytes(sizes[i], i);
    data[0] = i;
    let offset = 0;
    while (offset < data.length) offset += await client.write(data.subarray(offset));
    await client.closeWrite();
    const reply = await new ByteReader(client, { timeoutMs: 5000 }).readExactly(
      new Uint8Array(1000),
    );
    assert.deepEqual(reply, bytes(1000, i));
    client.close();
  }));
  const [served] = await Promise.all([serving, sending]);
  assert.deepEqual(served.map((s) => s.index), [0, 1, 2]);
  const capture = await proxy.finished({ connections: 3, timeoutMs: 5000 });
  assert.equal(capture.tls, false);
  assert.equal(capture.connections.length, 3);
  for (const [i, c] of capture.connections.entries()) {
    const sent = bytes(sizes[i], i);
    sent[0] = i;
    assert.equal(c.index, i);
    assert.deepEqual(c.toUpstream.bytes, sent);
    assert.deepEqual(c.fromUpstream.bytes, bytes(1000, i));
    assert.equal(c.toUpstream.end, "fin");
    assert.equal(c.fromUpstream.end, "fin");
    assert.ok(c.acceptedMs <= c.upstreamConnectedMs!);
    assert.ok(c.upstreamConnectedMs! <= c.toUpstream.firstByteMs!);
    assert.ok(c.toUpstream.firstByteMs! <= c.toUpstream.endMs!);
  }
  assert.equal(capture.bytes, sizes.reduce((a, b) => a + b, 0) + 3000);
});

Deno.test("capture proxy passes a reset on and records it", async () => {
  await using upstream = listen();
  await using proxy = await startCaptureProxy({ upstream: upstream.endpoint });
  const client = await NodeConn.connect(proxy.endpoint, { timeoutMs: 2000 });
  using conn = await upstream.accept({ timeoutMs: 2000 });
  const reader = new ByteReader(conn, { timeoutMs: 5000 });
  await client.write(bytes(10, 1));
  await reader.readExactly(new Uint8Array(10));
  client.reset();
  const error = await reader.ended().then(() => null, (e) => e);
  assert.ok(error instanceof WireError && /ConnectionReset/.test(error.message), `${error}`);
  const capture = await proxy.finished({ timeoutMs: 5000 });
  assert.equal(capture.connections[0].toUpstream.end, "rst");
  assert.deepEqual(capture.connections[0].toUpstream.bytes, bytes(10, 1));
});

Deno.test("capture proxy terminates TLS on both sides and records the plaintext", async (t) => {
  for (const mode of ["clean", "abrupt"] as const) {
    await t.step(mode, async () => {
      await using server = await listenTlsServer({
        certFile: `${good}/server-cert.pem`,
        keyFile: `${good}/server-key.pem`,
        caFile: `${good}/ca-cert.pem`,
        timeoutMs: 5000,
      });
      await using proxy = await startCaptureProxy({
        upstream: server.endpoint,
        tls: { dir: good },
      });
      await using client = await connectTls({
        port: proxy.port,
        caFile: `${good}/ca-cert.pem`,
        certFile: `${good}/client-cert.pem`,
        keyFile: `${good}/client-key.pem`,
        timeoutMs: 5000,
      });
      await using conn = await server.accept();
      // The destination sees the proxy's client certificate; the source the proxy's server one.
      assert.equal(conn.peer.subject, "migwire test client");
      const data = bytes(1 << 20, 7);
      const reader = new ByteReader(conn.readable, { timeoutMs: 5000 });
      const reading = reader.readExactly(new Uint8Array(data.length));
      await client.write(data);
      await client.close(mode);
      assert.deepEqual(await reading, data);
      assert.equal(await conn.peerEnded(), mode === "clean" ? "close_notify" : "abrupt");
      await conn.write(bytes(10, 3));
      await conn.close("clean");
      const back = new ByteReader(client.readable, { timeoutMs: 5000 });
      assert.deepEqual(await back.readExactly(new Uint8Array(10)), bytes(10, 3));
      const capture = await proxy.finished({ timeoutMs: 5000 });
      const c = capture.connections[0];
      assert.equal(capture.tls, true);
      assert.deepEqual(c.toUpstream.bytes, data);
      assert.equal(c.toUpstream.end, mode === "clean" ? "close_notify" : "abrupt");
      assert.deepEqual(c.fromUpstream.bytes, bytes(10, 3));
      assert.equal(c.fromUpstream.end, "close_notify");
      assert.equal(c.tls?.client?.subject, "migwire test client");
      assert.equal(c.tls?.upstream?.subject, "localhost");
    });
  }
});

Deno.test("capture proxy stops recording at the cap but keeps forwarding", async () => {
  await using upstream = listen();
  await using proxy = await startCaptureProxy({ upstream: upstream.endpoint, maxBytes: 1000 });
  using client = await connect(proxy.endpoint, { timeoutMs: 2000 });
  using conn = await upstream.accept({ timeoutMs: 2000 });
  const reading = new ByteReader(conn, { timeoutMs: 5000 }).readExactly(new Uint8Array(5000));
  let offset = 0;
  const data = bytes(5000, 2);
  while (offset < data.length) offset += await client.write(data.subarray(offset));
  await client.closeWrite();
  assert.deepEqual(await reading, data);
  conn.close();
  const error = await proxy.finished({ timeoutMs: 5000 }).then(() => null, (e) => e);
  assert.ok(error instanceof WireError);
  assert.equal(error.errorClass, "E_IO");
  assert.equal(error.field, "capture.maxBytes");
  assert.equal(proxy.recording().overflowed, true);
});

Deno.test("capture proxy resets the source when the destination refuses", async () => {
  const port = (() => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const p = l.addr.port;
    l.close();
    return p;
  })();
  await using proxy = await startCaptureProxy({
    upstream: { hostname: "127.0.0.1", port },
    timeoutMs: 2000,
  });
  using client = await connect(proxy.endpoint, { timeoutMs: 2000 });
  const error = await new ByteReader(client, { timeoutMs: 5000 }).ended().then(
    () => null,
    (e) => e,
  );
  assert.ok(error instanceof WireError && /ConnectionReset/.test(error.message), `${error}`);
  const capture = await proxy.finished({ timeoutMs: 5000 });
  assert.match(capture.connections[0].error ?? "", /refused/i);
});
