import assert from "node:assert/strict";
import net from "node:net";
import { WireError } from "../wire/errors.ts";
import { connect, listen } from "./listen.ts";
import { ByteReader, type ByteSource } from "./read.ts";

/** A connected loopback pair; the accepted side is returned as `server`. */
async function pair(): Promise<{ client: Deno.TcpConn; server: Deno.TcpConn } & AsyncDisposable> {
  await using listener = listen();
  const client = await connect(listener.endpoint, { timeoutMs: 2000 });
  const server = await listener.accept({ timeoutMs: 2000 });
  return {
    client,
    server,
    [Symbol.asyncDispose]() {
      for (const c of [client, server]) {
        try {
          c.close();
        } catch { /* closed by the test */ }
      }
      return Promise.resolve();
    },
  };
}

function bytes(n: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + seed) & 0xff;
  return out;
}

/** A non-byte stream delivering `data` in chunks of the given sizes. */
function chunked(data: Uint8Array, sizes: number[]): ReadableStream<Uint8Array> {
  let offset = 0;
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (offset >= data.length) return controller.close();
      const size = sizes[i++ % sizes.length];
      controller.enqueue(data.slice(offset, offset + size));
      offset += size;
    },
  });
}

function expectWireError(errorClass: string, pattern?: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof WireError, `expected WireError, got ${error}`);
    assert.equal(error.errorClass, errorClass, error.message);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

Deno.test("ByteReader reads exact counts from every kind of source", async (t) => {
  const data = bytes(300_000);
  const sizes = [1, 7, 4096, 65536, 64, 100_000];

  const readAll = async (source: ByteSource): Promise<void> => {
    const reader = new ByteReader(source, { bufferSize: 8192 });
    const out = new Uint8Array(data.length);
    let offset = 0;
    for (let i = 0; offset < data.length; i++) {
      const n = Math.min(sizes[i % sizes.length], data.length - offset);
      await reader.readExactly(out.subarray(offset, offset + n), { timeoutMs: 2000 });
      offset += n;
    }
    assert.deepEqual(out, data);
    assert.equal(reader.bytesRead, data.length);
    assert.equal(await reader.readExactlyOrEnd(new Uint8Array(4), { timeoutMs: 2000 }), null);
  };

  await t.step("socket read()", async () => {
    await using p = await pair();
    const writing = p.client.write(data).then(async (n) => {
      let offset = n;
      while (offset < data.length) offset += await p.client.write(data.subarray(offset));
      p.client.close();
    });
    await readAll(p.server);
    await writing;
  });

  await t.step("byte stream (BYOB)", async () => {
    await using p = await pair();
    const writing = (async () => {
      let offset = 0;
      while (offset < data.length) offset += await p.client.write(data.subarray(offset));
      p.client.close();
    })();
    await readAll(p.server.readable);
    await writing;
  });

  await t.step("default stream with carry-over", async () => {
    await readAll(chunked(data, [3, 5000, 1, 70_000]));
  });
});

Deno.test("ByteReader.peek keeps the bytes for the consumer", async (t) => {
  for (
    const [label, make] of [
      ["default", () => chunked(bytes(64), [1, 2, 3])],
      ["byob", () => new Blob([bytes(64)]).stream()],
    ] as const
  ) {
    await t.step(label, async () => {
      const reader = new ByteReader(make());
      const magic = await reader.peek(4, { timeoutMs: 1000 });
      assert.deepEqual([...magic], [...bytes(64).subarray(0, 4)]);
      assert.equal(reader.bytesRead, 0);
      const all = await reader.readExactly(new Uint8Array(64), { timeoutMs: 1000 });
      assert.deepEqual(all, bytes(64));
    });
  }
});

Deno.test("ByteReader times out naming what it waited for, and loses nothing", async () => {
  await using p = await pair();
  const reader = new ByteReader(p.server, { name: "multifd channel 1" });
  await p.client.write(bytes(10));
  const target = new Uint8Array(64);
  await assert.rejects(
    reader.readExactly(target, { timeoutMs: 100, what: "init packet" }),
    expectWireError("E_TIMEOUT", /init packet on multifd channel 1 \(10 of 64 bytes\)/),
  );
  // The 10 bytes already taken are lost to the timed-out call; later bytes are not.
  await p.client.write(bytes(64, 9));
  const again = await reader.readExactly(new Uint8Array(64), { timeoutMs: 2000 });
  assert.deepEqual(again, bytes(64, 9));
});

