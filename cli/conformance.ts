/**
 * `migwire conformance`: every conformance case against every implementation, compared with the
 * committed expectations; writes `results.json`, `report.md`, `report.html` and the transcripts of
 * failures. Exit 0 only when nothing is unexpected.
 *
 * @module
 */

import { type Command, EXIT_FAILED, EXIT_OK, intOption, UsageError } from "./command.ts";
import { allCases, selectCases } from "../conformance/cases/mod.ts";
import { type ExpectationFile, loadExpectations } from "../conformance/expectations.ts";
import { availableImplementations, selectImplementations } from "../conformance/implementations.ts";
import { writeReports } from "../conformance/report/write.ts";
import { findUnusedExpectations, planJobs, progressLine, runJobs } from "../conformance/runner.ts";
import { tsHarness } from "../conformance/ts_harness.ts";
import { updatedFiles, writeExpectationFiles } from "../conformance/update.ts";

/** Default output directory (git-ignored). */
export const DEFAULT_OUT = "out/conformance";

function stringList(value: unknown): string[] {
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.flatMap((v) => String(v).split(",")).map((v) => v.trim()).filter((v) => v);
}

/** The `conformance` command. */
export const conformanceCommand: Command = {
  name: "conformance",
  summary: "Run the conformance cases against every implementation and report, case by case",
  options: {
    impl: {
      type: "string",
      multiple: true,
      value: "NAME",
      help:
        "Implementation to test (repeatable): ts, ts-arrival-order, qemu-7.2, qemu-10.0, qemu:PATH. Default: all found.",
    },
    filter: {
      type: "string",
      value: "RE",
      help:
        "Run only cases whose id (or interop key case@src->dst) matches this regular expression.",
    },
    repeat: { type: "string", value: "N", help: "Run every case N times.", default: "1" },
    out: { type: "string", value: "DIR", help: "Report directory.", default: DEFAULT_OUT },
    "update-expectations": {
      type: "boolean",
      help: "Rewrite conformance/expectations/*.json from this run, keeping existing reasons.",
    },
    concurrency: {
      type: "string",
      value: "N",
      help: "Cases run at once.",
      default: "2",
    },
    "case-timeout": {
      type: "string",
      value: "MS",
      help: "Default bound of one case, in milliseconds.",
      default: "90000",
    },
    list: { type: "boolean", help: "List the cases (id, role, transport, verdict) and exit." },
  },
  async run(values): Promise<number> {
    const repeat = intOption(values, "repeat", 1, 1000);
    const concurrency = intOption(values, "concurrency", 1, 64);
    const caseTimeoutMs = intOption(values, "case-timeout", 1000, 3_600_000);
    const out = String(values.out ?? DEFAULT_OUT);
    let filter: RegExp | undefined;
    if (typeof values.filter === "string") {
      try {
        filter = new RegExp(values.filter);
      } catch (error) {
        throw new UsageError(`--filter is not a regular expression: ${(error as Error).message}`);
      }
    }
    if (values.list === true) {
      for (const c of selectCases(filter)) {
        const verdict = c.expected.kind === "accept" ? "accept" : `reject ${c.expected.errorClass}`;
        console.log(`${c.id}\t${c.role}\t${c.transport}\tch${c.channels}\t${c.level}\t${verdict}`);
      }
      return EXIT_OK;
    }
    const names = stringList(values.impl);
    const available = await availableImplementations(names.filter((n) => n.startsWith("qemu:")));
    let selected;
    try {
      selected = selectImplementations(available, names);
    } catch (error) {
      throw new UsageError(`--impl: ${(error as Error).message}`);
    }
    const expectations = new Map<string, ExpectationFile>();
    for (const impl of available) expectations.set(impl.name, await loadExpectations(impl.name));
    const unused = findUnusedExpectations(planJobs(allCases, available), expectations).filter((u) =>
      selected.some((s) => s.name === u.implementation)
    );
    const jobs = planJobs(allCases, selected).filter((job) =>
      !filter || filter.test(job.case.id) || filter.test(job.key)
    );
    const cases = allCases.filter((c) => jobs.some((j) => j.case === c));
    console.error(
      `conformance: ${cases.length} cases, ${jobs.length * repeat} runs on ${
        selected.map((s) => `${s.name} (${s.version})`).join(", ")
      }; concurrency ${concurrency}`,
    );
    const controller = new AbortController();
    const onSignal = () => controller.abort(new Error("interrupted"));
    Deno.addSignalListener("SIGINT", onSignal);
    // A stray rejection inside an implementation must cost one case, not the whole run.
    const onRejection = (event: PromiseRejectionEvent) => {
      event.preventDefault();
      console.error(`conformance: unhandled rejection: ${event.reason}`);
    };
    globalThis.addEventListener("unhandledrejection", onRejection);
    const started = performance.now();
    let results;
    try {
      results = await runJobs(jobs, {
        harness: tsHarness,
        expectations,
        concurrency,
        caseTimeoutMs,
        repeat,
        signal: controller.signal,
        onResult: (row, done, total) => console.error(progressLine(row, done, total)),
      });
    } finally {
      Deno.removeSignalListener("SIGINT", onSignal);
      globalThis.removeEventListener("unhandledrejection", onRejection);
    }
    const model = await writeReports(out, {
      implementations: selected.map(({ name, version }) => ({ name, version })),
      cases,
      results,
      unusedExpectations: unused,
      seconds: (performance.now() - started) / 1000,
    });
    console.error(
      `conformance: ${model.total} results: ${
        Object.entries(model.counts).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s}`).join(
          ", ",
        )
      }; ${model.unexpected.length} unexpected, ${unused.length} unused expectation(s). Report: ${out}/report.html`,
    );
    for (const u of unused) {
      console.error(`conformance: unused expectation ${u.implementation}: ${u.pattern}`);
    }
    for (const r of model.unexpected) {
      const who = r.role === "pair" ? `${r.implementation}->${r.peer}` : r.implementation;
      console.error(
        `conformance: UNEXPECTED ${r.status} (expected ${r.expected}) ${who} ${r.case}: ${r.detail}`,
      );
    }
    if (values["update-expectations"] === true) {
      const files = updatedFiles(expectations, results, selected.map((s) => s.name));
      for (const path of await writeExpectationFiles(files)) {
        console.error(`conformance: updated ${path}`);
      }
      return EXIT_OK;
    }
    return model.ok ? EXIT_OK : EXIT_FAILED;
  },
};
