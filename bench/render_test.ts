import { ok } from "node:assert/strict";
import { renderReport } from "./render.ts";
import { sampleReport, sampleThroughput } from "./testing.ts";
import { summarize } from "./stats.ts";

Deno.test("renderReport: header names cores, versions, the bandwidth limit, preallocation and the timing", () => {
  const text = renderReport(sampleReport());
  ok(text.includes("2 cores (Test CPU)"));
  ok(text.includes("qemu-10.0 10.0.2"));
  ok(
    text.includes(
      "**QEMU bandwidth limit**: lifted\n- **Guest RAM preallocated**: on for every side",
    ),
  );
  ok(text.includes("**Timing**: source start to destination end"));
});

Deno.test("renderReport: throughput rows with ratios and the headline", () => {
  const text = renderReport(sampleReport());
  ok(text.includes("| plain     |   4 | qemu-10.0→ts | 1000 (900–1100) |"), text);
  ok(text.includes("TypeScript destination (qemu-10.0→ts, 4 channels, plain): 1000 MB/s = 1.05×"));
});

Deno.test("renderReport: memory against the guest RAM; failures listed", () => {
  const text = renderReport(sampleReport({
    throughput: [sampleThroughput({ failures: ["source failed: E_IO"], mbps: summarize([1]) })],
  }));
  ok(text.includes("| TypeScript destination |    1 |"));
  ok(text.includes("- qemu-10.0→ts 4ch plain: source failed: E_IO"));
});

Deno.test("renderReport: a missing suite figure says why", () => {
  const report = sampleReport();
  const text = renderReport({
    ...report,
    suite: [{
      impl: "ts",
      wallSeconds: null,
      results: null,
      unexpected: null,
      caseSeconds: null,
      exitCodes: [2],
      leaked: ["qemu-system-x86"],
      missing: "conformance wrote no results",
    }],
  });
  ok(text.includes("missing: conformance wrote no results"));
  ok(text.includes("| ts             | missing: conformance wrote no results |"), text);
  ok(text.includes("left 1 process running"), text);
});
