import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { patternRam, sha256Hex } from "../harness/ram/pattern.ts";
import { patternSha256 } from "./pattern_digest.ts";

Deno.test("patternSha256: equals the digest of the whole pattern image", async () => {
  const ram = { mib: 5, seed: 7, density: 1 };
  assertEquals(patternSha256(ram), await sha256Hex(patternRam(ram.mib, ram.seed, ram.density)));
});
