import assert from "node:assert/strict";
import { EXIT_FAILED, EXIT_OK } from "./command.ts";
import type { Outcome } from "../harness/implementation.ts";
import { runPeer } from "./peer_run.ts";

/** Runs `run` with console.log captured; returns its value and the lines it printed. */
async function capture<T>(run: () => Promise<T>): Promise<{ value: T; lines: string[] }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (line: string) => lines.push(line);
  try {
    return { value: await run(), lines };
  } finally {
    console.log = log;
  }
}

Deno.test("runPeer: start, watch, result line with the extra fields, exit code, dispose", async () => {
  const steps: string[] = [];
  const peer = (outcome: Outcome) => ({
    outcome: () => {
      steps.push("outcome");
      return Promise.resolve(outcome);
    },
    [Symbol.asyncDispose]: () => {
      steps.push("disposed");
      return Promise.resolve();
    },
  });
  const { value, lines } = await capture(() =>
    runPeer({
      timeoutMs: 10_000,
      start: (signal) => {
        steps.push(`start aborted=${signal.aborted}`);
        return Promise.resolve(peer({ status: "completed", ramSha256: "ab", bytes: 1 }));
      },
      watch: () => {
        steps.push("watch");
        return () => steps.push("unwatch");
      },
      extra: (outcome) => ({ patternMatches: outcome.ramSha256 === "ab" }),
    })
  );
  assert.equal(value, EXIT_OK);
  assert.deepEqual(steps, ["start aborted=false", "watch", "outcome", "unwatch", "disposed"]);
  assert.deepEqual(lines.map((line) => JSON.parse(line)), [
    {
      event: "result",
      status: "completed",
      ramSha256: "ab",
      patternMatches: true,
      bytes: 1,
      seconds: 0,
    },
  ]);

  const failed = await capture(() =>
    runPeer({
      timeoutMs: undefined,
      start: () => Promise.resolve(peer({ status: "failed", errorClass: "E_UUID" })),
    })
  );
  assert.equal(failed.value, EXIT_FAILED);
  assert.equal(JSON.parse(failed.lines[0]).class, "E_UUID");
});
