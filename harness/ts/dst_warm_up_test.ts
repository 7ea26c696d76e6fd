import assert from "node:assert/strict";
import { PACKET_LAYOUTS, type PacketLayout } from "../wire/packet.ts";
import { WireError } from "../wire/errors.ts";
import { ChannelWorkerPool } from "./dst_multifd_worker.ts";
import { warmUpReceiver } from "./dst_warm_up.ts";
import type { FromChannelWorker, ToChannelWorker } from "./dst_worker_messages.ts";

Deno.test("warmUpReceiver: the receiver takes every made-up packet, in every layout", async () => {
  for (const layout of PACKET_LAYOUTS) assert.equal(await warmUpReceiver(layout, 40), 40, layout);
  assert.equal(await warmUpReceiver("v10.0", 0), 0);
  // Decoding more full packets apart leaves the read path's count alone.
  assert.equal(await warmUpReceiver("v10.0", 20, undefined, 200), 20);
});

Deno.test("ChannelWorkerPool: Workers warm up before the pool is started", async (t) => {
  await t.step("a warm-up the Workers run", async () => {
    // Resolves only once each Worker reports all 50 packets received; anything else rejects.
    using _pool = await ChannelWorkerPool.start(2, { timeoutMs: 10_000 }, {
      layout: "v10.0",
      packets: 50,
      decodes: 200,
    });
  });
  await t.step("a warm-up that fails fails the start", async () => {
    await assert.rejects(
      ChannelWorkerPool.start(1, { timeoutMs: 10_000 }, {
        layout: "v0.1" as PacketLayout,
        packets: 1,
      }),
      (error: unknown) => error instanceof WireError && /unknown packet layout/.test(error.message),
    );
  });
});

Deno.test("ChannelWorkerPool: a start past its bound says where each Worker got", async () => {
  // No Worker loads its modules within a millisecond.
  await assert.rejects(
    ChannelWorkerPool.start(2, { timeoutMs: 1 }, { layout: "v10.0", packets: 50 }),
    (error: unknown) =>
      error instanceof WireError && error.errorClass === "E_TIMEOUT" &&
      /received worker 0 loading, 0 SYNC\(s\), worker 1 loading, 0 SYNC\(s\)/.test(error.message),
  );
});

Deno.test("ChannelWorkerPool: a retired Worker lives until the pool ends", async () => {
  const pool = await ChannelWorkerPool.start(1, { timeoutMs: 10_000 });
  const worker = pool.take();
  const warmedWithin = (ms: number) =>
    new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      worker.onmessage = (event: MessageEvent<FromChannelWorker>) => {
        if (event.data.type === "warmed") {
          clearTimeout(timer);
          resolve(true);
        }
      };
      worker.postMessage(
        { type: "warm-up", layout: "v10.0", packets: 1 } satisfies ToChannelWorker,
      );
    });
  try {
    pool.retire(worker);
    assert.equal(await warmedWithin(10_000), true, "a retired Worker still answers");
  } finally {
    pool[Symbol.dispose]();
  }
  assert.equal(await warmedWithin(300), false, "the pool's end ended the retired Worker");
});
