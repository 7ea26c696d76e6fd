import assert from "node:assert/strict";
import { exitWithParent } from "./exit_with_parent.ts";
import { killedParentLeftChild } from "./exit_with_parent_testing.ts";

const wrapped = exitWithParent("sleep", ["1"]);

// Without setpriv (not Linux, or util-linux missing) the command is left as it is: nothing to test.
Deno.test({
  name: "exitWithParent: the command runs through setpriv with its arguments in order",
  ignore: wrapped.command === "sleep",
  fn() {
    assert.match(wrapped.command, /\/setpriv$/);
    assert.deepEqual(wrapped.args, ["--pdeathsig", "KILL", "--", "sleep", "1"]);
  },
});

Deno.test({
  name: "exitWithParent: a child outlives an idle parent and dies with a SIGKILLed one",
  ignore: wrapped.command === "sleep",
  async fn() {
    const child = await killedParentLeftChild(`
      import { exitWithParent } from ${
      JSON.stringify(import.meta.resolve("./exit_with_parent.ts"))
    };
      const line = exitWithParent("sleep", ["30"]);
      const child = new Deno.Command(line.command, { args: [...line.args], stdin: "null" }).spawn();
      // Long enough for Deno's idle helper threads to end: the child must survive them.
      await new Promise((resolve) => setTimeout(resolve, 12_000));
      console.log(JSON.stringify({ pid: child.pid }));
      await new Promise((resolve) => setTimeout(resolve, 30_000));
    `);
    assert.equal(child.aliveBeforeKill, true);
    assert.equal(child.aliveAfterKill, false);
  },
});
