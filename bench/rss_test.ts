import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { parseProcStatus, RssSampler } from "./rss.ts";

Deno.test("parseProcStatus: VmHWM and VmRSS in bytes", () => {
  const text = "Name:\tdeno\nVmPeak:\t 9000 kB\nVmHWM:\t  300 kB\nVmRSS:\t  200 kB\nThreads:\t4\n";
  assertEquals(parseProcStatus(text), { hwm: 300 * 1024, rss: 200 * 1024 });
});

Deno.test("parseProcStatus: a zombie has no memory lines", () => {
  assertEquals(parseProcStatus("Name:\tdeno\nState:\tZ (zombie)\n"), null);
});

Deno.test("RssSampler: reads this process and stops", () => {
  const sampler = new RssSampler(Deno.pid, 10);
  sampler.stop();
  ok(sampler.peak > 1024 * 1024);
});

Deno.test("RssSampler: a process that does not exist reads as 0", () => {
  const sampler = new RssSampler(2 ** 22 + 12345, 10);
  sampler.stop();
  assertEquals(sampler.peak, 0);
});
