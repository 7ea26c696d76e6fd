/**
 * `migwire bench` (`deno task bench`): migration throughput of every pair side by side with QEMU
 * and the loopback ceiling, the TypeScript sides' peak memory, and the suite's speed. Writes
 * `bench.json` and `bench.md` to `--out`; with `--compare BASELINE`, exit 1 when a figure is more
 * than 10% worse than the baseline's.
 *
 * @module
 */

import { resolve } from "node:path";
import { type Command, EXIT_FAILED, EXIT_OK, UsageError } from "./command.ts";
import { compareReports, renderComparison } from "../bench/compare.ts";
import { benchOptions, DEFAULT_OUT, SECTIONS } from "../bench/options.ts";
import { type BenchReport, REPORT_FORMAT } from "../bench/report.ts";
import { renderReport } from "../bench/render.ts";
import { runBench } from "../bench/run.ts";

/** The `bench` command. */
export const benchCommand: Command = {
  name: "bench",
  summary: "Benchmark throughput against QEMU and the loopback ceiling, memory and suite speed",
  options: {
    quick: { type: "boolean", help: "256 MiB of guest RAM and one suite run per implementation." },
    "ram-mib": {
      type: "string",
      value: "M",
      help: "Guest RAM in MiB, every page non-zero (default: 1024, --quick 256).",
    },
    channels: {
      type: "string",
      value: "LIST",
      help: "Multifd channel counts.",
      default: "1,2,4,8",
    },
    runs: { type: "string", value: "K", help: "Runs per figure (median, min, max).", default: "3" },
    "suite-runs": {
      type: "string",
      value: "K",
      help: "Runs of each conformance suite (default: 3, --quick 1; 0 skips).",
    },
    transports: { type: "string", value: "LIST", help: "plain, tls.", default: "plain,tls" },
    pairs: {
      type: "string",
      value: "LIST",
      help: "SRC:DST pairs (default: qemu-10.0:qemu-10.0, qemu-10.0:ts, ts:qemu-10.0, ts:ts, " +
        "qemu-7.2:ts); qemu-10.0:qemu-10.0 is always run as the reference.",
    },
    skip: { type: "string", value: "LIST", help: `Sections to leave out: ${SECTIONS.join(", ")}.` },
    profile: {
      type: "boolean",
      help: "Also CPU-profile the TypeScript destination and source (4 channels, each transport).",
    },
    out: { type: "string", value: "DIR", help: "Output directory.", default: DEFAULT_OUT },
    compare: {
      type: "string",
      value: "BASELINE",
      help: "bench.json to compare with; exit 1 when a figure is more than 10% worse.",
    },
  },
  async run(values): Promise<number> {
    let options;
    try {
      options = benchOptions(values);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    options = { ...options, out: resolve(options.out) };
    // Read the baseline first: a typo should not cost a whole run.
    const baseline = options.compare === undefined
      ? undefined
      : await readBaseline(options.compare);
    const log = (line: string) => console.error(line);
    const report = await runBench(options, log);
    await Deno.mkdir(options.out, { recursive: true });
    let markdown = renderReport(report);
    let code = EXIT_OK;
    if (baseline && options.compare) {
      const result = compareReports(baseline, report);
      markdown += "\n" + renderComparison(result, options.compare);
      for (const c of result.flagged) {
        log(
          `bench: WORSE ${c.key}: ${c.value.toFixed(3)} vs baseline ${c.baseline.toFixed(3)} ` +
            `(${(c.worse * 100).toFixed(1)}% worse)`,
        );
      }
      log(`bench: ${result.compared.length} figures compared, ${result.flagged.length} worse`);
      if (result.flagged.length > 0) code = EXIT_FAILED;
    }
    await Deno.writeTextFile(`${options.out}/bench.json`, JSON.stringify(report, null, 2) + "\n");
    await Deno.writeTextFile(`${options.out}/bench.md`, markdown);
    console.log(markdown);
    log(`bench: wrote ${options.out}/bench.json and ${options.out}/bench.md`);
    return code;
  },
};

async function readBaseline(path: string): Promise<BenchReport> {
  let doc: BenchReport;
  try {
    doc = JSON.parse(await Deno.readTextFile(path));
  } catch (error) {
    throw new UsageError(`--compare: cannot read ${path}: ${(error as Error).message}`);
  }
  if (doc?.format !== REPORT_FORMAT) {
    throw new UsageError(`--compare: ${path} is not a ${REPORT_FORMAT} report`);
  }
  return doc;
}
