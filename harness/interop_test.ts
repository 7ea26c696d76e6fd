import assert from "node:assert/strict";
import { resolveImplementation, runInterop } from "./interop.ts";
import { main } from "../cli/main.ts";

const pairs: [string, string, boolean][] = [
  ["qemu-7.2", "qemu-10.0", false],
  ["qemu-10.0", "qemu-7.2", true],
  ["qemu-10.0", "qemu-10.0", true],
  ["ts", "qemu-10.0", false],
  ["qemu-7.2", "ts", false],
  // The ts destination turns relaxed for a source that predates clean TLS termination.
  ["qemu-7.2", "ts", true],
  ["ts", "ts", false],
];

for (const [srcName, dstName, tls] of pairs) {
  Deno.test(`interop ${srcName.startsWith("qemu") || dstName.startsWith("qemu") ? "qemu " : ""}${srcName} → ${dstName} ${tls ? "TLS" : "plain"}: digests match`, async () => {
    const [src, dst] = await Promise.all([
      resolveImplementation(srcName),
      resolveImplementation(dstName),
    ]);
    const events: string[] = [];
    const result = await runInterop({
      src,
      dst,
      channels: 2,
      tls,
      ram: { mib: 16, seed: 7 },
      uuid: "12345678-9abc-def0-1122-334455667788",
      onEvent: (e) => events.push(e.event),
    });
    assert.equal(result.status, "completed", result.reason);
    assert.equal(result.ramSha256, result.expectedSha256);
    assert.deepEqual(events.at(-1), "result");
    assert.deepEqual(events.slice(0, 2), ["destination", "source"]);
  });
}

Deno.test("interop qemu: a destination with another UUID fails the run", async () => {
  const [src, dst] = await Promise.all([
    resolveImplementation("qemu-10.0"),
    resolveImplementation("qemu-10.0"),
  ]);
  // The destination gets the nil UUID, the source its own: the init packets are rejected.
  const result = await runInterop({
    src: {
      ...src,
      source: (o) => src.source({ ...o, uuid: "12345678-9abc-def0-1122-334455667788" }),
    },
    dst,
    channels: 2,
    ram: { mib: 16, seed: 7 },
    timeoutMs: 15_000,
  });
  assert.equal(result.status, "failed");
  assert.notEqual(result.reason, undefined);
});

Deno.test("interop command: unknown implementation is a usage error (exit 2)", async () => {
  const code = await main(["interop", "--src", "nope", "--dst", "qemu-10.0"]);
  assert.equal(code, 2);
});
