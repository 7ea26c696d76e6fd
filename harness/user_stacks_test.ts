import assert from "node:assert/strict";
import { describeStacks, gdbAvailable, parseGdbBacktraces, userStacks } from "./user_stacks.ts";

const GDB_OUTPUT = `[New LWP 101]
[Thread debugging using libthread_db enabled]
0x00007f3 in __GI___poll (fds=0x1, nfds=1, timeout=-1) at ../sysdeps/unix/sysv/linux/poll.c:29

Thread 2 (Thread 0x7f1 (LWP 101) "qemu-system-x86"):
#0  syscall () at ../sysdeps/unix/sysv/linux/x86_64/syscall.S:38
#1  0x0000555 in qemu_event_wait ()
#2  0x0000556 in ?? ()
#3  0x00007f4 in start_thread (arg=<optimized out>) at ./nptl/pthread_create.c:442

Thread 1 (Thread 0x7f2 (LWP 100) "qemu-system-x86"):
#0  0x00007f3 in __GI___poll (fds=0x1, nfds=1, timeout=-1) at ../sysdeps/unix/sysv/linux/poll.c:29
#1  0x00007f5 in ?? () from /lib/x86_64-linux-gnu/libglib-2.0.so.0
#2  0x00007f6 in g_main_loop_run () from /lib/x86_64-linux-gnu/libglib-2.0.so.0
[Inferior 1 (process 100) detached]
`;

Deno.test("parseGdbBacktraces reads each thread's frames, innermost first, with their library", () => {
  assert.deepEqual(parseGdbBacktraces(GDB_OUTPUT), [
    {
      lwp: 101,
      name: "qemu-system-x86",
      frames: ["syscall", "qemu_event_wait", "??", "start_thread"],
    },
    {
      lwp: 100,
      name: "qemu-system-x86",
      frames: ["__GI___poll", "?? (libglib-2.0.so.0)", "g_main_loop_run (libglib-2.0.so.0)"],
    },
  ]);
  assert.deepEqual(parseGdbBacktraces("not gdb output"), []);
});

Deno.test("describeStacks gives one line per thread", () => {
  assert.equal(
    describeStacks(parseGdbBacktraces(GDB_OUTPUT)),
    "101 qemu-system-x86: syscall ← qemu_event_wait ← ?? ← start_thread\n" +
      "100 qemu-system-x86: __GI___poll ← ?? (libglib-2.0.so.0) ← g_main_loop_run (libglib-2.0.so.0)",
  );
});

const hasGdb = await gdbAvailable();

Deno.test({
  name: "userStacks shows where a sleeping child waits, and nothing for a process that is gone",
  ignore: !hasGdb,
  async fn() {
    const child = new Deno.Command("sleep", { args: ["30"], stdout: "null", stderr: "null" })
      .spawn();
    try {
      const stacks = await userStacks(child.pid);
      assert.ok(stacks, "gdb read no stacks");
      assert.equal(stacks.length, 1);
      assert.equal(stacks[0].lwp, child.pid);
      assert.match(stacks[0].frames.join(" "), /nanosleep/);
    } finally {
      child.kill("SIGKILL");
      await child.status;
    }
    assert.equal(await userStacks(child.pid), undefined);
  },
});
