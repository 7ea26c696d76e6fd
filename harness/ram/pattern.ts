/**
 * Deterministic guest-RAM patterns: every implementation seeds and checks the same bytes from a
 * seed, so a destination's RAM can be compared with the source's byte for byte.
 *
 * @module
 */

/** The page size of every x86 QEMU target (`TARGET_PAGE_SIZE`). */
export const PAGE_SIZE = 4096;

/** Share of non-zero pages when none is given: mostly zero pages, as a freshly booted guest. */
export const DEFAULT_DENSITY = 1 / 16;

/**
 * Whether page `index` is non-zero for `seed` and `density`.
 *
 * @example
 * ```ts
 * import { isPatternPage } from "./pattern.ts";
 * console.log(isPatternPage(7, 0, 1)); // true: density 1 makes every page non-zero
 * ```
 */
export function isPatternPage(seed: number, index: number, density = DEFAULT_DENSITY): boolean {
  if (density >= 1) return true;
  if (density <= 0) return false;
  return mix(seed, index) / 0x1_0000_0000 < density;
}

/**
 * Fills `page` (a multiple of 4 bytes long) with the content of page `index`: zeros, or a
 * xorshift stream keyed by seed and index whose first word is never zero.
 *
 * @example
 * ```ts
 * import { fillPatternPage, PAGE_SIZE } from "./pattern.ts";
 * const page = new Uint8Array(PAGE_SIZE);
 * fillPatternPage(page, 1, 3, 1);
 * ```
 */
export function fillPatternPage(
  page: Uint8Array,
  seed: number,
  index: number,
  density = DEFAULT_DENSITY,
): void {
  if (!isPatternPage(seed, index, density)) {
    page.fill(0);
    return;
  }
  const words = new Uint32Array(page.buffer, page.byteOffset, page.byteLength >>> 2);
  let state = mix(seed ^ 0x9e3779b9, index) | 1;
  for (let i = 0; i < words.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    words[i] = state;
  }
}

/**
 * Returns a whole guest RAM image of `mib` MiB filled with the pattern.
 *
 * @example
 * ```ts
 * import { patternRam } from "./pattern.ts";
 * const ram = patternRam(16, 42);
 * console.log(ram.byteLength); // 16777216
 * ```
 */
export function patternRam(mib: number, seed: number, density = DEFAULT_DENSITY): Uint8Array {
  if (!Number.isInteger(mib) || mib <= 0 || mib > 65536) {
    throw new RangeError(`ram.mib must be an integer in 1..65536, got ${mib}`);
  }
  const ram = new Uint8Array(mib * 1024 * 1024);
  const pages = ram.byteLength / PAGE_SIZE;
  for (let i = 0; i < pages; i++) {
    if (isPatternPage(seed, i, density)) {
      fillPatternPage(ram.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE), seed, i, density);
    }
  }
  return ram;
}

/**
 * SHA-256 of `bytes` as lower-case hex.
 *
 * @example
 * ```ts
 * import { sha256Hex } from "./pattern.ts";
 * console.log(await sha256Hex(new Uint8Array(0)));
 * ```
 */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function mix(seed: number, index: number): number {
  let h = (Math.imul(seed | 0, 0x85ebca6b) ^ Math.imul(index | 0, 0xc2b2ae35)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}
