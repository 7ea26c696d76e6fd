import assert from "node:assert/strict";
import { delay } from "./qemu/abort.ts";
import {
  describeThreads,
  parseKernelStack,
  parseStatNameAndState,
  threadStates,
} from "./thread_states.ts";

Deno.test("parseStatNameAndState reads a name with spaces and parentheses", () => {
  const stat = "12 (V8 (worker) 1) D 1 12 12 0 -1 0 0 0 0 0 5 2 0 0 20 0 1 0";
  assert.deepEqual(parseStatNameAndState(stat), { name: "V8 (worker) 1", state: "D" });
  assert.equal(parseStatNameAndState("not a stat line"), null);
});

Deno.test("threadStates shows a sleeping child and where it waits, then nothing once it is gone", async () => {
  const child = new Deno.Command("sleep", { args: ["30"], stdout: "null", stderr: "null" }).spawn();
  try {
    let threads = threadStates(child.pid);
    // The child may still be starting (loading, it sleeps elsewhere for a moment): wait until it
    // sleeps in its `sleep` call, within a bound.
    const asleep = () => threads[0]?.state === "S" && /sleep/.test(threads[0].wchan);
    for (let i = 0; i < 200 && !asleep(); i++) {
      await delay(10);
      threads = threadStates(child.pid);
    }
    assert.equal(threads.length, 1);
    const [main] = threads;
    assert.equal(main.tid, child.pid);
    assert.equal(main.name, "sleep");
    assert.equal(main.state, "S");
    assert.match(main.wchan, /sleep/);
    assert.match(describeThreads(threads), new RegExp(`^${child.pid} sleep S in \\w*sleep`));
    assert.ok(main.cpuSeconds !== null && main.cpuSeconds < 1, `cpu ${main.cpuSeconds}`);
    if (kernelStacksReadable()) {
      assert.match(main.kernelStack!.join(" "), /nanosleep/);
      assert.match(describeThreads(threads), /\(kernel: \w+ ← .*nanosleep/);
    }
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
  assert.deepEqual(threadStates(child.pid), []);
  assert.equal(describeThreads([]), "no threads (the process is gone)");
});

/** Whether this process may read kernel stacks (root). */
function kernelStacksReadable(): boolean {
  try {
    return Deno.readTextFileSync(`/proc/${Deno.pid}/stack`).length >= 0;
  } catch {
    return false;
  }
}

Deno.test("parseKernelStack keeps function names up to the system call", () => {
  const text = [
    "[<0>] __skb_wait_for_more_packets+0x111/0x160",
    "[<0>] unix_stream_read_generic+0x2c5/0xa80",
    "[<0>] unix_stream_recvmsg+0x8b/0xa0",
    "[<0>] __sys_recvfrom+0x1a3/0x1c0",
    "[<0>] __x64_sys_recvfrom+0x24/0x40",
    "[<0>] do_syscall_64+0x71/0x290",
    "[<0>] entry_SYSCALL_64_after_hwframe+0x76/0x7e",
    "",
  ].join("\n");
  assert.deepEqual(parseKernelStack(text), [
    "__skb_wait_for_more_packets",
    "unix_stream_read_generic",
    "unix_stream_recvmsg",
    "__sys_recvfrom",
    "__x64_sys_recvfrom",
  ]);
  assert.deepEqual(parseKernelStack(""), []);
  const deep = Array.from({ length: 20 }, (_, i) => `[<0>] f${i}+0x1/0x2`).join("\n");
  assert.equal(parseKernelStack(deep).length, 8);
});
