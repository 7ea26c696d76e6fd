/**
 * The destination's guest RAM: one zero-filled image of the configured size, carved into the RAM
 * blocks the main stream's block list announces (`RAM_SAVE_FLAG_MEM_SIZE`). Pages are written in
 * place; digests are taken once, at the end, by a streaming SHA-256 over the image. The image's
 * pages become resident on first touch, or all at once, before the transfer, with `prefault()`;
 * its own memory is advised as transparent huge pages, as QEMU advises guest RAM.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { WireError } from "../wire/errors.ts";
import type { RamSpec } from "../implementation.ts";
import { adviseHugePages } from "../ram/huge_pages.ts";
import { pageAlignedBytes } from "../ram/page_aligned.ts";
import { DEFAULT_DENSITY, fillPatternPage, PAGE_SIZE } from "../ram/pattern.ts";

/** Largest guest RAM the destination allocates, in MiB. */
export const MAX_RAM_MIB = 65536;

/** One RAM block as laid out in the image. */
export interface RamBlockLayout {
  /** The block's idstr, e.g. `ram` for `-M none`. */
  readonly name: string;
  /** Where the block starts in the image. */
  readonly start: number;
  /** The block's `used_length` in bytes. */
  readonly length: number;
}

/** Digest of one block. */
export interface RamBlockDigest {
  readonly name: string;
  readonly length: number;
  readonly sha256: string;
}

/** How the received RAM compares with the source's pattern. */
export interface PatternComparison {
  /** `sha256Hex(patternRam(mib, seed, density))`, computed without building the whole image. */
  readonly expectedSha256: string;
  readonly matches: boolean;
  /** Pages that differ (counted up to the first 1,000,000). */
  readonly mismatchedPages: number;
  /** Byte offset (in the image) of the first page that differs. */
  readonly firstMismatch?: number;
}

const HASH_CHUNK = 4 * 1024 * 1024;

/**
 * Guest RAM of the TypeScript destination.
 *
 * @example
 * ```ts
 * import { RamImage } from "./dst_ram_image.ts";
 * const ram = new RamImage(1);
 * ram.setBlocks([{ name: "ram", length: 1 << 20 }]);
 * const page = ram.page("ram", 4096, 1);
 * page.fill(7);
 * console.log((await ram.digest()).length); // 64
 * ```
 */
export class RamImage {
  /** The whole image; blocks are consecutive views into it. */
  readonly bytes: Uint8Array;
  #blocks: RamBlockLayout[] = [];
  readonly #byName = new Map<string, RamBlockLayout>();
  readonly #lengths = new Map<string, number>();
  readonly #announced = Promise.withResolvers<void>();

  /**
   * `memory`: `"private"` (default) or `"shared"` allocates the image, page aligned, in a
   * `SharedArrayBuffer` for the latter, so that Workers receiving channels write into it; a
   * `Uint8Array` of exactly `mib` MiB in a `SharedArrayBuffer` is used as it is (a Worker's view
   * of the destination's image).
   */
  constructor(mib: number, memory: "private" | "shared" | Uint8Array = "private") {
    if (!Number.isInteger(mib) || mib <= 0 || mib > MAX_RAM_MIB) {
      throw new RangeError(`ram.mib must be an integer in 1..${MAX_RAM_MIB}, got ${mib}`);
    }
    const size = mib * 1024 * 1024;
    if (memory instanceof Uint8Array) {
      if (!(memory.buffer instanceof SharedArrayBuffer)) {
        throw new TypeError("a RAM image given as bytes must be in a SharedArrayBuffer");
      }
      if (memory.length !== size) {
        throw new RangeError(`shared RAM of ${memory.length} bytes is not ${mib} MiB`);
      }
      this.bytes = memory;
    } else {
      this.bytes = pageAlignedBytes(size, memory === "shared");
      // Before any page is touched, as QEMU's ram_block_add advises guest RAM.
      adviseHugePages(this.bytes);
    }
  }

