import assert from "node:assert/strict";
import { PAGE_SIZE, patternRam, sha256Hex } from "../ram/pattern.ts";
import { WireError } from "../wire/errors.ts";
import { anonHugePagesKib, transparentHugePages } from "../ram/huge_pages.ts";
import { RamImage } from "./dst_ram_image.ts";

function expectStream(field: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof WireError);
    assert.equal(error.errorClass, "E_STREAM");
    assert.match(error.message, field);
    return true;
  };
}

Deno.test("RamImage takes a block list that fills the configured RAM exactly", () => {
  const mib = 1 << 20;
  assert.throws(
    () => new RamImage(2).setBlocks([{ name: "ram", length: mib }]),
    expectStream(/mem_size/),
  );
  assert.throws(
    () => new RamImage(1).setBlocks([{ name: "ram", length: 2 * mib }]),
    expectStream(/used_length/),
  );
  assert.throws(
    () =>
      new RamImage(1).setBlocks([{ name: "a", length: mib / 2 }, { name: "a", length: mib / 2 }]),
    expectStream(/announced twice/),
  );
  assert.throws(
    () => new RamImage(1).setBlocks([{ name: "ram", length: 100 }]),
    expectStream(/length/),
  );
  const ram = new RamImage(1);
  ram.setBlocks([{ name: "a", length: mib / 4 }, { name: "b", length: (3 * mib) / 4 }]);
  assert.deepEqual(ram.blocks.map((b) => b.start), [0, mib / 4]);
  assert.throws(() => ram.setBlocks([{ name: "ram", length: mib }]), expectStream(/second/));
});

Deno.test("RamImage bounds every page to its block", () => {
  const ram = new RamImage(1);
  ram.setBlocks([{ name: "a", length: 8 * PAGE_SIZE }, {
    name: "b",
    length: (1 << 20) - 8 * PAGE_SIZE,
  }]);
  ram.page("a", 7 * PAGE_SIZE, 1).fill(1);
  assert.equal(ram.bytes[7 * PAGE_SIZE], 1);
  assert.throws(() => ram.page("a", 7 * PAGE_SIZE, 2), /outside every RAM block/);
  assert.throws(() => ram.page("c", 0, 1), /outside every RAM block/);
  assert.throws(() => ram.zero("a", 8 * PAGE_SIZE, 1), /outside every RAM block/);
  ram.zero("a", 7 * PAGE_SIZE, 1);
  assert.equal(ram.bytes[7 * PAGE_SIZE], 0);
});

Deno.test("RamImage digests and compares with the pattern without a second image", async () => {
  const spec = { mib: 2, seed: 11, density: 0.3 };
  const ram = new RamImage(2);
  ram.setBlocks([{ name: "ram", length: 2 << 20 }]);
  ram.bytes.set(patternRam(spec.mib, spec.seed, spec.density));
  const expected = await sha256Hex(patternRam(spec.mib, spec.seed, spec.density));
  assert.equal(await ram.digest(), expected);
  assert.deepEqual(ram.blockDigests(), [{ name: "ram", length: 2 << 20, sha256: expected }]);
  assert.deepEqual(ram.compareWithPattern(spec), {
    expectedSha256: expected,
    matches: true,
    mismatchedPages: 0,
  });
  ram.bytes[5 * PAGE_SIZE + 3] ^= 0xff;
  ram.bytes[9 * PAGE_SIZE] ^= 0xff;
  const comparison = ram.compareWithPattern(spec);
  assert.equal(comparison.matches, false);
  assert.equal(comparison.mismatchedPages, 2);
  assert.equal(comparison.firstMismatch, 5 * PAGE_SIZE);
});

/** Resident memory of this process in bytes, from `/proc/self/status`. */
/**
 * Pages of `bytes` that are resident, by `mincore(2)`: exact for this buffer, unlike the RSS of a
 * process whose other tests allocate and free at the same time.
 */
function residentPages(bytes: Uint8Array): number {
  const lib = Deno.dlopen("libc.so.6", {
    mincore: { parameters: ["pointer", "usize", "buffer"], result: "i32" },
  });
  const page = 4096;
  const address = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes)));
  const start = address - address % BigInt(page);
  const end = address + BigInt(bytes.length);
  const pages = Number((end - start + BigInt(page - 1)) / BigInt(page));
  const vector = new Uint8Array(pages);
  try {
    const ok = lib.symbols.mincore(Deno.UnsafePointer.create(start), end - start, vector);
    assert.equal(ok, 0, "mincore failed");
  } finally {
    lib.close();
  }
  return vector.reduce((sum, v) => sum + (v & 1), 0);
}

Deno.test("RamImage.prefault makes the image resident and keeps it all zeros", async () => {
  const mib = 64;
  const ram = new RamImage(mib);
  // A fresh image is mapped lazily: prefaulting makes every page of it resident.
  assert.ok(residentPages(ram.bytes) < (mib << 8) / 2, "a fresh image is already resident");
  ram.prefault();
  assert.equal(residentPages(ram.bytes), mib << 8, "prefault left pages unmapped");
  assert.equal(await ram.digest(), await sha256Hex(new Uint8Array(mib << 20)));
  ram.setBlocks([{ name: "ram", length: mib << 20 }]);
  assert.throws(() => ram.prefault(), /before the block list/);
});

Deno.test({
  name: "RamImage: a preallocated image is backed by transparent huge pages, as QEMU's guest RAM",
  ignore: !["always", "madvise"].includes(transparentHugePages()),
}, () => {
  const before = anonHugePagesKib();
  const image = new RamImage(64, "shared");
  image.prefault();
  const gained = anonHugePagesKib() - before;
  assert.ok(gained >= 32 * 1024, `AnonHugePages grew by ${gained} KiB for a 64 MiB image`);
});
