import assert from "node:assert/strict";
import { startTsDestination } from "../harness/ts/destination.ts";
import { pkiDir } from "../harness/pki/pki.ts";
import { parseOrder, parseTarget } from "./source.ts";
import { UsageError } from "./command.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;

async function runCli(args: string[], signal: AbortSignal): Promise<{
  code: number;
  lines: Record<string, unknown>[];
  stderr: string;
}> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "source", ...args],
    stdout: "piped",
    stderr: "piped",
    signal,
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const lines = stdout.split("\n").filter((line) => line.trim() !== "").map((line) =>
    JSON.parse(line)
  );
  return { code: output.code, lines, stderr: new TextDecoder().decode(output.stderr) };
}

Deno.test("migwire source → ts destination prints events and a completed result (plain and TLS)", async (t) => {
  for (const tls of [false, true]) {
    await t.step(tls ? "tls" : "plain", async () => {
      const signal = AbortSignal.timeout(60_000);
      const ram = { mib: 8, seed: 4, density: 0.5 };
      await using dst = await startTsDestination({
        channels: 2,
        ram,
        tls: tls ? { dir: pkiDir("good") } : undefined,
        signal,
      });
      const { hostname, port } = dst.endpoint;
      const { code, lines, stderr } = await runCli([
        "--connect",
        `${hostname}:${port}`,
        "--channels",
        "2",
        "--ram-mib",
        "8",
        "--seed",
        "4",
        "--density",
        "0.5",
        "--prealloc",
        ...(tls ? ["--tls-dir", pkiDir("good")] : []),
      ], signal);
      const outcome = await dst.outcome(signal);
      assert.equal(code, 0, stderr);
      assert.deepEqual(lines.slice(0, 3), [
        { event: "connected", kind: "main" },
        { event: "connected", kind: "multifd", id: 0 },
        { event: "connected", kind: "multifd", id: 1 },
      ]);
      const result = lines.at(-1)!;
      assert.equal(result.event, "result");
      assert.equal(result.status, "completed");
      assert.equal(result.ramSha256, outcome.ramSha256);
      assert.ok((result.bytes as number) > 0);
    });
  }
});

Deno.test("migwire source exits 1 with an error line when the destination refuses, 2 on bad usage", async () => {
  const signal = AbortSignal.timeout(60_000);
  await using dst = await startTsDestination({
    channels: 2,
    ram: { mib: 4, seed: 1 },
    uuid: "12345678-9abc-def0-1122-334455667788",
    signal,
  });
  const { hostname, port } = dst.endpoint;
  const refused = await runCli([
    "--connect",
    `${hostname}:${port}`,
    "--channels",
    "2",
    "--ram-mib",
    "4",
    "--timeout-ms",
    "3000",
  ], signal);
  assert.equal((await dst.outcome(signal)).errorClass, "E_UUID");
  assert.equal(refused.code, 1);
  const result = refused.lines.at(-1)!;
  assert.equal(result.status, "failed");
  assert.ok(refused.lines.some((line) => line.event === "error" && typeof line.class === "string"));

  const usage = await runCli(["--connect", "nowhere", "--channels", "2"], signal);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--connect must be HOST:PORT, got "nowhere"/);
});

Deno.test("--order and --target parse or name the bad value", () => {
  assert.deepEqual(parseOrder("main,1,0", 2), ["main", 1, 0]);
  assert.equal(parseOrder("main-last", 2), "main-last");
  assert.throws(() => parseOrder("main,2", 2), UsageError);
  assert.throws(() => parseOrder("main,0,0", 2), /twice/);
  assert.equal(parseTarget("ts"), "10.0");
  assert.equal(parseTarget("qemu-7.2"), "7.2");
  assert.throws(() => parseTarget("qemu-6.0"), /older than 7\.2/);
});
