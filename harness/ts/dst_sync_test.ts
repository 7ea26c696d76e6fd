import assert from "node:assert/strict";
import { WireError } from "../wire/errors.ts";
import { SyncBarrier } from "./dst_sync.ts";

Deno.test("SyncBarrier releases the channels only at the main stream's sync point", async () => {
  const barrier = new SyncBarrier(2);
  const released: number[] = [];
  const c0 = barrier.channelSynced(0).then(() => released.push(0));
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(released.length, 0);
  const main = barrier.syncMain();
  await new Promise((r) => setTimeout(r, 10));
  // One SYNC is missing: the main stream still waits.
  assert.equal(barrier.syncPoints, 0);
  const c1 = barrier.channelSynced(1).then(() => released.push(1));
  await Promise.all([main, c0, c1]);
  assert.deepEqual(released.sort(), [0, 1]);
  assert.equal(barrier.syncPoints, 1);
  assert.equal(barrier.waitingChannels, 0);
});

Deno.test("SyncBarrier fails a sync point whose channel ended without SYNC", async () => {
  const barrier = new SyncBarrier(2);
  void barrier.channelSynced(0).catch(() => {});
  barrier.channelEnded(1);
  await assert.rejects(barrier.syncMain(), (error: unknown) => {
    assert.ok(error instanceof WireError);
    assert.equal(error.errorClass, "E_TRUNCATED");
    assert.match(error.message, /channel 1 ended before its SYNC packet/);
    return true;
  });
});

Deno.test("SyncBarrier times out stalled channels and honours aborts", async () => {
  const barrier = new SyncBarrier(1);
  await assert.rejects(barrier.syncMain(undefined, 50), /no multifd progress/);
  const controller = new AbortController();
  const waiting = barrier.channelSynced(0, controller.signal);
  controller.abort(new Error("stop"));
  await assert.rejects(waiting, (error: unknown) => {
    assert.ok(error instanceof WireError);
    assert.equal(error.errorClass, "E_TIMEOUT");
    return true;
  });
  const failed = new SyncBarrier(1);
  const pending = failed.channelSynced(0);
  failed.fail(new WireError("E_PACKET", "bad packet"));
  await assert.rejects(pending, /bad packet/);
  await assert.rejects(failed.syncMain(), /bad packet/);
});
