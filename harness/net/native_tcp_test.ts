import assert from "node:assert/strict";
import { connectNative, listenNative, nativeTcpAvailable } from "./native_tcp.ts";

const available = nativeTcpAvailable();

Deno.test({
  name: "native TCP moves bytes both ways over parallel connections, FIN as null",
  ignore: !available,
}, async () => {
  const listener = listenNative({ hostname: "127.0.0.1", port: 0 });
  try {
    assert.ok(listener.addr.port > 0);
    const size = 8 * 1024 * 1024;
    const source = new Uint8Array(size);
    for (let i = 0; i < size; i += 512) source[i] = (i >>> 9) & 0xff;
    // Connected one at a time, so each accept pairs with its own connect; then moved in parallel.
    const pairs = [];
    for (let i = 0; i < 4; i++) {
      pairs.push(await Promise.all([connectNative(listener.addr), listener.accept()]));
    }
    await Promise.all(pairs.map(async ([client, server]) => {
      try {
        assert.equal(server.remoteAddr.port, client.localAddr.port);
        client.setNoDelay(true);
        const target = new Uint8Array(size);
        const writing = (async () => {
          for (let at = 0; at < size;) at += await client.write(source.subarray(at, at + 65536));
          await client.closeWrite();
        })();
        let at = 0;
        for (let n; (n = await server.read(target.subarray(at))) !== null && at < size;) at += n;
        await writing;
        assert.equal(at, size);
        assert.equal(await server.read(new Uint8Array(1)), null);
        assert.deepEqual(target, source);
        // Half-closed: the other direction still works.
        await server.write(new Uint8Array([9]));
        const one = new Uint8Array(1);
        assert.equal(await client.read(one), 1);
        assert.equal(one[0], 9);
      } finally {
        client.close();
        server.close();
      }
    }));
  } finally {
    listener.close();
  }
});

Deno.test({
  name: "native TCP: close ends a pending read, a pending accept, and a closed port refuses",
  ignore: !available,
}, async () => {
  const listener = listenNative({ hostname: "127.0.0.1", port: 0 });
  const [client, server] = await Promise.all([connectNative(listener.addr), listener.accept()]);
  const read = server.read(new Uint8Array(10));
  setTimeout(() => server.close(), 20);
  await assert.rejects(read, Deno.errors.Interrupted);
  client.close();
  const accept = listener.accept();
  setTimeout(() => listener.close(), 20);
  await assert.rejects(accept, Deno.errors.BadResource);
  await assert.rejects(connectNative(listener.addr), Deno.errors.ConnectionRefused);
  server.close(); // Twice is fine.
});

Deno.test({
  name: "native TCP names a bad address",
  ignore: !available,
}, () => {
  assert.throws(() => listenNative({ hostname: "localhost", port: 0 }), /dotted IPv4.*localhost/);
  assert.throws(() => listenNative({ hostname: "127.0.0.1", port: 70000 }), /port.*70000/);
});

Deno.test({
  name: "native TCP: many idle reads hold no pool thread each (Deno's pool has 32)",
  ignore: !available,
}, async () => {
  const listener = listenNative({ hostname: "127.0.0.1", port: 0 });
  const pairs = [];
  try {
    for (let i = 0; i < 40; i++) {
      pairs.push(await Promise.all([connectNative(listener.addr), listener.accept()]));
    }
    const reads = pairs.map(([, server]) => server.read(new Uint8Array(8)).catch((e) => e));
    // File I/O runs on the same pool: it must not queue behind 40 idle sockets.
    const started = performance.now();
    await Deno.readFile(new URL(import.meta.url));
    assert.ok(performance.now() - started < 2000, "a file read waited for idle sockets");
    await pairs[0][0].write(new Uint8Array([1]));
    assert.equal(await reads[0], 1);
    for (const [client, server] of pairs) {
      client.close();
      server.close();
    }
    for (const read of reads.slice(1)) assert.ok((await read) instanceof Deno.errors.Interrupted);
  } finally {
    listener.close();
  }
});
