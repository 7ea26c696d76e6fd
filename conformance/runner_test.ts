import assert from "node:assert/strict";
import type { Implementation } from "../harness/implementation.ts";
import { type Case, defineCase, permutations, product } from "./case.ts";
import type { ExpectationFile } from "./expectations.ts";
import type { Harness } from "./harness.ts";
import { findUnusedExpectations, planJobs, progressLine, runJobs } from "./runner.ts";

// Runner logic only: implementations here are inert names; the cases decide what they observe.
function named(name: string): Implementation {
  const refuse = () => Promise.reject(new Error("not started in runner tests"));
  return { name, version: "0", destination: refuse, source: refuse };
}
const harness: Harness = {
  info: { name: "ts", version: "0" },
  observer: () => Promise.reject(new Error("unused")),
  scriptedSource: () => Promise.reject(new Error("unused")),
};

function caseOf(id: string, role: Case["role"], run: Case["run"], extra: Partial<Case> = {}): Case {
  return defineCase({
    id,
    family: "t",
    requirement: "r",
    level: "MUST",
    refs: [],
    role,
    transport: "plain",
    channels: 2,
    expected: { kind: "reject", errorClass: "E_UUID" },
    run,
    ...extra,
  });
}

const impls = ["ts", "ts-arrival-order", "qemu-7.2"].map(named);

Deno.test("runner: plans roles, pairs and applicability", () => {
  const cases = [
    caseOf("t.dst", "destination", () => Promise.resolve({ outcome: "accepted" })),
    caseOf("t.src", "source", () => Promise.resolve({ outcome: "accepted" })),
    caseOf("t.pair", "pair", () => Promise.resolve({ outcome: "accepted" })),
    caseOf("t.only", "destination", () => Promise.resolve({ outcome: "accepted" }), {
      appliesTo: (s) => s.name === "qemu-7.2",
    }),
  ];
  const keys = planJobs(cases, impls).map((j) => j.key);
  assert.deepEqual(keys, [
    "t.dst",
    "t.dst",
    "t.dst",
    "t.src",
    "t.src",
    "t.pair@ts->ts",
    "t.pair@ts->ts-arrival-order",
    "t.pair@ts->qemu-7.2",
    "t.pair@qemu-7.2->ts",
    "t.pair@qemu-7.2->ts-arrival-order",
    "t.pair@qemu-7.2->qemu-7.2",
    "t.only",
  ]);
});

Deno.test("runner: judges rows, flags unexpected results including unexpected passes", async () => {
  const cases = [
    caseOf("t.uuid", "destination", ({ subject }) =>
      Promise.resolve(
        subject.name === "qemu-7.2"
          ? { outcome: "timeout" }
          : { outcome: "rejected", errorClass: "E_UUID" },
      )),
  ];
  const expectations = new Map<string, ExpectationFile>([
    ["qemu-7.2", {
      implementation: "qemu-7.2",
      expectations: { "t.uuid": { status: "timeout", reason: "hangs in setup", ref: "x" } },
    }],
    ["ts", {
      implementation: "ts",
      expectations: { "t.*": { status: "fail", reason: "wrongly expected" } },
    }],
  ]);
  const rows = await runJobs(planJobs(cases, impls), { harness, expectations });
  assert.deepEqual(
    rows.map((r) => [r.implementation, r.status, r.expected, r.unexpected]),
    [
      ["ts", "pass", "fail", true],
      ["ts-arrival-order", "pass", "pass", false],
      ["qemu-7.2", "timeout", "timeout", false],
    ],
  );
  assert.equal(rows[2].reason, "hangs in setup");
  assert.equal(rows[0].peer, "ts");
  assert.match(progressLine(rows[0], 1, 3), /UNEXPECTED \(expected fail\)/);
});

Deno.test("runner: a case past its timeout is aborted, a throwing case fails", async () => {
  let cleaned = false;
  const cases = [
    caseOf("t.slow", "destination", ({ signal }) =>
      new Promise((_, reject) => {
        signal.addEventListener("abort", () => {
          cleaned = true;
          reject(signal.reason);
        });
      }), { timeoutMs: 50 }),
    caseOf("t.throw", "destination", () => Promise.reject(new Error("qemu not found"))),
  ];
  const rows = await runJobs(planJobs(cases, [named("ts")]), {
    harness,
    expectations: new Map(),
    concurrency: 2,
  });
  assert.equal(rows[0].status, "timeout");
  assert.ok(cleaned, "the case saw the abort");
  assert.equal(rows[1].status, "fail");
  assert.match(rows[1].detail, /could not run: Error: qemu not found/);
});

Deno.test("runner: --repeat runs every job N times with an index", async () => {
  let runs = 0;
  const cases = [caseOf("t.r", "destination", () => {
    runs++;
    return Promise.resolve({ outcome: "rejected", errorClass: "E_UUID" });
  })];
  const rows = await runJobs(planJobs(cases, [named("ts")]), {
    harness,
    expectations: new Map(),
    repeat: 3,
  });
  assert.equal(runs, 3);
  assert.deepEqual(rows.map((r) => r.repeat), [0, 1, 2]);
});

Deno.test("runner: unused expectations are found per implementation", () => {
  const cases = [caseOf("t.a", "destination", () => Promise.resolve({ outcome: "accepted" }))];
  const expectations = new Map<string, ExpectationFile>([["qemu-7.2", {
    implementation: "qemu-7.2",
    expectations: {
      "t.a": { status: "fail", reason: "r" },
      "t.gone": { status: "fail", reason: "r" },
    },
  }]]);
  assert.deepEqual(findUnusedExpectations(planJobs(cases, impls), expectations), [
    { implementation: "qemu-7.2", pattern: "t.gone" },
  ]);
});

Deno.test("case: variants are generated", () => {
  assert.equal(permutations(["main", 0, 1, 2]).length, 24);
  assert.deepEqual(product({ t: ["plain", "tls"], ch: [1, 2] }), [
    { t: "plain", ch: 1 },
    { t: "plain", ch: 2 },
    { t: "tls", ch: 1 },
    { t: "tls", ch: 2 },
  ]);
  assert.throws(() =>
    caseOf("Bad Id", "destination", () => Promise.resolve({ outcome: "accepted" }))
  );
});
