import assert from "node:assert/strict";
import {
  type ExpectationFile,
  expectationFileName,
  formatExpectations,
  globMatches,
  isExpectedStatus,
  matchPattern,
  parseExpectations,
  resolveExpectation,
  unusedPatterns,
  updateExpectations,
} from "./expectations.ts";

const file: ExpectationFile = {
  implementation: "qemu-7.2",
  expectations: {
    "multifd.order.*": { status: "fail", reason: "arrival order", ref: "6720c2b327, 8.0" },
    "multifd.order.main-first*": { status: "pass", reason: "main first works" },
    "multifd.reject.id-n": { status: "crash", reason: "off by one" },
  },
};

Deno.test("expectations: globs match whole keys, * spans dots", () => {
  assert.ok(globMatches("multifd.order.*", "multifd.order.main-last.tls.ch3"));
  assert.ok(!globMatches("multifd.order.*", "multifd.orderx"));
  assert.ok(globMatches("a.?", "a.b"));
  assert.ok(!globMatches("a.b", "aXb"), "a dot is literal");
  assert.ok(globMatches("x@ts->qemu-7.2", "x@ts->qemu-7.2"));
});

Deno.test("expectations: the most specific pattern wins, an exact id beats any glob", () => {
  assert.equal(
    matchPattern(file, "multifd.order.main-first.plain.ch2"),
    "multifd.order.main-first*",
  );
  assert.equal(matchPattern(file, "multifd.order.main-last.plain.ch2"), "multifd.order.*");
  assert.equal(matchPattern(file, "multifd.reject.id-n"), "multifd.reject.id-n");
  assert.equal(matchPattern(file, "multifd.init.magic"), undefined);
});

Deno.test("expectations: resolve defaults to pass and searches files in order", () => {
  assert.deepEqual(resolveExpectation([file], "multifd.init.magic"), { status: "pass" });
  const other: ExpectationFile = {
    implementation: "qemu-10.0",
    expectations: { "multifd.init.*": { status: "fail", reason: "r" } },
  };
  const r = resolveExpectation([file, other], "multifd.init.magic");
  assert.equal(r.status, "fail");
  assert.equal(r.file, "qemu-10.0");
  assert.equal(resolveExpectation([file, other], "multifd.order.x").file, "qemu-7.2");
});

Deno.test("expectations: an entry that resolves no key is unused", () => {
  const keys = ["multifd.order.main-last", "multifd.reject.id-n"];
  assert.deepEqual(unusedPatterns(file, keys.map(() => [file]), keys), [
    "multifd.order.main-first*",
  ]);
});

Deno.test("expectations: parse names the entry and field at fault", () => {
  assert.throws(
    () =>
      parseExpectations(
        '{"implementation":"x","expectations":{"a":{"status":"odd","reason":"r"}}}',
        "x.json",
      ),
    /x\.json: entry a: status "odd"/,
  );
  assert.throws(
    () =>
      parseExpectations('{"implementation":"x","expectations":{"a":{"status":"fail"}}}', "x.json"),
    /entry a: "reason"/,
  );
  assert.throws(() => parseExpectations("[]", "x.json"), /implementation/);
  const round = parseExpectations(formatExpectations(file), "f");
  assert.deepEqual(round, { ...file, expectations: { ...file.expectations } });
});

Deno.test("expectations: update keeps confirmed patterns and reasons, adds observed entries", () => {
  const next = updateExpectations(file, [
    { key: "multifd.order.a", status: "fail", detail: "d", pattern: "multifd.order.*" },
    { key: "multifd.order.b", status: "pass", detail: "d", pattern: "multifd.order.*" },
    { key: "multifd.order.c", status: "timeout", detail: "d", pattern: "multifd.order.*" },
    { key: "multifd.reject.id-n", status: "crash", detail: "d", pattern: "multifd.reject.id-n" },
    { key: "multifd.init.magic", status: "fail", detail: "magic 0", pattern: undefined },
    { key: "multifd.init.ok", status: "pass", detail: "ok", pattern: undefined },
  ]);
  assert.deepEqual(next.expectations, {
    "multifd.order.a": { status: "fail", reason: "arrival order", ref: "6720c2b327, 8.0" },
    "multifd.order.c": { status: "timeout", reason: "arrival order", ref: "6720c2b327, 8.0" },
    // Not touched by this run: kept.
    "multifd.order.main-first*": { status: "pass", reason: "main first works" },
    "multifd.reject.id-n": { status: "crash", reason: "off by one" },
    "multifd.init.magic": { status: "fail", reason: "observed: magic 0" },
  });
});

Deno.test("expectations: file names are safe for qemu:PATH", () => {
  assert.equal(expectationFileName("qemu-10.0"), "qemu-10.0.json");
  assert.equal(
    expectationFileName("qemu:/usr/bin/qemu-system-x86_64"),
    "qemu_usr_bin_qemu-system-x86_64.json",
  );
});

Deno.test("expectations: `also` admits the other outcomes of undefined behaviour, nothing more", () => {
  const ub = parseExpectations(
    '{"implementation":"x","expectations":{"a":{"status":"crash","also":["fail"],"reason":"OOB"}}}',
    "x.json",
  );
  const entry = resolveExpectation([ub], "a");
  assert.equal(isExpectedStatus(entry, "crash"), true);
  assert.equal(isExpectedStatus(entry, "fail"), true);
  assert.equal(isExpectedStatus(entry, "pass"), false);
  assert.equal(isExpectedStatus(entry, "timeout"), false);
  const next = updateExpectations(ub, [
    { key: "a", status: "fail", detail: "duplicate id", pattern: "a" },
  ]);
  assert.deepEqual(next.expectations, ub.expectations);
  assert.throws(
    () =>
      parseExpectations(
        '{"implementation":"x","expectations":{"a":{"status":"crash","also":["crash"],"reason":"r"}}}',
        "x.json",
      ),
    /entry a: "also"/,
  );
});