Deno.test("ByteReader peek that times out can be retried", async () => {
  await using p = await pair();
  const reader = new ByteReader(p.server);
  await p.client.write(bytes(2));
  await assert.rejects(
    reader.peek(4, { timeoutMs: 100, what: "channel magic" }),
    expectWireError("E_TIMEOUT", /channel magic \(2 of 4 bytes\)/),
  );
  await p.client.write(bytes(6).subarray(2));
  assert.deepEqual([...await reader.peek(4, { timeoutMs: 2000 })], [...bytes(4)]);
  assert.deepEqual(await reader.readExactly(new Uint8Array(6)), bytes(6));
});

Deno.test("ByteReader honours an AbortSignal", async () => {
  await using p = await pair();
  const reader = new ByteReader(p.server);
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error("test over")), 50);
  await assert.rejects(
    reader.readExactly(new Uint8Array(4), { signal: controller.signal, what: "magic" }),
    expectWireError("E_TIMEOUT", /aborted while waiting for magic.*test over/),
  );
  await assert.rejects(
    reader.readExactly(new Uint8Array(4), { signal: controller.signal }),
    expectWireError("E_TIMEOUT"),
  );
});

Deno.test("ByteReader reports end of stream before the count as E_TRUNCATED", async () => {
  await using p = await pair();
  const reader = new ByteReader(p.server, { name: "main channel" });
  await p.client.write(bytes(20));
  p.client.close();
  const error = await reader.readExactly(new Uint8Array(64), { what: "init", timeoutMs: 2000 })
    .then(() => null, (e) => e);
  assert.ok(error instanceof WireError);
  assert.equal(error.errorClass, "E_TRUNCATED");
  assert.equal(error.received, 20);
  assert.equal(error.expected, 64);
  assert.match(error.message, /main channel after 20 of 64 bytes of init/);
  assert.equal(await reader.ended({ timeoutMs: 100 }), true);
});

Deno.test("ByteReader.ended tells data from end of stream", async () => {
  await using p = await pair();
  const reader = new ByteReader(p.server);
  await p.client.write(bytes(1));
  assert.equal(await reader.ended({ timeoutMs: 2000 }), false);
  assert.equal(reader.buffered, 1);
  await reader.readExactly(new Uint8Array(1));
  await p.client.closeWrite();
  assert.equal(await reader.ended({ timeoutMs: 2000 }), true);
});

Deno.test("ByteReader classes a reset as E_IO", async () => {
  await using listener = listen();
  // node:net can reset (SO_LINGER 0); Deno.Conn.close() always sends FIN first.
  const client = net.connect({ host: listener.endpoint.hostname, port: listener.port });
  await new Promise((resolve) => client.once("connect", resolve));
  using server = await listener.accept({ timeoutMs: 2000 });
  const reader = new ByteReader(server);
  client.resetAndDestroy();
  await assert.rejects(
    reader.readExactly(new Uint8Array(4), { timeoutMs: 2000 }),
    expectWireError("E_IO", /ConnectionReset/),
  );
});

Deno.test("ByteReader with directReadMin reads large counts straight into the caller's buffer", async () => {
  await using p = await pair();
  const reads: { direct: boolean; length: number }[] = [];
  const targets = new Set<ArrayBufferLike>();
  const source = {
    read(buffer: Uint8Array): Promise<number | null> {
      reads.push({ direct: targets.has(buffer.buffer), length: buffer.length });
      return p.server.read(buffer);
    },
  };
  const reader = new ByteReader(source, { bufferSize: 65536, directReadMin: 4096 });
  const data = bytes(300_000, 5);
  const writing = (async () => {
    for (let at = 0; at < data.length; at += 7000) {
      await p.client.write(data.subarray(at, at + 7000));
    }
    p.client.close();
  })();
  const header = new Uint8Array(12);
  const payload = new Uint8Array(200_000);
  const chunk = new Uint8Array(150_000);
  for (const target of [header, payload, chunk]) targets.add(target.buffer);
  await reader.readExactly(header, { timeoutMs: 2000 });
  await reader.readExactly(payload, { timeoutMs: 2000 });
  const received = [header, payload];
  for (let n; (n = await reader.read(chunk, { timeoutMs: 2000 })) !== null;) {
    received.push(chunk.slice(0, n));
  }
  await writing;
  const all = new Uint8Array(data.length);
  let at = 0;
  for (const part of received) all.set(part, (at += part.length) - part.length);
  assert.equal(at, data.length);
  assert.deepEqual(all, data);
  assert.equal(reader.bytesRead, data.length);
  assert.ok(reads.some((r) => r.direct), "large reads went into the caller's buffers");
});

