/**
 * `bench.md`: the report of a benchmark run as Markdown tables, every figure a median with its
 * range, and every throughput a ratio to QEMU→QEMU and to the loopback ceiling of the same run.
 *
 * @module
 */

import { fixed, markdownTable, mib, span, times } from "./markdown.ts";
import { type BenchReport, pairName, type ThroughputResult } from "./report.ts";
import { ratio, summarize, type Summary } from "./stats.ts";

/** The pairs and channel count the headline quotes. */
const HEADLINE_CHANNELS = 4;

/**
 * Renders the whole report.
 *
 * @example
 * ```ts
 * import { renderReport } from "./render.ts";
 * import { sampleReport } from "./testing.ts";
 * console.log(renderReport(sampleReport()).split("\n")[0]); // "# migwire benchmarks"
 * ```
 */
export function renderReport(report: BenchReport): string {
  return [
    "# migwire benchmarks",
    "",
    ...header(report),
    ...headline(report),
    ...throughputSection(report),
    ...ceilingSection(report),
    ...cpuSection(report),
    ...memorySection(report),
    ...suiteSection(report),
    ...profileSection(report),
    ...(report.skipped.length > 0
      ? ["## Not measured", "", ...report.skipped.map((s) => `- ${s}`), ""]
      : []),
  ].join("\n");
}

function header(report: BenchReport): string[] {
  const m = report.machine;
  const s = report.settings;
  const gib = (m.memoryBytes / 2 ** 30).toFixed(0);
  const load = ` Load average (1, 5, 15 min) at the start ${m.loadavg.join(", ")}, at the end ` +
    `${report.loadavgEnd.join(", ")}: other work on these cores moves every figure.`;
  return [
    `Run of ${report.startedAt}, ${fixed(report.seconds)} s${s.quick ? " (`--quick`)" : ""}.`,
    "",
    `- **Machine**: ${m.cores} cores (${m.cpu}), ${gib} GiB RAM, Linux ${m.kernel}, ` +
    `Deno ${m.deno} (V8 ${m.v8}).${load}`,
    `- **Implementations**: ${
      report.implementations.map((i) => `${i.name} ${i.version}${i.detail ? ` (${i.detail})` : ""}`)
        .join("; ")
    }.`,
    `- **Tools**: ${
      report.tools.length > 0
        ? report.tools.map((t) => `${t.name} ${t.version}`).join(", ")
        : "none"
    }.`,
    `- **Guest RAM**: ${s.ramMib} MiB, every page non-zero (density ${s.density}), seed ${s.seed}.`,
    `- **Runs**: every figure is the median of ${s.runs} run${s.runs === 1 ? "" : "s"}, with ` +
    "(min–max); ratios are of " +
    "medians measured in the same run, pairs interleaved run by run.",
    `- **QEMU bandwidth limit**: ${s.maxBandwidth}`,
    ...(s.prealloc ? [`- **Guest RAM preallocated**: ${s.prealloc}`] : []),
    ...(s.hugePages ? [`- **Huge pages**: ${s.hugePages}`] : []),
    `- **QEMU guest RAM**: ${s.qemuRam}.`,
    `- **Timing**: ${s.timing}`,
    "",
  ];
}

function headline(report: BenchReport): string[] {
  const find = (src: string, dst: string, transport = "plain") =>
    report.throughput.find((r) =>
      r.src === src && r.dst === dst && r.channels === HEADLINE_CHANNELS &&
      r.transport === transport
    );
  const lines: string[] = [];
  const quote = (label: string, row: ThroughputResult | undefined) => {
    if (!row) return;
    lines.push(
      `- ${label} (${pairName(row)}, ${HEADLINE_CHANNELS} channels, plain): ` +
        `${fixed(row.mbps?.median)} MB/s = ${times(row.ratioToReference)} QEMU→QEMU ` +
        `(round by round ${span(row.pairedRatioToReference, 2)}), ` +
        `${times(row.ratioToCeiling)} the loopback ceiling.`,
    );
  };
  quote("TypeScript destination", find("qemu-10.0", "ts"));
  quote("TypeScript source", find("ts", "qemu-10.0"));
  quote("TypeScript both sides", find("ts", "ts"));
  if (lines.length === 0) return [];
  return ["## Headline", "", ...lines, ""];
}

