/**
 * The SHA-256 every destination's RAM is checked against: the pattern of a RAM spec, hashed in
 * 4 MiB steps (WebCrypto would copy the whole image first). Computed once per run, off the clock.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { RamSpec } from "../harness/implementation.ts";
import { patternRam } from "../harness/ram/pattern.ts";

const CHUNK = 4 * 1024 * 1024;

/**
 * SHA-256 (hex) of the pattern RAM of `ram`.
 *
 * @example
 * ```ts
 * import { patternSha256 } from "./pattern_digest.ts";
 * console.log(patternSha256({ mib: 1, seed: 1, density: 1 }).length); // 64
 * ```
 */
export function patternSha256(ram: RamSpec): string {
  const bytes = patternRam(ram.mib, ram.seed, ram.density);
  const hash = createHash("sha256");
  for (let offset = 0; offset < bytes.length; offset += CHUNK) {
    hash.update(bytes.subarray(offset, offset + CHUNK));
  }
  return hash.digest("hex");
}
