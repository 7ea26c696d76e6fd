import assert from "node:assert/strict";
import { WireError } from "../wire/errors.ts";
import { NodeConn, NodeListener } from "./node_conn.ts";
import { ProxyConnections } from "./proxy_connections.ts";

/** The record of a held connection: its handling ends when the test calls `end`. */
interface Held {
  readonly index: number;
  readonly ended: Promise<void>;
  end(): void;
}

/** A proxy that holds each connection until the test ends it. */
async function holding(name: string) {
  const listener = await NodeListener.listen({ name });
  const endpoint = listener.endpoint;
  const connections = new ProxyConnections<Held>(listener, name);
  const clients: NodeConn[] = [];
  connections.acceptFrom({
    open: (client, index) => {
      const ended = Promise.withResolvers<void>();
      clients.push(client);
      return { index, ended: ended.promise, end: () => ended.resolve() };
    },
    handle: async (client, connection) => {
      await connection.ended;
      client.close();
    },
  });
  return {
    connections,
    clients,
    connect: () => NodeConn.connect(endpoint, { timeoutMs: 2000 }),
    async [Symbol.asyncDispose]() {
      connections.close();
      for (const c of connections.accepted) c.end();
      for (const c of clients) c.close();
      await connections.settled();
    },
  };
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met within 2 s");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test("ProxyConnections keeps accept order and waits for every accepted one to end", async () => {
  await using proxy = await holding("test proxy");
  await using _first = await proxy.connect();
  await until(() => proxy.connections.accepted.length === 1);
  await using _second = await proxy.connect();
  await until(() => proxy.connections.accepted.length === 2);
  assert.deepEqual(proxy.connections.accepted.map((c) => c.index), [0, 1]);
  let ended = false;
  const waiting = proxy.connections.ended({ connections: 1, timeoutMs: 2000 }).then(() => {
    ended = true;
  });
  proxy.connections.accepted[0].end();
  await new Promise((resolve) => setTimeout(resolve, 50));
  // One was wanted, but the second one accepted is waited for too.
  assert.equal(ended, false);
  proxy.connections.accepted[1].end();
  await waiting;
});

Deno.test("ProxyConnections.ended is bounded and says how many were accepted", async () => {
  await using proxy = await holding("test proxy");
  await using _client = await proxy.connect();
  const error = await proxy.connections.ended({ connections: 2, timeoutMs: 100 }).then(
    () => null,
    (e) => e,
  );
  assert.ok(error instanceof WireError);
  assert.equal(error.errorClass, "E_TIMEOUT");
  assert.match(error.message, /2 connection\(s\) to end on test proxy/);
  assert.match(error.message, /\(1 accepted\)/);
  const custom = await proxy.connections.ended({ timeoutMs: 50 }, () => " (custom)").then(
    () => null,
    (e) => e,
  );
  assert.match(String(custom?.message), /\(custom\)/);
});

Deno.test("ProxyConnections.close stops accepting and ends a wait for more connections", async () => {
  await using proxy = await holding("test proxy");
  const waiting = proxy.connections.ended({ connections: 3, timeoutMs: 2000 });
  proxy.connections.close();
  assert.equal(proxy.connections.closed, true);
  await waiting;
  await assert.rejects(proxy.connect(), WireError);
});

Deno.test("ProxyConnections.settled waits at most the grace period", async () => {
  await using proxy = await holding("test proxy");
  await using _client = await proxy.connect();
  await until(() => proxy.connections.accepted.length === 1);
  proxy.connections.close();
  const started = performance.now();
  await proxy.connections.settled(100);
  const waited = performance.now() - started;
  assert.ok(waited >= 90 && waited < 1000, `${waited} ms`);
  proxy.connections.accepted[0].end();
  await proxy.connections.settled(2000);
});
