import assert from "node:assert/strict";
import { pkiDir } from "../pki/pki.ts";
import { WireError } from "../wire/errors.ts";
import { ByteReader } from "./read.ts";
import {
  type AddressedTransport,
  clientHandshake,
  connectTls,
  listenTlsServer,
  readTlsClientCredentials,
  type TlsConnection,
  type TlsServerOptions,
} from "./tls.ts";

const good = pkiDir("good");
const other = pkiDir("other-ca");
const wrongName = pkiDir("wrong-name");

function serverOptions(dir = good, extra: Partial<TlsServerOptions> = {}): TlsServerOptions {
  return {
    certFile: `${dir}/server-cert.pem`,
    keyFile: `${dir}/server-key.pem`,
    caFile: `${good}/ca-cert.pem`,
    timeoutMs: 5000,
    ...extra,
  };
}

function clientOptions(port: number, dir = good) {
  return {
    port,
    caFile: `${good}/ca-cert.pem`,
    certFile: `${dir}/client-cert.pem`,
    keyFile: `${dir}/client-key.pem`,
    serverName: "localhost",
    timeoutMs: 5000,
  };
}

function pattern(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 7 + (i >> 8)) & 0xff;
  return out;
}

async function rejectsWith(promise: Promise<unknown>, errorClass: string, pattern?: RegExp) {
  const error = await promise.then(() => null, (e) => e);
  assert.ok(error instanceof WireError, `expected a WireError, got ${error}`);
  assert.equal(error.errorClass, errorClass, error.message);
  if (pattern) assert.match(error.message, pattern);
  return error;
}

/**
 * A client transport that, once `hold()` is called, keeps what the TLS layer writes and sends it
 * all in one TCP write right before its FIN: the peer then receives the last application data and
 * the close_notify (if any) in one read, followed by the end of the stream.
 */
class CoalescingTransport implements AddressedTransport {
  readonly #conn: Deno.TcpConn;
  #held: Uint8Array[] | null = null;

  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  get localAddr(): Deno.NetAddr {
    return this.#conn.localAddr;
  }

  get remoteAddr(): Deno.NetAddr {
    return this.#conn.remoteAddr;
  }

  hold(): void {
    this.#held = [];
  }

  read(buffer: Uint8Array): Promise<number | null> {
    return this.#conn.read(buffer);
  }

