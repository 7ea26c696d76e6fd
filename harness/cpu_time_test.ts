import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { cpuSeconds, ownCpuSeconds, parseStatCpuSeconds } from "./cpu_time.ts";

Deno.test("parseStatCpuSeconds: utime plus stime, a name with spaces and parentheses", () => {
  const stat = "7 (a (b) c) R 1 7 7 0 -1 4194304 10 0 0 0 250 125 0 0 20 0 4 0 100";
  assertEquals(parseStatCpuSeconds(stat), 3.75);
  assertEquals(parseStatCpuSeconds("nonsense"), null);
});

Deno.test("cpuSeconds: this process has used some; a missing one has none", () => {
  ok(cpuSeconds(Deno.pid)! >= 0);
  assertEquals(cpuSeconds(2 ** 22 + 12345), null);
});

Deno.test("ownCpuSeconds: counts a Worker's busy time as this process's", async () => {
  const before = ownCpuSeconds();
  // A fixed amount of work (about 0.25 s), so a busy machine only stretches it.
  const code = "let x = 0; for (let i = 0; i < 3e8; i++) x += i; postMessage(x);";
  const worker = new Worker(`data:text/javascript,${encodeURIComponent(code)}`, { type: "module" });
  try {
    await new Promise((resolve) => worker.onmessage = resolve);
  } finally {
    worker.terminate();
  }
  ok(ownCpuSeconds() - before >= 0.1, `${ownCpuSeconds() - before} s`);
});
