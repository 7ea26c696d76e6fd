import assert from "node:assert/strict";
import { qemuImplementations } from "../qemu/implementation.ts";

// Where native TCP is available every plain channel runs on a Worker; the path on Deno's own
// sockets (other systems, `MIGWIRE_NATIVE_TCP=0`) is tested here, in processes of its own so the
// setting cannot reach tests running beside these.
const qemu = (await qemuImplementations()).find((q) => q.name === "qemu-10.0");
const CLI = new URL("../../cli/main.ts", import.meta.url).pathname;

async function interopOnDenoSockets(src: string, dst: string): Promise<Record<string, unknown>> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CLI, "interop", "--src", src, "--dst", dst, "--channels", "2"],
    env: { MIGWIRE_NATIVE_TCP: "0" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(90_000),
  }).output();
  const lines = new TextDecoder().decode(stdout).trim().split("\n").map((l) => JSON.parse(l));
  const result = lines.find((l) => l.event === "result");
  assert.ok(result, `no result line (exit ${code}): ${new TextDecoder().decode(stderr)}`);
  return { ...result, evidence: lines.filter((l) => l.event === "outcome") };
}

for (const [src, dst] of [["qemu-10.0", "ts"], ["ts", "qemu-10.0"], ["ts", "ts"]]) {
  Deno.test({
    name:
      `on Deno's sockets (MIGWIRE_NATIVE_TCP=0), ${src} → ${dst} completes with the source's RAM`,
    ignore: !qemu && (src !== "ts" || dst !== "ts"),
  }, async () => {
    const result = await interopOnDenoSockets(src, dst);
    assert.equal(result.status, "completed", JSON.stringify(result));
    assert.equal(result.ramSha256, result.expectedSha256);
    // The TypeScript sides really ran on Deno's sockets, on the main thread.
    const outcomes = result.evidence as { role: string; channelThreads?: boolean }[];
    const tsRoles = [src === "ts" ? "source" : "", dst === "ts" ? "destination" : ""];
    for (const outcome of outcomes.filter((o) => tsRoles.includes(o.role))) {
      assert.equal(outcome.channelThreads, false, JSON.stringify(outcome));
    }
    assert.equal(outcomes.filter((o) => tsRoles.includes(o.role)).length, src === dst ? 2 : 1);
  });
}
