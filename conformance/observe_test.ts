import assert from "node:assert/strict";
import type { Outcome } from "../harness/implementation.ts";
import { boundedOutcome } from "./observe.ts";

/** An outcome that arrives after `ms`, or never; a wait that is aborted ends as a timeout. */
function reportsAfter(ms: number): { outcome(signal?: AbortSignal): Promise<Outcome> } {
  return {
    outcome: (signal) =>
      new Promise<Outcome>((resolve) => {
        const timer = ms === Infinity ? undefined : setTimeout(
          () => resolve({ status: "completed" }),
          ms,
        );
        signal?.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve({ status: "timeout", message: String(signal.reason) });
        }, { once: true });
      }),
  };
}

Deno.test("boundedOutcome: an outcome within the bound is returned", async () => {
  const outcome = await boundedOutcome(reportsAfter(10), new AbortController().signal, 2_000);
  assert.equal(outcome.status, "completed");
});

Deno.test("boundedOutcome: past the bound the outcome is a timeout", async () => {
  const outcome = await boundedOutcome(reportsAfter(Infinity), new AbortController().signal, 50);
  assert.equal(outcome.status, "timeout");
});

Deno.test("boundedOutcome: the settle bound runs from when its peer ended", async (t) => {
  await t.step("it cuts the wait short once the peer has ended", async () => {
    const started = performance.now();
    const outcome = await boundedOutcome(
      reportsAfter(Infinity),
      new AbortController().signal,
      10_000,
      { after: Promise.resolve(), ms: 50 },
    );
    assert.equal(outcome.status, "timeout");
    assert.match(outcome.message ?? "", /50 ms after its peer ended/);
    assert.ok(performance.now() - started < 5_000);
  });
  await t.step("an outcome within it is still returned", async () => {
    const outcome = await boundedOutcome(
      reportsAfter(20),
      new AbortController().signal,
      10_000,
      { after: Promise.resolve(), ms: 2_000 },
    );
    assert.equal(outcome.status, "completed");
  });
  await t.step("a peer that never ends leaves the full bound", async () => {
    const outcome = await boundedOutcome(
      reportsAfter(300),
      new AbortController().signal,
      10_000,
      { after: new Promise(() => {}), ms: 50 },
    );
    assert.equal(outcome.status, "completed");
  });
});
