/**
 * The conformance cases under `deno test`: the representative subset (every family, every
 * implementation found here), one test per implementation (or interop pair) and one step per case,
 * so `--filter` and `--reporter=junit` work. A step fails only when its result is unexpected. The
 * full matrix runs with `deno task conformance`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { liveQemuProcesses } from "../harness/qemu/process.ts";
import { allCases } from "./cases/mod.ts";
import { type ExpectationFile, loadExpectations } from "./expectations.ts";
import { availableImplementations } from "./implementations.ts";
import { findUnusedExpectations, type Job, planJobs, runJobs } from "./runner.ts";
import { tsHarness } from "./ts_harness.ts";

const implementations = await availableImplementations();
const expectations = new Map<string, ExpectationFile>();
for (const impl of implementations) expectations.set(impl.name, await loadExpectations(impl.name));

Deno.test("conformance expectations: every entry matches a case", () => {
  const unused = findUnusedExpectations(planJobs(allCases, implementations), expectations);
  assert.deepEqual(unused, [], "expectation entries that match no case");
});

const jobs = planJobs(allCases.filter((c) => c.representative), implementations);
const groups = new Map<string, Job[]>();
for (const job of jobs) {
  const group = job.peer ? `interop ${job.subject.name}->${job.peer.name}` : job.subject.name;
  groups.set(group, [...(groups.get(group) ?? []), job]);
}

for (const [group, members] of groups) {
  Deno.test({
    name: `conformance ${group}`,
    // Timers of aborted waits and child-process handles are released by the cases' own disposers;
    // the check at the end asserts that no QEMU outlives its case.
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      const rows = await runJobs(members, {
        harness: tsHarness,
        expectations,
        concurrency: 2,
        caseTimeoutMs: 90_000,
      });
      for (const row of rows) {
        const who = row.role === "pair" ? `${row.implementation}->${row.peer}` : row.implementation;
        await t.step(`${row.case} [${who}]`, () => {
          assert.ok(
            !row.unexpected,
            `${row.case} on ${who}: ${row.status}, expected ${row.expected}: ${row.detail}` +
              whereItWaited(row.evidence),
          );
        });
      }
      assert.deepEqual(
        liveQemuProcesses().map((q) => q.binary.name),
        [],
        "QEMU processes still running after the cases",
      );
    },
  });
}

/**
 * The threads and stacks of an implementation that stopped answering (in the evidence itself or
 * in one side's), for the failure message.
 */
function whereItWaited(evidence: Readonly<Record<string, unknown>>): string {
  const sides = [["", evidence], ...Object.entries(evidence)] as [string, unknown][];
  return sides.flatMap(([side, value]) => {
    if (typeof value !== "object" || value === null) return [];
    const record = value as Record<string, unknown>;
    return ["threads", "stacks"]
      .filter((key) => typeof record[key] === "string")
      .map((key) => `\n${side ? `${side} ` : ""}${key}:\n${record[key]}`);
  }).join("");
}
