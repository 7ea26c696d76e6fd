import assert from "node:assert/strict";
import { makeOwnedTempDir, sweepStaleDirs } from "./owned_temp_dir.ts";

/** The pid of a process that has ended and been reaped. */
async function deadPid(): Promise<number> {
  const child = new Deno.Command("true", { stdin: "null", stdout: "null" }).spawn();
  await child.status;
  return child.pid;
}

Deno.test("sweepStaleDirs removes exactly the prefixed directories whose owner is gone", async () => {
  const parent = await Deno.makeTempDir({ prefix: "migwire-sweep-test-" });
  try {
    const make = async (name: string, owner?: number) => {
      await Deno.mkdir(`${parent}/${name}`);
      await Deno.writeFile(`${parent}/${name}/ram`, new Uint8Array(4096));
      if (owner !== undefined) {
        await Deno.writeTextFile(`${parent}/${name}/owner.pid`, `${owner}\n`);
      }
    };
    const dead = await deadPid();
    await make("migwire-qemu-dead", dead);
    await make("migwire-qemu-live", Deno.pid);
    await make("migwire-qemu-unmarked");
    await make("other-dead", dead);
    assert.deepEqual(await sweepStaleDirs(parent, "migwire-qemu-"), [
      `${parent}/migwire-qemu-dead`,
    ]);
    const left = [];
    for await (const entry of Deno.readDir(parent)) left.push(entry.name);
    assert.deepEqual(left.sort(), ["migwire-qemu-live", "migwire-qemu-unmarked", "other-dead"]);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

Deno.test("makeOwnedTempDir marks the directory with this process's pid and sweeps its parent", async () => {
  const parent = await Deno.makeTempDir({ prefix: "migwire-sweep-test-" });
  try {
    await Deno.mkdir(`${parent}/migwire-x-stale`);
    await Deno.writeTextFile(`${parent}/migwire-x-stale/owner.pid`, `${await deadPid()}\n`);
    const dir = await makeOwnedTempDir({ prefix: "migwire-x-", dir: parent });
    assert.equal((await Deno.readTextFile(`${dir}/owner.pid`)).trim(), String(Deno.pid));
    const left = [];
    for await (const entry of Deno.readDir(parent)) left.push(`${parent}/${entry.name}`);
    assert.deepEqual(left, [dir]);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});