function throughputSection(report: BenchReport): string[] {
  if (report.throughput.length === 0) return [];
  const rows = [...report.throughput].sort((a, b) =>
    a.transport.localeCompare(b.transport) || a.channels - b.channels
  );
  const ref = pairName(report.settings.reference);
  return [
    "## Throughput",
    "",
    `MB/s of guest RAM (10^6 bytes/s); × ${ref} and × ceiling are ratios of medians; ` +
    `"round by round" is the median (min–max) of each round's MB/s over ${ref}'s in the same ` +
    "round, the pairs of a round running back to back.",
    "",
    markdownTable(
      [
        "Transport",
        "Ch",
        "Pair",
        "MB/s",
        `× ${ref}`,
        "round by round",
        "× ceiling",
        "Seconds",
        "TS dst peak RSS",
        "TS src peak RSS",
        "Failed",
      ],
      rows.map((r) => [
        r.transport,
        String(r.channels),
        pairName(r),
        span(r.mbps),
        times(r.ratioToReference),
        span(r.pairedRatioToReference, 2),
        times(r.ratioToCeiling),
        span(r.seconds, 2),
        r.destinationPeakRss ? mib(r.destinationPeakRss.median) : "",
        r.sourcePeakRss ? mib(r.sourcePeakRss.median) : "",
        r.failures.length > 0 ? `${r.failures.length}/${r.runs}` : "",
      ]),
      [
        "left",
        "right",
        "left",
        "right",
        "right",
        "right",
        "right",
        "right",
        "right",
        "right",
        "right",
      ],
    ),
    "",
    ...failureLines(rows),
  ];
}

function failureLines(rows: readonly ThroughputResult[]): string[] {
  const lines = rows.flatMap((r) =>
    [...new Set(r.failures)].map((f) => `- ${pairName(r)} ${r.channels}ch ${r.transport}: ${f}`)
  );
  return lines.length > 0 ? ["Failed runs:", "", ...lines, ""] : [];
}

function ceilingSection(report: BenchReport): string[] {
  if (report.ceiling.length === 0) return [];
  const tool = report.tools.find((t) => t.name === "iperf3");
  return [
    "## Loopback ceiling",
    "",
    `${tool ? `iperf3 ${tool.version}` : "iperf3"}: the guest RAM's bytes over the same number ` +
    "of loopback TCP connections (`iperf3 -c 127.0.0.1 -P N -n BYTES`), in the same run.",
    "",
    markdownTable(
      ["Ch", "MB/s", "Failed"],
      report.ceiling.map((c) => [
        String(c.channels),
        span(c.mbps),
        c.failures.length > 0 ? c.failures.join("; ") : "",
      ]),
      ["right", "right", "left"],
    ),
    "",
  ];
}

function cpuSection(report: BenchReport): string[] {
  const rows = [...report.throughput]
    .filter((r) => r.sourceCpuSeconds || r.destinationCpuSeconds)
    .sort((a, b) => a.transport.localeCompare(b.transport) || a.channels - b.channels);
  if (rows.length === 0) return [];
  const ref = report.settings.reference;
  const gib = report.settings.ramMib / 1024;
  const perGib = (s: Summary | null | undefined) => s ? span(s, 0, 1000 / gib) : "—";
  const referenceOf = (r: ThroughputResult) =>
    report.throughput.find((x) =>
      pairName(x) === pairName(ref) && x.channels === r.channels && x.transport === r.transport
    );
  const versus = (mine: Summary | null | undefined, theirs: Summary | null | undefined) =>
    times(ratio(mine ?? null, theirs ?? null));
  return [
    "## CPU per GiB",
    "",
    "CPU milliseconds (user + system, every thread) each side's process used over its own span, " +
    `per GiB of guest RAM; × ${pairName(ref)} compares with that pair's side in the same role. ` +
    "The two sides share the machine's cores, so on few cores their sum bounds the throughput.",
    "",
    markdownTable(
      ["Transport", "Ch", "Pair", "Source ms/GiB", "× ref source", "Dest. ms/GiB", "× ref dest."],
      rows.map((r) => {
        const reference = referenceOf(r);
        return [
          r.transport,
          String(r.channels),
          pairName(r),
          perGib(r.sourceCpuSeconds),
          versus(r.sourceCpuSeconds, reference?.sourceCpuSeconds),
          perGib(r.destinationCpuSeconds),
          versus(r.destinationCpuSeconds, reference?.destinationCpuSeconds),
        ];
      }),
      ["left", "right", "left", "right", "right", "right", "right"],
    ),
    "",
  ];
}