  /**
   * Makes every page of the image resident by writing a zero into it, so that the page faults of
   * first touch happen here rather than during the transfer: the `prealloc` of a `RamSpec`, as
   * QEMU's `prealloc=on` does for its memory backend. The image is all zeros until its block list
   * is set, so this changes no byte; once blocks are set (pages may have been written) it throws.
   */
  prefault(): void {
    if (this.#blocks.length > 0) {
      throw new Error("RamImage.prefault() must come before the block list is set");
    }
    // One write per page is enough: a write fault makes an anonymous page resident.
    for (let at = 0; at < this.bytes.length; at += PAGE_SIZE) this.bytes[at] = 0;
  }

  /** The blocks, in block-list order (empty until the main stream announced them). */
  get blocks(): readonly RamBlockLayout[] {
    return this.#blocks;
  }

  /** `used_length` by idstr, the shape `validatePacket` takes. */
  get lengths(): ReadonlyMap<string, number> {
    return this.#lengths;
  }

  /** The block named `name`, if announced. */
  block(name: string): RamBlockLayout | undefined {
    return this.#byName.get(name);
  }

  /**
   * Lays the announced blocks out in the image. Their total must equal the configured RAM size
   * (QEMU refuses a block whose length differs from its own and cannot be resized), every length
   * must be a whole number of pages and no name may repeat.
   *
   * @throws {WireError} `E_STREAM` naming the block and the lengths.
   */
  setBlocks(list: readonly { readonly name: string; readonly length: number }[]): void {
    if (this.#blocks.length > 0) {
      throw new WireError("E_STREAM", "second RAM block list", {
        field: "ram.mem_size",
        received: list.map((b) => b.name).join(","),
        expected: "one block list per migration",
      });
    }
    let start = 0;
    const layout: RamBlockLayout[] = [];
    for (const { name, length } of list) {
      if (this.#byName.has(name) || layout.some((b) => b.name === name)) {
        throw new WireError("E_STREAM", "RAM block announced twice", {
          field: "ram.block.idstr",
          received: JSON.stringify(name),
        });
      }
      if (!Number.isSafeInteger(length) || length <= 0 || length % PAGE_SIZE !== 0) {
        throw new WireError("E_STREAM", `RAM block ${JSON.stringify(name)} has a bad length`, {
          field: "ram.block.used_length",
          received: length,
          expected: `a positive multiple of ${PAGE_SIZE}`,
        });
      }
      if (start + length > this.bytes.length) {
        throw new WireError("E_STREAM", "RAM blocks exceed the configured RAM size", {
          field: `ram.block[${JSON.stringify(name)}].used_length`,
          received: start + length,
          expected: `<= ${this.bytes.length}`,
        });
      }
      layout.push({ name, start, length });
      start += length;
    }
    if (start !== this.bytes.length) {
      throw new WireError("E_STREAM", "RAM block list does not match the configured RAM size", {
        field: "ram.mem_size",
        received: start,
        expected: this.bytes.length,
      });
    }
    this.#blocks = layout;
    for (const block of layout) {
      this.#byName.set(block.name, block);
      this.#lengths.set(block.name, block.length);
    }
    this.#announced.resolve();
  }

