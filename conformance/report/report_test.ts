import assert from "node:assert/strict";
import type { CaseSpec } from "../case.ts";
import type { RunResult } from "../runner.ts";
import { escapeHtml, renderHtml } from "./html.ts";
import { renderMarkdown } from "./markdown.ts";
import { buildReport, type ReportInput } from "./model.ts";
import { writeReports } from "./write.ts";

const spec = (id: string, role: CaseSpec["role"]): CaseSpec => ({
  id,
  family: id.split(".")[1],
  requirement: `Requirement of ${id} <b>`,
  level: "MUST",
  refs: [{ fn: "multifd_recv_initial_packet", file: "migration/multifd.c", since: "7.2" }],
  role,
  transport: "plain",
  channels: 2,
  expected: { kind: "reject", errorClass: "E_UUID" },
});

function row(
  c: string,
  implementation: string,
  status: RunResult["status"],
  expected: RunResult["status"],
  extra: Partial<RunResult> = {},
): RunResult {
  return {
    case: c,
    implementation,
    role: "destination",
    peer: "ts",
    transport: "plain",
    status,
    expected,
    unexpected: status !== expected,
    detail: `detail ${status}`,
    evidence: {},
    verdict: "reject E_UUID",
    seconds: 0.1,
    ...extra,
  };
}

const input: ReportInput & { results: RunResult[] } = {
  implementations: [{ name: "ts", version: "0.1.0" }, { name: "qemu-7.2", version: "7.2.22" }],
  cases: [spec("multifd.reject.uuid", "destination"), spec("multifd.interop.plain", "pair")],
  results: [
    row("multifd.reject.uuid", "ts", "pass", "pass"),
    row("multifd.reject.uuid", "qemu-7.2", "timeout", "timeout", {
      reason: "7.2 hangs in setup",
      ref: "multifd_recv_new_channel, 7.2",
      transcript: { connections: [1n] },
    }),
    row("multifd.interop.plain", "ts", "pass", "pass", { role: "pair", peer: "qemu-7.2" }),
    row("multifd.interop.plain", "qemu-7.2", "fail", "pass", { role: "pair", peer: "ts" }),
  ],
};

Deno.test("report: model has the matrix, the grid, divergences and strictness", () => {
  const model = buildReport(input);
  assert.equal(model.ok, false);
  assert.equal(model.unexpected.length, 1);
  assert.equal(model.families[0].rows[0].cells["qemu-7.2"].status, "timeout");
  assert.deepEqual(model.grids[0].sources, ["ts", "qemu-7.2"]);
  assert.equal(model.grids[0].cells["qemu-7.2"]["ts"].unexpected, true);
  assert.equal(model.divergences.length, 2);
  assert.equal(model.total, 4);
  assert.ok(buildReport({ ...input, results: input.results.slice(0, 3) }).ok);
  assert.ok(
    !buildReport({
      ...input,
      results: [],
      unusedExpectations: [{ implementation: "x", pattern: "y" }],
    }).ok,
  );
});

Deno.test("report: markdown and html show requirements, reasons and unexpected rows", () => {
  const model = buildReport(input);
  const md = renderMarkdown(model);
  assert.match(md, /## Unexpected results/);
  assert.match(md, /7\.2 hangs in setup/);
  assert.match(md, /multifd_recv_initial_packet \(migration\/multifd\.c\), since 7\.2/);
  assert.match(md, /\| qemu-7\.2 \| \*\*FAIL! \(expected pass\)\*\* \|/);
  const html = renderHtml(model);
  assert.ok(html.startsWith("<!doctype html>"));
  assert.ok(!/<link|<script|src=/.test(html), "self-contained");
  assert.match(html, /Requirement of multifd\.reject\.uuid &lt;b&gt;/);
  assert.match(html, /class="fail unexpected"/);
  assert.equal(escapeHtml(`<"&>`), "&lt;&quot;&amp;&gt;");
});

Deno.test("report: writes results.json, reports and transcripts of non-passing rows", async () => {
  const dir = await Deno.makeTempDir({ prefix: "migwire-report-" });
  try {
    const model = await writeReports(dir, input);
    assert.equal(model.ok, false);
    const doc = JSON.parse(await Deno.readTextFile(`${dir}/results.json`));
    assert.deepEqual(doc.implementations[1], { name: "qemu-7.2", version: "7.2.22" });
    assert.equal(doc.results.length, 4);
    assert.equal(doc.results[1].transcript, undefined);
    for (
      const key of [
        "case",
        "implementation",
        "role",
        "peer",
        "transport",
        "status",
        "expected",
        "unexpected",
        "detail",
        "evidence",
      ]
    ) {
      assert.ok(key in doc.results[0], key);
    }
    const names = [];
    for await (const e of Deno.readDir(`${dir}/transcripts`)) names.push(e.name);
    assert.deepEqual(names.sort(), [
      "multifd.interop.plain.qemu-7.2-_ts.json",
      "multifd.reject.uuid.qemu-7.2.json",
    ]);
    const t = JSON.parse(
      await Deno.readTextFile(`${dir}/transcripts/multifd.reject.uuid.qemu-7.2.json`),
    );
    assert.deepEqual(t.transcript, { connections: ["1"] });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
