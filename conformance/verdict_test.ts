import assert from "node:assert/strict";
import { judge } from "./verdict.ts";

Deno.test("verdict: accept expected", () => {
  assert.equal(judge({ kind: "accept" }, { outcome: "accepted" }).status, "pass");
  const v = judge({ kind: "accept" }, {
    outcome: "rejected",
    errorClass: "E_UUID",
    message: "bad",
  });
  assert.equal(v.status, "fail");
  assert.match(v.detail, /rejected with E_UUID: bad; expected acceptance/);
  assert.equal(
    judge({ kind: "accept" }, { outcome: "accepted", violations: ["RAM differs"] }).detail,
    "RAM differs",
  );
});

Deno.test("verdict: reject expected, class compared", () => {
  const expected = { kind: "reject", errorClass: "E_MAGIC" } as const;
  assert.equal(judge(expected, { outcome: "rejected", errorClass: "E_MAGIC" }).status, "pass");
  const other = judge(expected, { outcome: "rejected", errorClass: "E_IO" });
  assert.equal(other.status, "fail");
  assert.match(other.detail, /E_IO.*expected E_MAGIC/);
  assert.equal(judge(expected, { outcome: "accepted" }).status, "fail");
});

Deno.test("verdict: crash, frozen, timeout and skip are their own statuses", () => {
  const expected = { kind: "reject", errorClass: "E_CHANNEL_ID" } as const;
  assert.equal(judge(expected, { outcome: "crashed", message: "SIGSEGV" }).status, "crash");
  assert.equal(judge(expected, { outcome: "frozen" }).status, "frozen");
  assert.equal(judge(expected, { outcome: "timeout" }).status, "timeout");
  assert.equal(judge(expected, { outcome: "skipped", note: "no TLS" }).detail, "no TLS");
});
