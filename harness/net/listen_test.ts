import assert from "node:assert/strict";
import { WireError } from "../wire/errors.ts";
import { connect, listen } from "./listen.ts";

Deno.test("listen binds loopback on a kernel-chosen port", async () => {
  await using listener = listen();
  assert.equal(listener.endpoint.hostname, "127.0.0.1");
  assert.ok(listener.port > 0);
});

Deno.test("accept times out naming the listener, and a late connection is not lost", async () => {
  await using listener = listen({ name: "destination" });
  const error = await listener.accept({ timeoutMs: 100, what: "main channel" }).then(
    () => null,
    (e) => e,
  );
  assert.ok(error instanceof WireError);
  assert.equal(error.errorClass, "E_TIMEOUT");
  assert.match(error.message, /main channel on destination/);
  using client = await connect(listener.endpoint, { timeoutMs: 2000 });
  using accepted = await listener.accept({ timeoutMs: 2000 });
  assert.equal(accepted.remoteAddr.port, client.localAddr.port);
});

Deno.test("accept honours an AbortSignal", async () => {
  await using listener = listen();
  await assert.rejects(
    listener.accept({ signal: AbortSignal.timeout(50) }),
    (e) => e instanceof WireError && e.errorClass === "E_TIMEOUT",
  );
});

Deno.test("connect to a closed port is E_IO naming the endpoint", async () => {
  const port = (() => {
    const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const p = l.addr.port;
    l.close();
    return p;
  })();
  const error = await connect({ hostname: "127.0.0.1", port }, { timeoutMs: 2000 }).then(
    () => null,
    (e) => e,
  );
  assert.ok(error instanceof WireError);
  assert.equal(error.errorClass, "E_IO");
  assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
});

Deno.test("concurrent accepts get one connection each, in call order", async () => {
  await using listener = listen();
  const accepts = [0, 1, 2].map(() => listener.accept({ timeoutMs: 2000 }));
  const clients: Deno.TcpConn[] = [];
  for (let i = 0; i < 3; i++) clients.push(await connect(listener.endpoint, { timeoutMs: 2000 }));
  const accepted = await Promise.all(accepts);
  assert.deepEqual(
    accepted.map((c) => c.remoteAddr.port),
    clients.map((c) => c.localAddr.port),
  );
  for (const c of [...accepted, ...clients]) c.close();
});
