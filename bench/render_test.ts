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
  ok(text.includes("| 1000 (900–1100) |                 1.05× | 1.02 (0.98–1.10) |"), text);
  ok(
    text.includes(
      "TypeScript destination (qemu-10.0→ts, 4 channels, plain): 1000 MB/s = 1.05× QEMU→QEMU " +
        "(round by round 1.02 (0.98–1.10)), 0.40× the loopback ceiling.",
    ),
    text,
  );
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

Deno.test("renderReport: CPU per GiB of each side, against the reference pair's same side", () => {
  const reference = sampleThroughput({
    src: "qemu-10.0",
    dst: "qemu-10.0",
    sourceCpuSeconds: summarize([0.07]),
    destinationCpuSeconds: summarize([0.04, 0.05, 0.06]),
  });
  const tsDestination = sampleThroughput({
    sourceCpuSeconds: summarize([0.07]),
    destinationCpuSeconds: summarize([0.15]),
  });
  const report = sampleReport({ throughput: [reference, tsDestination] });
  const text = renderReport({
    ...report,
    settings: { ...report.settings, reference: { src: "qemu-10.0", dst: "qemu-10.0" } },
  });
  // 256 MiB of guest RAM: 0.15 s is 600 ms per GiB, three times the reference's 0.05 s.
  ok(text.includes("## CPU per GiB"), text);
  ok(/\| qemu-10\.0→ts +\| +280 \| +1\.00× \| +600 \| +3\.00× \|/.test(text), text);
  ok(text.includes("200 (160–240)"), text);
});

Deno.test("renderReport: no CPU section when no side reported its CPU", () => {
  ok(!renderReport(sampleReport()).includes("## CPU per GiB"));
});
