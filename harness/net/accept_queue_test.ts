import assert from "node:assert/strict";
import { WireError } from "../wire/errors.ts";
import { AcceptQueue } from "./accept_queue.ts";

function queue(): AcceptQueue<number> {
  return new AcceptQueue({ name: "test listener", what: "a connection", timeoutMs: 2000 });
}

async function errorOf(promise: Promise<unknown>): Promise<WireError> {
  const error = await promise.then(() => null, (e) => e);
  assert.ok(error instanceof WireError, `expected a WireError, got ${error}`);
  return error;
}

Deno.test("AcceptQueue hands items out in order, to waits in call order", async () => {
  const q = queue();
  const first = q.next(undefined, (n) => n);
  const second = q.next(undefined, (n) => n);
  q.push(1);
  q.push(2);
  assert.deepEqual(await Promise.all([first, second]), [1, 2]);
});

Deno.test("AcceptQueue wait that times out takes nothing", async () => {
  const q = queue();
  const error = await errorOf(q.next({ timeoutMs: 20, what: "first channel" }, (n) => n));
  assert.equal(error.errorClass, "E_TIMEOUT");
  assert.match(error.message, /first channel on test listener/);
  q.push(7);
  // A use that fails (here on its own deadline) leaves the item queued.
  const never = new Promise<number>(() => {});
  await errorOf(q.next({ timeoutMs: 20 }, (_n, deadline) => deadline.race(never)));
  assert.equal(await q.next(undefined, (n) => n), 7);
});

Deno.test("AcceptQueue closed hands out what is queued, then fails with E_IO", async () => {
  const q = queue();
  const waiting = q.next(undefined, (n) => n);
  q.push(1);
  q.push(2);
  assert.equal(await waiting, 1);
  q.close();
  assert.equal(q.closed, true);
  assert.equal(await q.next(undefined, (n) => n), 2);
  const error = await errorOf(q.next(undefined, (n) => n));
  assert.equal(error.errorClass, "E_IO");
  assert.match(error.message, /test listener is closed/);
  q.push(3);
  assert.deepEqual(q.drain(), [3]);
});
