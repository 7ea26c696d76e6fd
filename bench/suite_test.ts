import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { summarizeResults } from "./suite.ts";

Deno.test("summarizeResults: rows, unexpected rows, median seconds of the implementation's rows", () => {
  const text = JSON.stringify({
    results: [
      { implementation: "qemu-10.0", unexpected: false, seconds: 0.2 },
      { implementation: "qemu-10.0", unexpected: true, seconds: 5.1 },
      { implementation: "qemu-10.0", unexpected: false, seconds: 0.3 },
      { implementation: "ts", unexpected: false, seconds: 9 },
    ],
  });
  assertEquals(summarizeResults(text, "qemu-10.0"), {
    results: 4,
    unexpected: 1,
    caseSeconds: 0.3,
  });
  assertEquals(summarizeResults(text, "qemu-7.2").caseSeconds, null);
});

Deno.test("summarizeResults: a document without results is an error", () => {
  throws(() => summarizeResults("{}", "ts"), /no results/);
});
