import assert from "node:assert/strict";
import { pageOffset } from "../ram/page_aligned.ts";
import { patternRam } from "../ram/pattern.ts";
import { loadSourceRam } from "./src_ram.ts";

Deno.test("loadSourceRam: the pattern RAM is shared and page aligned, as a VMM's guest RAM", async () => {
  const ram = await loadSourceRam({ mib: 4, seed: 7 });
  assert.ok(ram.bytes.buffer instanceof SharedArrayBuffer);
  assert.equal(pageOffset(ram.bytes), 0);
  assert.deepEqual(ram.bytes, patternRam(4, 7));
});

Deno.test("loadSourceRam: RAM read from a file is shared and page aligned", async () => {
  const file = await Deno.makeTempFile({ prefix: "migwire-src-ram-" });
  try {
    await Deno.writeFile(file, patternRam(2, 3));
    const ram = await loadSourceRam({ mib: 2, seed: 3 }, file);
    assert.ok(ram.bytes.buffer instanceof SharedArrayBuffer);
    assert.equal(pageOffset(ram.bytes), 0);
    assert.deepEqual(ram.bytes, patternRam(2, 3));
  } finally {
    await Deno.remove(file);
  }
});
