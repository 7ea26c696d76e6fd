import assert from "node:assert/strict";
import { adviseHugePages, HUGE_PAGE_SIZE } from "./huge_pages.ts";
import { pageAlignedBytes } from "./page_aligned.ts";

function thpMode(): string | undefined {
  try {
    const text = Deno.readTextFileSync("/sys/kernel/mm/transparent_hugepage/enabled");
    return /\[(\w+)\]/.exec(text)?.[1];
  } catch {
    return undefined;
  }
}

const thpGranted = ["always", "madvise"].includes(thpMode() ?? "");

Deno.test({
  name: "adviseHugePages advises the whole huge pages inside a buffer, none in a small one",
  ignore: thpMode() === undefined,
}, () => {
  assert.equal(adviseHugePages(new Uint8Array(HUGE_PAGE_SIZE - 1)), 0);
  const bytes = new Uint8Array(new SharedArrayBuffer(5 * HUGE_PAGE_SIZE));
  const advised = adviseHugePages(bytes);
  // Wherever the buffer starts, at least four whole huge pages lie inside it.
  assert.ok(advised >= 4 * HUGE_PAGE_SIZE && advised <= 5 * HUGE_PAGE_SIZE, `${advised}`);
  assert.equal(advised % HUGE_PAGE_SIZE, 0);
});

Deno.test({
  name: "advised page-aligned RAM is backed by huge pages once touched",
  ignore: !thpGranted,
}, () => {
  const hugeKib = () =>
    Number(/AnonHugePages:\s+(\d+)/.exec(Deno.readTextFileSync("/proc/self/smaps_rollup"))![1]);
  const before = hugeKib();
  const ram = pageAlignedBytes(64 << 20, true);
  adviseHugePages(ram);
  for (let at = 0; at < ram.length; at += 4096) ram[at] = 1;
  const gained = hugeKib() - before;
  // Memory may be short of free huge pages; most of 64 MiB still comes as huge pages.
  assert.ok(gained >= 32 * 1024, `AnonHugePages grew by ${gained} KiB`);
});
