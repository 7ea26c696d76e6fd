import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { cpuSeconds, parseStatCpuSeconds } from "./cpu_time.ts";

Deno.test("parseStatCpuSeconds: utime plus stime, a name with spaces and parentheses", () => {
  const stat = "7 (a (b) c) R 1 7 7 0 -1 4194304 10 0 0 0 250 125 0 0 20 0 4 0 100";
  assertEquals(parseStatCpuSeconds(stat), 3.75);
  assertEquals(parseStatCpuSeconds("nonsense"), null);
});

Deno.test("cpuSeconds: this process has used some; a missing one has none", () => {
  ok(cpuSeconds(Deno.pid)! >= 0);
  assertEquals(cpuSeconds(2 ** 22 + 12345), null);
});
