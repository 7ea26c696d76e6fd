import assert from "node:assert/strict";
import { WireError } from "../wire/errors.ts";
import { PAGE_SIZE } from "../ram/pattern.ts";
import { ChannelThreads } from "./src_channel_threads.ts";

const WAIT = { timeoutMs: 10_000 };

Deno.test("ChannelThreads.start: Workers warm their packers up before it resolves", async (t) => {
  await t.step("a warm-up every Worker runs", async () => {
    using threads = new ChannelThreads(2);
    const ram = new Uint8Array(new SharedArrayBuffer(256 * PAGE_SIZE)).fill(1);
    // Resolves only once each Worker reports all 50 packets packed; anything else rejects.
    await threads.start(ram, "v10.0", "pc.ram", 50, WAIT);
  });
  await t.step("a Worker that cannot pack the RAM fails the start with its error", async () => {
    using threads = new ChannelThreads(1);
    const ram = new Uint8Array(new SharedArrayBuffer(PAGE_SIZE + 1));
    await assert.rejects(
      threads.start(ram, "v10.0", "pc.ram", 4, WAIT),
      (error: unknown) => error instanceof WireError && /whole 4096-byte pages/.test(error.message),
    );
  });
  await t.step("an aborted wait ends the start", async () => {
    using threads = new ChannelThreads(1);
    const ram = new Uint8Array(new SharedArrayBuffer(PAGE_SIZE));
    await assert.rejects(
      threads.start(ram, "v10.0", "pc.ram", 4, { signal: AbortSignal.abort(new Error("stop")) }),
      (error: unknown) => error instanceof WireError && error.errorClass === "E_TIMEOUT",
    );
  });
  await t.step("RAM outside a SharedArrayBuffer is refused", async () => {
    using threads = new ChannelThreads(1);
    await assert.rejects(
      threads.start(new Uint8Array(PAGE_SIZE), "v10.0", "pc.ram", 4, WAIT),
      TypeError,
    );
  });
});