function memorySection(report: BenchReport): string[] {
  const ram = report.settings.ramMib * 1048576;
  const roles = [
    [
      "TypeScript destination",
      report.throughput.flatMap((r) => r.destinationPeakRss?.values ?? []),
    ],
    ["TypeScript source", report.throughput.flatMap((r) => r.sourcePeakRss?.values ?? [])],
  ] as const;
  const rows = roles.filter(([, values]) => values.length > 0).map(([role, values]) => {
    const s = summarize(values)!;
    return [
      role,
      String(values.length),
      s.min === s.max ? mib(s.median) : `${mib(s.median)} (${mib(s.min)}–${mib(s.max)})`,
      times(s.max / ram),
    ];
  });
  if (rows.length === 0) return [];
  return [
    "## Memory",
    "",
    "Peak resident set (`VmHWM` of `/proc/<pid>/status`, sampled every 50 ms and at the result " +
    "line) of the TypeScript side's process over all its runs, against the guest RAM " +
    `(${report.settings.ramMib} MiB).`,
    "",
    markdownTable(
      ["Process", "Runs", "Peak RSS median (min–max)", "Max × guest RAM"],
      rows,
      ["left", "right", "right", "right"],
    ),
    "",
  ];
}

function suiteSection(report: BenchReport): string[] {
  const lines: string[] = [];
  if (report.suite.length > 0) {
    lines.push(
      "## Suite speed",
      "",
      "Wall time of `deno task conformance --impl NAME` (default concurrency, QEMU RAM where the " +
        "driver puts it) and the median time of one case as the suite recorded it.",
      "",
      markdownTable(
        [
          "Implementation",
          "Wall s",
          "Results",
          "Unexpected",
          "Median case s",
          "Exit",
          "Left running",
        ],
        report.suite.map((s) => [
          s.impl,
          s.missing && !s.wallSeconds ? `missing: ${s.missing}` : span(s.wallSeconds, 1),
          s.results === null ? "—" : String(s.results),
          s.unexpected === null ? "—" : String(s.unexpected),
          fixed(s.caseSeconds, 3),
          s.exitCodes.join(", "),
          String(s.leaked.length),
        ]),
        ["left", "right", "right", "right", "right", "right", "right"],
      ),
      "",
    );
    const notes = report.suite.flatMap((s) => [
      ...(s.missing ? [`- ${s.impl}: ${s.missing}`] : []),
      ...(s.leaked.length > 0
        ? [
          `- ${s.impl}: the suite left ${s.leaked.length} process${
            s.leaked.length === 1 ? "" : "es"
          } running after it exited (${
            [...new Set(s.leaked)].join(", ")
          }; over all runs), killed by the benchmark.`,
        ]
        : []),
    ]);
    if (notes.length > 0) lines.push(...notes, "");
  }
  if (report.qemuStart.length > 0) {
    lines.push(
      "### Harness overhead per QEMU case",
      "",
      "Bare cost: spawn `-M none -m 16M -S`, QMP greeting, `qmp_capabilities`, `quit`, reaped. " +
        "Overhead: the suite's median case of that QEMU minus the bare cost.",
      "",
      markdownTable(
        ["QEMU", "Bare start+QMP+quit ms", "Median case ms", "Overhead ms", "Case × bare"],
        report.qemuStart.map((q) => [
          `${q.impl} ${q.version}`,
          span(q.seconds, 0, 1000),
          fixed(q.caseSeconds === null ? null : q.caseSeconds * 1000),
          fixed(q.overheadSeconds === null ? null : q.overheadSeconds * 1000),
          times(q.caseSeconds !== null && q.seconds ? q.caseSeconds / q.seconds.median : null),
        ]),
        ["left", "right", "right", "right", "right"],
      ),
      "",
    );
  }
  return lines;
}

function profileSection(report: BenchReport): string[] {
  if (report.profiles.length === 0) return [];
  const lines = ["## CPU profiles", ""];
  for (const p of report.profiles) {
    const title = `TypeScript ${p.role} (${
      pairName(p.pair)
    }, ${p.channels} channels, ${p.transport})`;
    if (p.failure) {
      lines.push(`### ${title}`, "", `Not profiled: ${p.failure}`, "");
      continue;
    }
    const busy = p.totalMs - p.idleMs;
    lines.push(
      `### ${title}`,
      "",
      `\`${p.file}\`: ${fixed(p.totalMs)} ms from the first to the last socket read or write ` +
        `(start-up, pattern and digests left out), ${fixed(busy)} ms of it busy ` +
        `(${fixed((busy / Math.max(1, p.totalMs)) * 100)}%); ${fixed(p.mbps)} MB/s under the ` +
        "profiler. Shares are of the busy time; total includes callees.",
      "",
      markdownTable(
        ["Function", "Location", "Self ms", "Self %", "Total %"],
        p.top.map((e) => [
          e.functionName,
          e.location,
          fixed(e.selfMs),
          fixed(e.selfShare * 100, 1),
          fixed(e.totalShare * 100, 1),
        ]),
        ["left", "left", "right", "right", "right"],
      ),
      "",
    );
  }
  return lines;
}
