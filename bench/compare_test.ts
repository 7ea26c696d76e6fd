import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import { compareReports, figures, relativeWorse, renderComparison } from "./compare.ts";
import { sampleReport, sampleThroughput } from "./testing.ts";
import { summarize } from "./stats.ts";

Deno.test("relativeWorse: positive means worse in either direction", () => {
  assertEquals(relativeWorse(100, 80, "higher"), 0.2);
  assertEquals(relativeWorse(100, 120, "higher"), -0.2);
  assertEquals(relativeWorse(10, 12, "lower"), 0.2);
  assertEquals(relativeWorse(0, 0, "lower"), 0);
});

Deno.test("figures: keyed by RAM size, pair, channels and transport; missing values left out", () => {
  const report = sampleReport({
    throughput: [
      sampleThroughput({
        mbps: summarize([1000]),
        ratioToReference: null,
        pairedRatioToReference: null,
      }),
    ],
  });
  const keys = figures(report).map((f) => f.key);
  ok(keys.includes("throughput 256MiB qemu-10.0→ts 4ch plain MB/s"));
  ok(!keys.some((k) => k.includes("×reference")));
  ok(keys.includes("suite ts wall s"));
});

Deno.test("compareReports: flags only figures more than 10% worse", () => {
  const baseline = sampleReport({
    throughput: [
      sampleThroughput({ mbps: summarize([1000]), destinationPeakRss: summarize([100]) }),
    ],
  });
  const current = sampleReport({
    throughput: [
      sampleThroughput({ mbps: summarize([850]), destinationPeakRss: summarize([105]) }),
    ],
  });
  const result = compareReports(baseline, current);
  assertEquals(result.flagged.map((c) => c.key), ["throughput 256MiB qemu-10.0→ts 4ch plain MB/s"]);
  ok(result.compared.length >= 2);
  ok(renderComparison(result, "bench/baseline.json").includes("WORSE"));
});

Deno.test("compareReports: a faster run flags nothing", () => {
  const baseline = sampleReport({ throughput: [sampleThroughput({ mbps: summarize([1000]) })] });
  const current = sampleReport({ throughput: [sampleThroughput({ mbps: summarize([1300]) })] });
  assertEquals(compareReports(baseline, current).flagged, []);
});

Deno.test("compareReports: another RAM size shares only the size-independent figures", () => {
  const baseline = sampleReport({ ramMib: 1024 });
  const current = sampleReport({ ramMib: 256 });
  const result = compareReports(baseline, current);
  ok(result.compared.every((c) => !c.key.startsWith("throughput")));
  ok(result.warnings.some((w) => w.includes("1024 MiB")));
});

Deno.test("figures: the round-by-round ratio is a figure of its own", () => {
  const found = figures(sampleReport()).find((f) => f.key.endsWith("×reference round by round"));
  assertEquals(found?.value, 1.02);
  assertEquals(found?.better, "higher");
});

Deno.test("figures: the reference pair's ratio to itself is no figure", () => {
  const report = sampleReport({
    throughput: [sampleThroughput({ src: "qemu-10.0", dst: "qemu-10.0", ratioToReference: 1 })],
  });
  assertEquals(figures(report).filter((f) => f.key.includes("×reference")), []);
});
