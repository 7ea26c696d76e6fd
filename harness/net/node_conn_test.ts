import assert from "node:assert/strict";
import { WireError } from "../wire/errors.ts";
import { connect, listen } from "./listen.ts";
import { NodeConn, NodeListener } from "./node_conn.ts";
import { ByteReader } from "./read.ts";

Deno.test("NodeConn.reset sends RST, not FIN", async () => {
  await using listener = listen();
  const conn = await NodeConn.connect(listener.endpoint, { timeoutMs: 2000 });
  using peer = await listener.accept({ timeoutMs: 2000 });
  await conn.write(new Uint8Array([1, 2, 3]));
  const reader = new ByteReader(peer, { timeoutMs: 2000 });
  await reader.readExactly(new Uint8Array(3));
  conn.reset();
  // Deno's read reports RST as ConnectionReset; a FIN would read as end of stream.
  const error = await reader.ended().then(() => null, (e) => e);
  assert.ok(error instanceof WireError, `expected a reset, got ${error}`);
  assert.equal(error.errorClass, "E_IO");
  assert.match(error.message, /ConnectionReset/);
});

Deno.test("NodeConn tells the peer's FIN from its RST", async () => {
  await using listener = await NodeListener.listen({ name: "proxy" });
  for (const how of ["fin", "rst"] as const) {
    const client = await NodeConn.connect(listener.endpoint, { timeoutMs: 2000 });
    await using conn = await listener.accept({ timeoutMs: 2000 });
    await client.write(new Uint8Array(10_000).fill(9));
    const got = new Uint8Array(10_000);
    await new ByteReader(conn, { timeoutMs: 2000 }).readExactly(got);
    assert.equal(got[9_999], 9);
    if (how === "fin") await client.closeWrite();
    else client.reset();
    if (how === "fin") {
      assert.equal(await conn.readChunk(), null);
      // Half-closed: the other direction still works.
      await conn.write(new Uint8Array([7]));
      assert.equal((await client.readChunk())?.[0], 7);
    } else {
      await assert.rejects(conn.readChunk(), Deno.errors.ConnectionReset);
    }
    assert.equal(conn.end, how);
    client.close();
  }
});

Deno.test("NodeListener accept times out and keeps a late connection", async () => {
  await using listener = await NodeListener.listen({ name: "proxy" });
  await assert.rejects(
    listener.accept({ timeoutMs: 50, what: "first channel" }),
    (e) =>
      e instanceof WireError && e.errorClass === "E_TIMEOUT" && /first channel/.test(e.message),
  );
  using client = await connect(listener.endpoint, { timeoutMs: 2000 });
  await using conn = await listener.accept({ timeoutMs: 2000 });
  assert.equal(conn.remoteAddr.port, client.localAddr.port);
});
