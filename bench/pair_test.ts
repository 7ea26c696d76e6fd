import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { judgeRun } from "./pair.ts";

Deno.test("judgeRun: the longer span is the run's time; each side's CPU is kept", () => {
  const run = judgeRun(
    { status: "completed", seconds: 0.8, bytes: 100, evidence: { transferCpuSeconds: 0.3 } },
    {
      status: "completed",
      ramSha256: "ab",
      evidence: { transferSeconds: 0.9, transferCpuSeconds: 0.5 },
    },
    "ab",
  );
  assertEquals(
    [run.ok, run.seconds, run.sourceCpuSeconds, run.destinationCpuSeconds],
    [true, 0.9, 0.3, 0.5],
  );
});

Deno.test("judgeRun: a side without a CPU figure has none; a wrong digest fails the run", () => {
  const run = judgeRun(
    { status: "completed", seconds: 0.8 },
    { status: "completed", ramSha256: "cd", evidence: { transferSeconds: 0.9 } },
    "ab",
  );
  assertEquals([run.ok, run.sourceCpuSeconds, run.destinationCpuSeconds], [false, null, null]);
  assertEquals(run.reason, "destination RAM digest cd differs from the pattern's");
});