Deno.test("ByteReader: a direct read abandoned by its wait fails the reader for good", async () => {
  await using p = await pair();
  const reader = new ByteReader(p.server, { bufferSize: 8192, directReadMin: 1024 });
  await assert.rejects(
    reader.readExactly(new Uint8Array(4096), { timeoutMs: 50, what: "page payload" }),
    expectWireError("E_TIMEOUT", /page payload/),
  );
  await p.client.write(bytes(4096));
  // The abandoned read took those bytes into the first buffer: reading on would lose them.
  await assert.rejects(
    reader.readExactly(new Uint8Array(4096), { timeoutMs: 2000 }),
    expectWireError("E_TIMEOUT", /page payload/),
  );
});

Deno.test("ByteReader: a read without read-ahead leaves the payload for a direct read", async () => {
  const data = new Uint8Array(12 + 65536).map((_, i) => i & 0xff);
  const { source, asked } = recordingSource(data);
  const reader = new ByteReader(source, { bufferSize: 1 << 20, directReadMin: 16384 });
  const header = await reader.readExactly(new Uint8Array(12), { readAhead: false });
  assert.deepEqual(header, data.subarray(0, 12));
  const payload = new Uint8Array(65536);
  await reader.readExactly(payload);
  assert.deepEqual(payload, data.subarray(12));
  // The header took exactly its 12 bytes; the payload went straight into its buffer.
  assert.deepEqual(asked, [12, 65536]);
});

Deno.test("ByteReader: a read-ahead of N bytes takes the packet body along, not the payload", async () => {
  const data = new Uint8Array(12 + 1332 + 65536).map((_, i) => i & 0xff);
  const { source, asked } = recordingSource(data);
  const reader = new ByteReader(source, { bufferSize: 1 << 20, directReadMin: 16384 });
  const header = await reader.readExactly(new Uint8Array(12), { readAhead: 1332 });
  assert.deepEqual(header, data.subarray(0, 12));
  const body = await reader.readExactly(new Uint8Array(1332), { readAhead: 0 });
  assert.deepEqual(body, data.subarray(12, 1344));
  const payload = new Uint8Array(65536);
  await reader.readExactly(payload);
  assert.deepEqual(payload, data.subarray(1344));
  // Header and body took one read of exactly their bytes; the payload went straight in.
  assert.deepEqual(asked, [1344, 65536]);
});

Deno.test("ByteReader: a peek without read-ahead reads only the bytes it shows", async () => {
  const data = new Uint8Array(4 + 40 + 65536).map((_, i) => i & 0xff);
  const { source, asked } = recordingSource(data);
  const reader = new ByteReader(source, { bufferSize: 64 * 1024, directReadMin: 16384 });
  assert.deepEqual(await reader.peek(4, { readAhead: false }), data.subarray(0, 4));
  const init = await reader.readExactly(new Uint8Array(44), { readAhead: false });
  assert.deepEqual(init, data.subarray(0, 44));
  // Nothing past the init packet was taken from the source: a borrower reads it there.
  assert.equal(reader.takeBuffered().length, 0);
  assert.deepEqual(asked, [4, 40]);
});

/** A `read()` source over `data` that records the size of every buffer it is asked to fill. */
function recordingSource(data: Uint8Array) {
  let at = 0;
  const asked: number[] = [];
  const source = {
    read(buffer: Uint8Array): Promise<number | null> {
      asked.push(buffer.length);
      if (at >= data.length) return Promise.resolve(null);
      const n = Math.min(buffer.length, data.length - at);
      buffer.set(data.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
  return { source, asked };
}
