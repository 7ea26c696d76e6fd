import assert from "node:assert/strict";
import { QEMU_10_DIR, setup, SYSTEM_QEMU } from "./setup.ts";

const provisioned =
  new URL(`../.cache/qemu/${QEMU_10_DIR}/usr/bin/qemu-system-x86_64`, import.meta.url)
    .pathname;

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test("qemu setup: with both QEMUs present it only checks them, in well under a second", async (t) => {
  if (!(await exists(SYSTEM_QEMU)) || !(await exists(provisioned))) {
    await t.step({ name: "QEMU not provisioned here: run deno task setup", ignore: true, fn() {} });
    return;
  }
  const before = (await Deno.stat(provisioned)).mtime;
  const started = performance.now();
  const results = await setup();
  const ms = performance.now() - started;
  assert.deepEqual(results.map((r) => r.ok), [true, true], JSON.stringify(results));
  assert.match(results[0].detail, /^\/usr\/bin\/qemu-system-x86_64 7\.2\.\d+$/);
  assert.match(results[1].detail, /qemu-system-x86_64 10\.0\.2$/);
  assert.ok(ms < 1000, `setup took ${ms} ms`);
  assert.deepEqual((await Deno.stat(provisioned)).mtime, before);
});
