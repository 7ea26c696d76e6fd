import assert from "node:assert/strict";
import {
  destinationArgs,
  PEER_DENO_FLAGS,
  sourceArgs,
  tsProcessImplementation,
} from "./ts_process.ts";

const SELF = { name: "ts", version: "0.1.0" };
const PEER = { name: "qemu-10.0", version: "10.0.2" };

Deno.test("ts process arguments: ram.prealloc becomes --prealloc on both sides, and only then", () => {
  for (const prealloc of [true, false, undefined]) {
    const ram = { mib: 16, seed: 1, ...(prealloc === undefined ? {} : { prealloc }) };
    const dst = destinationArgs({ channels: 2, ram, peer: PEER }, SELF, 60_000);
    const src = sourceArgs(
      { channels: 2, ram, peer: PEER, connect: { hostname: "127.0.0.1", port: 4444 } },
      SELF,
      60_000,
    );
    assert.equal(dst.includes("--prealloc"), prealloc === true, dst.join(" "));
    assert.equal(src.includes("--prealloc"), prealloc === true, src.join(" "));
  }
});

Deno.test("ts processes run with the peers' deno flags, extra flags after them", async () => {
  const ts = tsProcessImplementation({
    denoFlags: ["--v8-flags=--stack-size=2000"],
    timeoutMs: 60_000,
  });
  const ram = { mib: 16, seed: 3 };
  const signal = AbortSignal.timeout(60_000);
  await using dst = await ts.destination({ channels: 2, ram, peer: ts, signal });
  await using src = await ts.source({ channels: 2, ram, connect: dst.endpoint, peer: ts, signal });
  const [sent, received] = await Promise.all([src.outcome(signal), dst.outcome(signal)]);
  assert.equal(sent.status, "completed", sent.message);
  assert.equal(received.status, "completed", received.message);
  assert.equal(received.ramSha256, sent.ramSha256);
  for (const outcome of [sent, received]) {
    const line = outcome.evidence?.commandLine as string[];
    const cli = line.findIndex((arg) => arg.endsWith("cli/main.ts"));
    assert.deepEqual(
      line.slice(cli - PEER_DENO_FLAGS.length - 1, cli),
      [...PEER_DENO_FLAGS, "--v8-flags=--stack-size=2000"],
      line.join(" "),
    );
  }
});

Deno.test("the migwire task runs the command line with the peers' deno flags", async () => {
  // deno.json cannot import PEER_DENO_FLAGS: this keeps the task and the bench's processes alike.
  const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
  const words = String(config.tasks.migwire.command).split(/\s+/);
  const cli = words.indexOf("cli/main.ts");
  assert.ok(cli > 0, words.join(" "));
  for (const flag of PEER_DENO_FLAGS) {
    const at = words.indexOf(flag);
    assert.ok(at > 0 && at < cli, `${flag} missing before cli/main.ts in: ${words.join(" ")}`);
  }
});
