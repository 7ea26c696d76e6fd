import assert from "node:assert/strict";
import { WireError } from "../wire/errors.ts";
import { connect, listen } from "./listen.ts";
import { ByteReader } from "./read.ts";
import { ByteWriter } from "./write.ts";

Deno.test("ByteWriter writes whole buffers to a socket", async () => {
  await using listener = listen();
  using client = await connect(listener.endpoint, { timeoutMs: 2000 });
  using server = await listener.accept({ timeoutMs: 2000 });
  const writer = new ByteWriter(client, { name: "main channel" });
  const data = new Uint8Array(1 << 20).map((_, i) => i & 0xff);
  const reading = new ByteReader(server).readExactly(new Uint8Array(data.length));
  await writer.write(data, { timeoutMs: 5000 });
  assert.deepEqual(await reading, data);
  assert.equal(writer.bytesWritten, data.length);
});

Deno.test("ByteWriter times out when the peer does not read, and keeps the byte order", async () => {
  await using listener = listen();
  using client = await connect(listener.endpoint, { timeoutMs: 2000 });
  using server = await listener.accept({ timeoutMs: 2000 });
  const writer = new ByteWriter(client, { name: "multifd channel 0" });
  // Far more than loopback socket buffers hold.
  const big = new Uint8Array(64 << 20).fill(7);
  const error = await writer.write(big, { timeoutMs: 200, what: "pages" }).then(
    () => null,
    (e) => e,
  );
  assert.ok(error instanceof WireError, String(error));
  assert.equal(error.errorClass, "E_TIMEOUT");
  assert.match(error.message, /pages to multifd channel 0/);
  // A later write goes after the timed-out one, once the peer reads.
  const tail = new Uint8Array([1, 2, 3]);
  const reader = new ByteReader(server);
  const all = new Uint8Array(big.length + tail.length);
  const reading = reader.readExactly(all, { timeoutMs: 20_000 });
  await writer.write(tail, { timeoutMs: 20_000 });
  await reading;
  assert.deepEqual(all.subarray(big.length), tail);
  assert.equal(all.indexOf(1), big.length);
});

Deno.test("ByteWriter reports a write to a reset peer as E_IO", async () => {
  await using listener = listen();
  using client = await connect(listener.endpoint, { timeoutMs: 2000 });
  const server = await listener.accept({ timeoutMs: 2000 });
  server.close();
  const writer = new ByteWriter(client, { name: "dst" });
  const chunk = new Uint8Array(65536);
  const error = await (async () => {
    for (let i = 0; i < 100; i++) await writer.write(chunk, { timeoutMs: 2000 });
  })().then(() => null, (e) => e);
  assert.ok(error instanceof WireError, String(error));
  assert.equal(error.errorClass, "E_IO");
  assert.match(error.message, /write failed to dst/);
});