  /**
   * Resolves once the block list has been set. Multifd packets may arrive before the main stream
   * got that far; QEMU has its blocks from its own configuration, this image from the stream.
   */
  whenAnnounced(signal?: AbortSignal): Promise<void> {
    if (this.#blocks.length > 0) return Promise.resolve();
    if (!signal) return this.#announced.promise;
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(signal.reason);
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      this.#announced.promise.then(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      });
    });
  }

  /**
   * A view of `pages` pages of `blockName` at byte `offset` within the block. The caller has
   * checked the range (packet validation); this re-checks it so a bug cannot write past a block.
   */
  page(blockName: string, offset: number, pages: number): Uint8Array {
    const start = this.#start(blockName, offset, pages * PAGE_SIZE, "page");
    return this.bytes.subarray(start, start + pages * PAGE_SIZE);
  }

  /** Copies `data` (whole pages) into `blockName` at `offset`, checked like {@linkcode page}. */
  write(blockName: string, offset: number, data: Uint8Array): void {
    this.bytes.set(data, this.#start(blockName, offset, data.length, "page"));
  }

  /** Zero-fills `pages` pages of `blockName` at `offset`, checked like {@linkcode page}, no view. */
  zero(blockName: string, offset: number, pages: number): void {
    const start = this.#start(blockName, offset, pages * PAGE_SIZE, "zero page");
    this.bytes.fill(0, start, start + pages * PAGE_SIZE);
  }

  /** Where `length` bytes at `offset` of `blockName` start in the image, if they fit the block. */
  #start(blockName: string, offset: number, length: number, what: string): number {
    const block = this.#byName.get(blockName);
    if (!block || offset < 0 || offset + length > block.length) {
      throw new WireError("E_PACKET", `${what} outside every RAM block`, {
        field: "page.offset",
        received: `${JSON.stringify(blockName)}+${offset}`,
        expected: block ? `< ${block.length}` : "a known block",
      });
    }
    return block.start + offset;
  }

  /** SHA-256 (hex) of the whole image. */
  digest(): Promise<string> {
    return Promise.resolve(hashRange(this.bytes, 0, this.bytes.length));
  }

  /**
   * SHA-256 of each block. `wholeSha256` (the image's digest) is reused for a block that spans
   * the whole image, so 1 GiB is hashed once, not twice.
   */
  blockDigests(wholeSha256?: string): RamBlockDigest[] {
    return this.#blocks.map((b) => ({
      name: b.name,
      length: b.length,
      sha256: wholeSha256 !== undefined && b.start === 0 && b.length === this.bytes.length
        ? wholeSha256
        : hashRange(this.bytes, b.start, b.start + b.length),
    }));
  }

  /**
   * Compares the image with the pattern the source was seeded with, without allocating a second
   * image: the expected digest is streamed from one chunk, and pages are compared only when the
   * digests differ. Pass the image's digest if it is known already.
   */
  compareWithPattern(spec: RamSpec, actualSha256?: string): PatternComparison {
    const density = spec.density ?? DEFAULT_DENSITY;
    const hash = createHash("sha256");
    const chunk = new Uint8Array(Math.min(HASH_CHUNK, this.bytes.length));
    for (let at = 0; at < this.bytes.length; at += chunk.length) {
      const n = Math.min(chunk.length, this.bytes.length - at);
      fillPatternChunk(chunk.subarray(0, n), spec.seed, at / PAGE_SIZE, density);
      hash.update(chunk.subarray(0, n));
    }
    const expectedSha256 = hash.digest("hex");
    const actual = actualSha256 ?? hashRange(this.bytes, 0, this.bytes.length);
    if (actual === expectedSha256) return { expectedSha256, matches: true, mismatchedPages: 0 };
    const page = new Uint8Array(PAGE_SIZE);
    let mismatchedPages = 0;
    let firstMismatch: number | undefined;
    for (let i = 0, pages = this.bytes.length / PAGE_SIZE; i < pages; i++) {
      fillPatternPage(page, spec.seed, i, density);
      if (!equalBytes(page, this.bytes, i * PAGE_SIZE)) {
        firstMismatch ??= i * PAGE_SIZE;
        if (++mismatchedPages >= 1_000_000) break;
      }
    }
    return { expectedSha256, matches: false, mismatchedPages, firstMismatch };
  }
}

function fillPatternChunk(chunk: Uint8Array, seed: number, firstPage: number, density: number) {
  for (let p = 0; p * PAGE_SIZE < chunk.length; p++) {
    fillPatternPage(
      chunk.subarray(p * PAGE_SIZE, (p + 1) * PAGE_SIZE),
      seed,
      firstPage + p,
      density,
    );
  }
}

function hashRange(bytes: Uint8Array, start: number, end: number): string {
  const hash = createHash("sha256");
  for (let at = start; at < end; at += HASH_CHUNK) {
    hash.update(bytes.subarray(at, Math.min(end, at + HASH_CHUNK)));
  }
  return hash.digest("hex");
}

function equalBytes(page: Uint8Array, image: Uint8Array, at: number): boolean {
  const a = new Uint32Array(page.buffer, page.byteOffset, page.length >>> 2);
  const b = new Uint32Array(image.buffer, image.byteOffset + at, page.length >>> 2);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
