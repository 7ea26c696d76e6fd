import assert from "node:assert/strict";
import { sha256Hex } from "../harness/ram/pattern.ts";
import { scriptedMigration } from "../harness/ts/dst_testing.ts";
import { encodeInitPacket } from "../harness/wire/init_packet.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;

/** Runs `migwire destination args`, feeds it `streams` once it listens, returns lines and code. */
async function runDestination(
  args: string[],
  streams: Uint8Array[],
): Promise<{ code: number; events: Record<string, unknown>[]; stderr: string }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "destination", ...args],
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const events: Record<string, unknown>[] = [];
  let pending = "";
  const nextEvent = async (): Promise<Record<string, unknown> | null> => {
    for (;;) {
      const newline = pending.indexOf("\n");
      if (newline >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        const event = JSON.parse(line);
        events.push(event);
        return event;
      }
      const { value, done } = await lines.read();
      if (done) return null;
      pending += value;
    }
  };
  const stderr = new Response(child.stderr).text();
  const first = await nextEvent();
  const conns: Deno.TcpConn[] = [];
  if (first?.event === "listening") {
    for (const stream of streams) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(first.port) });
      conns.push(conn);
      for (let at = 0; at < stream.length;) at += await conn.write(stream.subarray(at));
      await conn.closeWrite();
    }
  }
  while (await nextEvent() !== null);
  const { code } = await child.status;
  for (const conn of conns) conn.close();
  return { code, events, stderr: await stderr };
}

Deno.test("migwire destination: JSON events, exit 0 for a completed migration", async () => {
  const script = scriptedMigration({ channels: 2, mib: 1, pages: [0, 7, 8] });
  const { code, events } = await runDestination(
    ["--listen", "127.0.0.1:0", "--channels", "2", "--ram-mib", "1", "--no-verify-pattern"],
    [script.main, ...script.channels],
  );
  assert.equal(code, 0);
  assert.deepEqual(events.map((e) => e.event), [
    "listening",
    "channel",
    "channel",
    "channel",
    "result",
  ]);
  const channels = events.slice(1, 4).map((e) => `${e.kind}${e.id ?? ""}`).sort();
  assert.deepEqual(channels, ["main", "multifd0", "multifd1"]);
  const result = events.at(-1)!;
  assert.equal(result.status, "completed");
  assert.equal(result.ramSha256, await sha256Hex(script.expected));
  assert.ok(Number(result.bytes) > 3 * 4096);
});

Deno.test("migwire destination --prealloc: completes a migration into its preallocated RAM", async () => {
  const script = scriptedMigration({ channels: 2, mib: 4, pages: [0, 9, 1000] });
  const { code, events, stderr } = await runDestination(
    ["--channels", "2", "--ram-mib", "4", "--prealloc", "--no-verify-pattern"],
    [script.main, ...script.channels],
  );
  assert.equal(code, 0, stderr);
  const result = events.at(-1)!;
  assert.equal(result.status, "completed");
  assert.equal(result.ramSha256, await sha256Hex(script.expected));
});

Deno.test("migwire destination: exit 1 and an error event for a rejected migration", async () => {
  const script = scriptedMigration({ channels: 1, mib: 1, pages: [1] });
  const { code, events } = await runDestination(
    ["--channels", "1", "--ram-mib", "1", "--uuid", "12345678-9abc-def0-1122-334455667788"],
    [script.main, encodeInitPacket({ id: 0 })],
  );
  assert.equal(code, 1);
  const error = events.find((e) => e.event === "error");
  assert.equal(error?.class, "E_UUID");
  assert.match(String(error?.message), /uuid/);
  assert.deepEqual(
    { event: events.at(-1)?.event, status: events.at(-1)?.status, class: events.at(-1)?.class },
    { event: "result", status: "failed", class: "E_UUID" },
  );
});

Deno.test("migwire destination: exit 2 for bad arguments, naming them", async () => {
  for (
    const [args, pattern] of [
      [["--channels", "0"], /--channels must be an integer in 1\.\.255, got "0"/],
      [["--channels", "2", "--policy", "random"], /--policy/],
      [["--channels", "2", "--listen", "nowhere"], /--listen must be HOST:PORT/],
      [["--channels", "2", "--source-version", "6.2"], /--source-version/],
    ] as const
  ) {
    const { code, stderr, events } = await runDestination([...args], []);
    assert.equal(code, 2, stderr);
    assert.match(stderr, pattern);
    assert.deepEqual(events, []);
  }
});
