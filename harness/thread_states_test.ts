import assert from "node:assert/strict";
import { delay } from "./qemu/abort.ts";
import { describeThreads, parseStatNameAndState, threadStates } from "./thread_states.ts";

Deno.test("parseStatNameAndState reads a name with spaces and parentheses", () => {
  const stat = "12 (V8 (worker) 1) D 1 12 12 0 -1 0 0 0 0 0 5 2 0 0 20 0 1 0";
  assert.deepEqual(parseStatNameAndState(stat), { name: "V8 (worker) 1", state: "D" });
  assert.equal(parseStatNameAndState("not a stat line"), null);
});

Deno.test("threadStates shows a sleeping child and where it waits, then nothing once it is gone", async () => {
  const child = new Deno.Command("sleep", { args: ["30"], stdout: "null", stderr: "null" }).spawn();
  try {
    let threads = threadStates(child.pid);
    // The child may still be starting: wait until it sleeps, within a bound.
    for (let i = 0; i < 200 && threads[0]?.state !== "S"; i++) {
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
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
  assert.deepEqual(threadStates(child.pid), []);
  assert.equal(describeThreads([]), "no threads (the process is gone)");
});
