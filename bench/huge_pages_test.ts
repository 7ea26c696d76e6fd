import assert from "node:assert/strict";
import { hugePagesNote, tmpfsHugeOption } from "./huge_pages.ts";

Deno.test("tmpfsHugeOption takes the innermost tmpfs mount holding the path", () => {
  const mounts = [
    "proc /proc proc rw 0 0",
    "tmpfs /dev/shm tmpfs rw,nosuid,nodev,huge=within_size 0 0",
    "tmpfs /dev tmpfs rw,mode=755 0 0",
    "tmpfs /dev/shmx tmpfs rw,huge=always 0 0",
  ].join("\n");
  assert.equal(tmpfsHugeOption(mounts, "/dev/shm/migwire-bench-1"), "within_size");
  assert.equal(tmpfsHugeOption(mounts, "/dev/null"), "never");
  assert.equal(tmpfsHugeOption(mounts, "/tmp/x"), "not on tmpfs");
});

Deno.test("hugePagesNote names this machine's settings", () => {
  assert.match(hugePagesNote("/dev/shm"), /anonymous memory here: `\w+`.*here: `[\w ]+`/);
});
