import assert from "node:assert/strict";
import { EXIT_FAILED, EXIT_OK, UsageError } from "./command.ts";
import { printResult, tlsDirOption, untilInterrupted, wireVersionOption } from "./peer.ts";

Deno.test("peer options: the TLS directory and the wire version name what is wrong", () => {
  assert.match(tlsDirOption("ca-cert.pem").help, /x509 PKI in D \(ca-cert\.pem\)/);
  assert.equal(wireVersionOption("source-version", "7.2"), "7.2");
  assert.throws(() => wireVersionOption("target", "nope"), (error: unknown) => {
    assert.ok(error instanceof UsageError);
    assert.match(error.message, /^--target: /);
    return true;
  });
});

Deno.test("printResult prints one result line and returns the exit code", () => {
  const lines: string[] = [];
  const log = console.log;
  console.log = (line: string) => lines.push(line);
  try {
    const ok = printResult({ status: "completed", ramSha256: "ab", bytes: 10, seconds: 1 }, {
      patternMatches: true,
    });
    const failed = printResult({ status: "failed", errorClass: "E_UUID", message: "uuid" });
    assert.deepEqual([ok, failed], [EXIT_OK, EXIT_FAILED]);
  } finally {
    console.log = log;
  }
  assert.deepEqual(lines.map((line) => JSON.parse(line)), [
    {
      event: "result",
      status: "completed",
      ramSha256: "ab",
      patternMatches: true,
      bytes: 10,
      seconds: 1,
    },
    {
      event: "result",
      status: "failed",
      class: "E_UUID",
      message: "uuid",
      ramSha256: null,
      bytes: 0,
      seconds: 0,
    },
  ]);
});

Deno.test("untilInterrupted aborts the run after its bound, and without one leaves it running", async () => {
  const reason = await untilInterrupted(
    20,
    (signal) =>
      new Promise<unknown>((resolve) =>
        signal.addEventListener("abort", () => resolve(signal.reason))
      ),
  );
  assert.ok(reason instanceof DOMException && reason.name === "TimeoutError", String(reason));
  assert.equal(
    await untilInterrupted(undefined, (signal) => Promise.resolve(signal.aborted)),
    false,
  );
});
