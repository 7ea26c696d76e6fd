import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { fixed, markdownTable, mib, span, times } from "./markdown.ts";

Deno.test("markdownTable: pads columns by code points and aligns numbers right", () => {
  const table = markdownTable(
    ["Pair", "MB/s"],
    [["qemu→ts", "1200"], ["ts→ts", "80"]],
    ["left", "right"],
  );
  assertEquals(table.split("\n"), [
    "| Pair    | MB/s |",
    "| :------ | ---: |",
    "| qemu→ts | 1200 |",
    "| ts→ts   |   80 |",
  ]);
});

Deno.test("markdownTable: escapes pipes and fills missing cells", () => {
  assertEquals(markdownTable(["a", "b"], [["x|y"]]).split("\n")[2], "| x\\|y |     |");
});

Deno.test("fixed and times: missing or non-finite values show a dash", () => {
  assertEquals(fixed(2.345, 1), "2.3");
  assertEquals(fixed(undefined), "—");
  assertEquals(fixed(NaN), "—");
  assertEquals(times(1.005), "1.00×");
  assertEquals(times(null), "—");
});

Deno.test("span: median with its range, one number when the runs agree", () => {
  assertEquals(span({ median: 2, min: 1, max: 3, values: [1, 2, 3] }), "2 (1–3)");
  assertEquals(span({ median: 2, min: 2, max: 2, values: [2] }, 1), "2.0");
  assertEquals(span({ median: 1, min: 0.5, max: 2, values: [] }, 0, 1000), "1000 (500–2000)");
  assertEquals(span(null), "—");
});

Deno.test("mib: whole MiB", () => {
  assertEquals(mib(1536 * 1024 * 1024), "1536 MiB");
  assertEquals(mib(null), "—");
});
