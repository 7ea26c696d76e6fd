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
import { pageAlignedBytes } from "../ram/page_aligned.ts";
import { fillPatternPage, isPatternPage, PAGE_SIZE } from "../ram/pattern.ts";

/** The source's guest RAM and its digest. */
export interface SourceRam {
  /**
   * The RAM, page aligned in a `SharedArrayBuffer`: the channel Workers read it where it is.
   */
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
  if (file === undefined) {
    const bytes = sharedPatternRam(spec.mib, spec.seed, spec.density);
    return { bytes, sha256: digest(bytes) };
  }
  const expected = spec.mib * 1024 * 1024;
  let read: Uint8Array | number;
  try {
    read = await readShared(file, expected);
  } catch (error) {
    throw new WireError("E_IO", `cannot read the RAM image: ${error}`, {
      field: "ramFile",
      received: file,
      cause: error,
    });
  }
  const length = typeof read === "number" ? read : read.length;
  if (typeof read === "number" || length !== expected || length % PAGE_SIZE !== 0) {
    throw new WireError("E_IO", "RAM image size differs from ram.mib", {
      field: "ramFile",
      received: `${length} bytes in ${file}`,
      expected: `${expected} bytes (${spec.mib} MiB)`,
    });
  }
  return { bytes: read, sha256: digest(read) };
}

/** `patternRam` of `harness/ram/pattern.ts`, page aligned in a `SharedArrayBuffer`. */
function sharedPatternRam(mib: number, seed: number, density?: number): Uint8Array {
  if (!Number.isInteger(mib) || mib <= 0 || mib > 65536) {
    throw new RangeError(`ram.mib must be an integer in 1..65536, got ${mib}`);
  }
  const ram = pageAlignedBytes(mib * 1024 * 1024, true);
  const pages = ram.byteLength / PAGE_SIZE;
  for (let i = 0; i < pages; i++) {
    if (isPatternPage(seed, i, density)) {
      fillPatternPage(ram.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE), seed, i, density);
    }
  }
  return ram;
}

/** Reads `file` into a `SharedArrayBuffer`, or returns its size if it is not `expected`. */
async function readShared(file: string, expected: number): Promise<Uint8Array | number> {
  using handle = await Deno.open(file);
  const size = (await handle.stat()).size;
  if (size !== expected) return size;
  const bytes = pageAlignedBytes(size, true);
  for (let at = 0; at < size;) {
    const n = await handle.read(bytes.subarray(at));
    if (n === null) return bytes.slice(0, at);
    at += n;
  }
  return bytes;
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