  async write(buffer: Uint8Array): Promise<number> {
    if (this.#held === null) return await this.#conn.write(buffer);
    this.#held.push(buffer.slice());
    return buffer.length;
  }

  async closeWrite(): Promise<void> {
    const held = this.#held ?? [];
    this.#held = null;
    const all = new Uint8Array(held.reduce((n, chunk) => n + chunk.length, 0));
    let offset = 0;
    for (const chunk of held) {
      all.set(chunk, offset);
      offset += chunk.length;
    }
    for (let sent = 0; sent < all.length;) sent += await this.#conn.write(all.subarray(sent));
    await this.#conn.closeWrite();
  }

  close(): void {
    this.#conn.close();
  }
}

/** Waits until `conn` has taken in no more ciphertext for 200 ms (at most 5 s). */
async function settled(conn: TlsConnection): Promise<void> {
  const until = Date.now() + 5000;
  let seen = -1;
  while (conn.records.inbound.bytes !== seen && Date.now() < until) {
    seen = conn.records.inbound.bytes;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

Deno.test("TLS server verifies the client certificate and negotiates TLS 1.2", async () => {
  await using server = await listenTlsServer(serverOptions());
  await using client = await connectTls(clientOptions(server.port));
  await using conn = await server.accept({ what: "first channel" });
  assert.equal(conn.peer.authorized, true);
  assert.equal(conn.peer.subject, "migwire test client");
  assert.equal(conn.peer.protocol, "TLSv1.2");
  assert.equal(conn.acceptIndex, 0);
  assert.equal(client.peer.authorized, true);
  assert.equal(client.peer.subject, "localhost");
});

Deno.test("TLS close: clean and abrupt are told apart, with every byte delivered", async (t) => {
  const data = pattern(3 << 20);
  for (const mode of ["clean", "abrupt"] as const) {
    await t.step(`client closes ${mode}`, async () => {
      await using server = await listenTlsServer(serverOptions());
      await using client = await connectTls(clientOptions(server.port));
      await using conn = await server.accept();
      const reader = new ByteReader(conn.readable, { name: conn.name, timeoutMs: 5000 });
      const reading = reader.readExactly(new Uint8Array(data.length));
      await client.write(data);
      await client.close(mode);
      assert.deepEqual(await reading, data);
      if (mode === "clean") {
        assert.equal(await reader.readExactlyOrEnd(new Uint8Array(1)), null);
        assert.equal(await conn.peerEnded(), "close_notify");
      } else {
        await rejectsWith(
          reader.readExactlyOrEnd(new Uint8Array(1)),
          "E_TLS_PREMATURE_EOF",
          /without TLS close_notify after 3145728 plaintext bytes/,
        );
        assert.equal(await conn.peerEnded(), "abrupt");
      }
      assert.equal(conn.closeKind(), mode === "clean" ? "close_notify" : "abrupt");
      // A close_notify ends the stream before FIN arrives; a bare FIN is the end itself.
      if (mode === "abrupt") assert.equal(conn.rawEnd, "fin");
    });
    await t.step(`server closes ${mode}`, async () => {
      await using server = await listenTlsServer(serverOptions());
      await using client = await connectTls(clientOptions(server.port));
      await using conn = await server.accept();
      const reader = new ByteReader(client.readable, { timeoutMs: 5000 });
      const reading = reader.readExactly(new Uint8Array(data.length));
      await conn.write(data);
      await conn.close(mode);
      assert.deepEqual(await reading, data);
      assert.equal(await client.peerEnded(), mode === "clean" ? "close_notify" : "abrupt");
    });
  }
});

Deno.test("TLS end of stream reaches a reader that fell behind (last data, close_notify and FIN in one TCP write)", async (t) => {
  // More than the connection queues unread, so its reading has stopped when the end arrives.
  const data = pattern(12 << 20);
  const credentials = await readTlsClientCredentials(clientOptions(0));
  for (const mode of ["clean", "abrupt"] as const) {
    await t.step(`client closes ${mode}`, async () => {
      await using server = await listenTlsServer(serverOptions());
      const transport = new CoalescingTransport(
        await Deno.connect({ hostname: "127.0.0.1", port: server.port }),
      );
      await using client = await clientHandshake(transport, credentials, { timeoutMs: 5000 });
      await using conn = await server.accept();
      transport.hold();
      await client.write(data);
      // The close sends everything at once and completes only once the kernel has taken it all.
      const closing = client.close(mode);
      await settled(conn);
      const reader = new ByteReader(conn.readable, { name: conn.name, timeoutMs: 5000 });
      assert.deepEqual(await reader.readExactly(new Uint8Array(data.length)), data);
      await closing;
      if (mode === "clean") {
        assert.equal(await reader.readExactlyOrEnd(new Uint8Array(1)), null);
        assert.equal(await conn.peerEnded(), "close_notify");
      } else {
        await rejectsWith(reader.readExactlyOrEnd(new Uint8Array(1)), "E_TLS_PREMATURE_EOF");
        assert.equal(await conn.peerEnded(), "abrupt");
      }
    });
  }
});

Deno.test("TLS connection nobody reads stops reading its peer's TCP socket", async () => {
  const data = pattern(16 << 20);
  await using server = await listenTlsServer(serverOptions());
  await using client = await connectTls(clientOptions(server.port));
  await using conn = await server.accept();
  const writing = client.write(data);
  await settled(conn);
  // A few MiB of plaintext queue up; the rest waits in the kernel and in the writer.
  assert.ok(
    conn.records.inbound.bytes < 8 << 20,
    `took in ${conn.records.inbound.bytes} bytes with no reader`,
  );
  const reader = new ByteReader(conn.readable, { name: conn.name, timeoutMs: 5000 });
  assert.deepEqual(await reader.readExactly(new Uint8Array(data.length)), data);
  await writing;
  await client.close("clean");
  assert.equal(await reader.readExactlyOrEnd(new Uint8Array(1)), null);
});

Deno.test("TLS close is judged the same by rustls (Deno.listenTls / Deno.connectTls)", async (t) => {
  const pem = (name: string) => Deno.readTextFileSync(`${good}/${name}`);
  await t.step("our client against a rustls server", async () => {
    for (const mode of ["clean", "abrupt"] as const) {
      using listener = Deno.listenTls({
        hostname: "127.0.0.1",
        port: 0,
        cert: pem("server-cert.pem"),
        key: pem("server-key.pem"),
      });
      // rustls drives its server handshake only once the connection is read or written.
      const accepted = listener.accept();
      const connecting = connectTls(clientOptions(listener.addr.port));
      using conn = await accepted;
      const reader = new ByteReader(conn, { timeoutMs: 5000 });
      const first = reader.readExactly(new Uint8Array(1000));
      await using client = await connecting;
      await client.write(pattern(1000));
      await client.close(mode);
      assert.deepEqual(await first, pattern(1000));
      if (mode === "clean") assert.equal(await reader.ended(), true);
      else await rejectsWith(reader.ended(), "E_TLS_PREMATURE_EOF");
    }
  });
  await t.step("a rustls client against our server", async () => {
    await using server = await listenTlsServer(serverOptions());
    const client = await Deno.connectTls({
      hostname: "localhost",
      port: server.port,
      caCerts: [pem("ca-cert.pem")],
      cert: pem("client-cert.pem"),
      key: pem("client-key.pem"),
    });
    await using conn = await server.accept();
    await client.write(pattern(10));
    client.close();
    assert.equal(await conn.peerEnded(), "close_notify");
  });
});

Deno.test("TLS server rejects a client without a certificate or from another CA", async (t) => {
  for (const [label, dir] of [["none", undefined], ["other-ca", other]] as const) {
    await t.step(label, async () => {
      await using server = await listenTlsServer(serverOptions());
      const options = dir ? clientOptions(server.port, dir) : {
        ...clientOptions(server.port),
        certFile: undefined,
        keyFile: undefined,
      };
      const client = connectTls(options).then(async (c) => {
        // With TLS 1.2 the client may finish first; the rejection then arrives on read.
        await new ByteReader(c.readable, { timeoutMs: 5000 }).ended().catch(() => {});
        await c[Symbol.asyncDispose]();
      }, () => {});
      await rejectsWith(
        server.accept(),
        "E_TLS",
        /TLS handshake failed on tls server connection 0/,
      );
      await client;
    });
  }
});

Deno.test("TLS server with verifyPeer report accepts and reports an untrusted client", async () => {
  await using server = await listenTlsServer(serverOptions(good, { verifyPeer: "report" }));
  await using client = await connectTls(clientOptions(server.port, other));
  await using conn = await server.accept();
  assert.equal(conn.peer.authorized, false);
  assert.ok(conn.peer.authorizationError, "an authorization error is reported");
  assert.equal(conn.peer.issuer, "migwire other test CA");
  assert.equal(client.peer.authorized, true);
});

Deno.test("TLS server with verifyPeer false asks for no certificate", async () => {
  await using server = await listenTlsServer(serverOptions(good, { verifyPeer: false }));
  await using client = await connectTls({
    ...clientOptions(server.port),
    certFile: undefined,
    keyFile: undefined,
  });
  await using conn = await server.accept();
  assert.equal(conn.peer.subject, undefined);
  assert.equal(client.peer.subject, "localhost");
});

Deno.test("TLS client rejects a server certificate for another name", async () => {
  await using server = await listenTlsServer(serverOptions(wrongName));
  await rejectsWith(connectTls(clientOptions(server.port)), "E_TLS", /handshake failed/);
});

Deno.test("TLS client checks an IP address name against the certificate's IP SANs", async () => {
  await using server = await listenTlsServer(serverOptions());
  const accepting = server.accept().then((conn) => conn[Symbol.asyncDispose](), () => {});
  await using client = await connectTls({ ...clientOptions(server.port), serverName: "127.0.0.1" });
  assert.equal(client.peer.authorized, true);
  await accepting;
  await rejectsWith(
    connectTls({ ...clientOptions(server.port), serverName: "127.0.0.2" }),
    "E_TLS",
    /127\.0\.0\.2/,
  );
});

Deno.test("TLS writes to a peer that is gone are refused, not swallowed", async () => {
  await using server = await listenTlsServer(serverOptions());
  await using client = await connectTls(clientOptions(server.port));
  const conn = await server.accept();
  conn.reset();
  const chunk = pattern(64 * 1024);
  const until = Date.now() + 5000;
  const error = await (async () => {
    while (Date.now() < until) await client.write(chunk);
  })().then(() => null, (e) => e);
  assert.ok(error instanceof WireError, `writes went on for 5 s: ${error}`);
  assert.equal(error.errorClass, "E_IO", error.message);
});

Deno.test("TLS connection closed here ends a read in flight", async () => {
  await using server = await listenTlsServer(serverOptions());
  const client = await connectTls(clientOptions(server.port));
  await using _conn = await server.accept();
  const reader = new ByteReader(client.readable, { name: client.name });
  const read = reader.read(new Uint8Array(16), { timeoutMs: 2000, what: "data" });
  await client[Symbol.asyncDispose]();
  await rejectsWith(read, "E_IO", /closed before its peer ended it/);
});

Deno.test("TLS server hands out connections in handshake order, and times out", async () => {
  await using server = await listenTlsServer(serverOptions());
  await rejectsWith(server.accept({ timeoutMs: 100 }), "E_TIMEOUT", /a TLS connection/);
  // A raw connection that never handshakes does not hold up the next one.
  using silent = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
  await using client = await connectTls(clientOptions(server.port));
  await using conn = await server.accept();
  assert.equal(conn.acceptIndex, 1);
  assert.equal(conn.handshakeIndex, 0);
  assert.equal(conn.remoteAddr.port, client.localAddr.port);
  assert.ok(silent.localAddr.port > 0);
});

Deno.test("TLS server with stallHandshakes holds every connection without answering", async () => {
  await using server = await listenTlsServer(serverOptions(good, { stallHandshakes: true }));
  await rejectsWith(
    connectTls({ ...clientOptions(server.port), timeoutMs: 300 }),
    "E_TIMEOUT",
  );
  assert.equal(server.accepted, 1);
  assert.equal(server.stalled, 1);
  await rejectsWith(server.accept({ timeoutMs: 100 }), "E_TIMEOUT", /a TLS connection/);
});
