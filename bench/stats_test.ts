import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { median, megabytesPerSecond, pairedRatio, ratio, summarize } from "./stats.ts";

Deno.test("summarize: median of an odd count is the middle run", () => {
  assertEquals(summarize([5, 1, 3]), { median: 3, min: 1, max: 5, values: [5, 1, 3] });
});

Deno.test("summarize: median of an even count is the mean of the middle two", () => {
  assertEquals(summarize([4, 1, 2, 10])?.median, 3);
});

Deno.test("summarize: no runs, or only failed ones, give null", () => {
  assertEquals(summarize([]), null);
  assertEquals(summarize([NaN, Infinity]), null);
});

Deno.test("summarize: non-finite runs are left out", () => {
  assertEquals(summarize([NaN, 2, 4]), { median: 3, min: 2, max: 4, values: [2, 4] });
});

Deno.test("ratio: of medians; null when a side is missing or zero", () => {
  assertEquals(ratio(summarize([3]), summarize([2])), 1.5);
  assertEquals(ratio(summarize([3]), null), null);
  assertEquals(ratio(summarize([3]), summarize([0])), null);
});

Deno.test("megabytesPerSecond: decimal megabytes; NaN for no time", () => {
  assertEquals(megabytesPerSecond(3e6, 1.5), 2);
  assertEquals(Number.isNaN(megabytesPerSecond(1, 0)), true);
});

Deno.test("median: unsorted input; NaN for none", () => {
  assertEquals(median([9, 1, 5]), 5);
  assertEquals(Number.isNaN(median([])), true);
});

Deno.test("pairedRatio: ratios round by round, skipping rounds either side missed", () => {
  const paired = pairedRatio([900, 1800, null, 4000, NaN], [1000, 2000, 3000, 4000, 10]);
  assertEquals(paired?.values, [0.9, 0.9, 1]);
  assertEquals(paired?.median, 0.9);
  assertEquals(paired?.max, 1);
});

Deno.test("pairedRatio: no round in common gives null", () => {
  assertEquals(pairedRatio([null, 5], [5, 0]), null);
  assertEquals(pairedRatio([], []), null);
});
