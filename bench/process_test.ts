import { deepStrictEqual as assertEquals, ok } from "node:assert/strict";
import {
  freePort,
  groupMembers,
  killGroupLeftovers,
  LineReader,
  parseStatGroup,
  stopProcess,
} from "./process.ts";

Deno.test("LineReader: lines across chunks, the last one without a newline", async () => {
  const encode = (text: string) => new TextEncoder().encode(text);
  const lines = new LineReader(ReadableStream.from([encode("a\nb"), encode("c\n"), encode("d")]));
  assertEquals([await lines.next(), await lines.next(), await lines.next()], ["a", "bc", "d"]);
  assertEquals(await lines.next(), null);
  assertEquals(lines.tail, ["a", "bc", "d"]);
});

Deno.test("LineReader: a wait ends with its signal", async () => {
  const lines = new LineReader(new ReadableStream<Uint8Array>());
  const error = await lines.next(AbortSignal.timeout(10)).catch((e) => e);
  ok(error instanceof DOMException);
});

Deno.test("parseStatGroup: the group after state and parent, whatever the name holds", () => {
  assertEquals(parseStatGroup("7 (a) b) S 1 99 99 0"), 99);
  assertEquals(parseStatGroup("garbage"), null);
});

Deno.test("groupMembers: this process is in its own group's list", () => {
  const stat = Deno.readTextFileSync("/proc/self/stat");
  ok(groupMembers(parseStatGroup(stat)!).includes(Deno.pid));
});

Deno.test("stopProcess: stops a running child and is safe on one that exited", async () => {
  const child = new Deno.Command("sleep", { args: ["30"], stdout: "piped", stderr: "piped" })
    .spawn();
  const status = await stopProcess(child, 500);
  ok(!status.success);
  await stopProcess(child, 500);
});

Deno.test("freePort: a port number", () => {
  ok(freePort() > 0);
});

Deno.test("killGroupLeftovers: kills what a session leader left behind", async () => {
  const child = new Deno.Command("/usr/bin/setsid", {
    args: ["sh", "-c", "sleep 30 & exit 0"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  await child.status;
  // The background job is a forked shell until it has exec'd sleep: wait for that, not a fixed time.
  const comm = (pid: number) => Deno.readTextFileSync(`/proc/${pid}/comm`).trim();
  const until = performance.now() + 5_000;
  while (!groupMembers(child.pid).every((pid) => comm(pid) === "sleep")) {
    if (performance.now() > until) throw new Error("the background sleep never started");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  assertEquals(await killGroupLeftovers(child.pid), ["sleep"]);
  assertEquals(groupMembers(child.pid), []);
});
