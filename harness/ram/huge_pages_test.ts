import assert from "node:assert/strict";
import {
  adviseHugePages,
  anonHugePagesKib,
  HUGE_PAGE_SIZE,
  selectedSetting,
  transparentHugePages,
} from "./huge_pages.ts";
import { pageAlignedBytes } from "./page_aligned.ts";

const granted = ["always", "madvise"].includes(transparentHugePages());

Deno.test("selectedSetting reads the bracketed choice of a sysfs setting", () => {
  assert.equal(selectedSetting("always [madvise] never\n"), "madvise");
  assert.equal(selectedSetting("always within_size advise [never] deny force"), "never");
  assert.equal(selectedSetting(undefined), "unknown");
});

Deno.test({
  name: "adviseHugePages advises the whole huge pages inside a buffer, none in a small one",
  ignore: transparentHugePages() === "unknown",
}, () => {
  assert.equal(adviseHugePages(new Uint8Array(HUGE_PAGE_SIZE - 1)), 0);
  const advised = adviseHugePages(new Uint8Array(new SharedArrayBuffer(5 * HUGE_PAGE_SIZE)));
  // Wherever the buffer starts, at least four whole huge pages lie inside it.
  assert.ok(advised >= 4 * HUGE_PAGE_SIZE && advised <= 5 * HUGE_PAGE_SIZE, `${advised}`);
  assert.equal(advised % HUGE_PAGE_SIZE, 0);
});

Deno.test({
  name: "advised page-aligned RAM is backed by huge pages once touched",
  ignore: !granted,
}, () => {
  const before = anonHugePagesKib();
  const ram = pageAlignedBytes(64 << 20, true);
  adviseHugePages(ram);
  for (let at = 0; at < ram.length; at += 4096) ram[at] = 1;
  const gained = anonHugePagesKib() - before;
  // Memory may be short of free huge pages; most of 64 MiB still comes as huge pages.
  assert.ok(gained >= 32 * 1024, `AnonHugePages grew by ${gained} KiB`);
});
