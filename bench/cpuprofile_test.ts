import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { type CpuProfile, summarizeProfile } from "./cpuprofile.ts";

const frame = (
  functionName: string,
  url = "file:///work/main/harness/ts/a.ts",
  lineNumber = 9,
) => ({
  functionName,
  url,
  lineNumber,
});

const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame("(root)", ""), children: [2, 3, 5] },
    { id: 2, callFrame: frame("(idle)", "") },
    { id: 3, callFrame: frame("receive"), children: [4] },
    { id: 4, callFrame: frame("copyPage") },
    { id: 5, callFrame: frame("(garbage collector)", "") },
  ],
  samples: [2, 4, 4, 3, 5, 2],
  timeDeltas: [0, 1000, 1000, 1000, 1000, 1000],
};

Deno.test("summarizeProfile: self time, hottest first, shares of the busy time", () => {
  const summary = summarizeProfile(profile, { root: "/work/main/" });
  assertEquals(summary.idleMs, 2);
  assertEquals(summary.top.map((e) => e.functionName), [
    "copyPage",
    "receive",
    "(garbage collector)",
  ]);
  assertEquals(summary.top[0].selfShare, 0.5);
  assertEquals(summary.top[0].location, "harness/ts/a.ts:10");
  assertEquals(summary.top[2].location, "");
});

Deno.test("summarizeProfile: total time includes callees, once per sample", () => {
  const receive = summarizeProfile(profile).top.find((e) => e.functionName === "receive")!;
  assertEquals(receive.selfMs, 1);
  assertEquals(receive.totalMs, 3);
  assertEquals(receive.totalShare, 0.75);
});

Deno.test("summarizeProfile: limit cuts the list", () => {
  ok(summarizeProfile(profile, { limit: 1 }).top.length === 1);
});

Deno.test("summarizeProfile: markers narrow the window to the samples between them", () => {
  const summary = summarizeProfile(profile, { markers: ["copyPage"] });
  assertEquals(summary.idleMs, 0);
  assertEquals(summary.top.map((e) => e.functionName), ["copyPage"]);
  assertEquals(summary.totalMs, 2);
});

Deno.test("summarizeProfile: no marker sample leaves nothing", () => {
  assertEquals(summarizeProfile(profile, { markers: ["nothing"] }).top, []);
});
