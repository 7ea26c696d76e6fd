/**
 * The guest RAM the source sends: a RAM image file, or the deterministic pattern of
 * `harness/ram/pattern.ts`. Its SHA-256 is taken once, before the transfer, off the hot path.
 * Either way every page is touched before the source connects: written (the file's bytes, the
 * pattern's non-zero pages) or read (the digest reads them all), and the transfer only reads. So
 * no page fault of first touch falls in the transfer, whether or not `RamSpec.prealloc` asks.
 *
 * @module
 */

import { WireError } from "../wire/errors.ts";
import type { RamSpec } from "../implementation.ts";
import { createHash } from "node:crypto";
import { PAGE_SIZE, patternRam } from "../ram/pattern.ts";

/** The source's guest RAM and its digest. */
export interface SourceRam {
  readonly bytes: Uint8Array;
  readonly sha256: string;
}

/**
 * Loads `file` (whose size must be `spec.mib` MiB) or generates the pattern of `spec`.
 *
 * @throws {WireError} `E_IO` naming the file when it cannot be read or has the wrong size.
 * @example
 * ```ts
 * import { loadSourceRam } from "./src_ram.ts";
 * const ram = await loadSourceRam({ mib: 1, seed: 7 });
 * console.log(ram.bytes.length, ram.sha256.length); // 1048576 64
 * ```
 */
export async function loadSourceRam(spec: RamSpec, file?: string): Promise<SourceRam> {
  let bytes: Uint8Array;
  if (file === undefined) {
    bytes = patternRam(spec.mib, spec.seed, spec.density);
  } else {
    try {
      bytes = await Deno.readFile(file);
    } catch (error) {
      throw new WireError("E_IO", `cannot read the RAM image: ${error}`, {
        field: "ramFile",
        received: file,
        cause: error,
      });
    }
    const expected = spec.mib * 1024 * 1024;
    if (bytes.length !== expected || bytes.length % PAGE_SIZE !== 0) {
      throw new WireError("E_IO", "RAM image size differs from ram.mib", {
        field: "ramFile",
        received: `${bytes.length} bytes in ${file}`,
        expected: `${expected} bytes (${spec.mib} MiB)`,
      });
    }
  }
  return { bytes, sha256: digest(bytes) };
}

const HASH_CHUNK = 4 * 1024 * 1024;

/** SHA-256 in chunks: WebCrypto would copy the whole image first. */
function digest(bytes: Uint8Array): string {
  const hash = createHash("sha256");
  for (let offset = 0; offset < bytes.length; offset += HASH_CHUNK) {
    hash.update(bytes.subarray(offset, offset + HASH_CHUNK));
  }
  return hash.digest("hex");
}
