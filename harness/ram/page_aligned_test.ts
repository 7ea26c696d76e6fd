import assert from "node:assert/strict";
import { pageAlignedBytes, pageOffset } from "./page_aligned.ts";
import { RamImage } from "../ts/dst_ram_image.ts";

Deno.test("pageAlignedBytes: large buffers start on a page boundary, zero-filled", () => {
  for (const shared of [true, false]) {
    for (const size of [4096, 1 << 20, 64 << 20]) {
      const bytes = pageAlignedBytes(size, shared);
      assert.equal(bytes.length, size);
      assert.equal(bytes.buffer instanceof SharedArrayBuffer, shared);
      assert.equal(pageOffset(bytes), 0, `${size} bytes, shared ${shared}`);
      assert.equal(bytes[0] | bytes[size - 1], 0);
    }
  }
});

Deno.test("pageAlignedBytes: rejects a size that is no byte count", () => {
  assert.throws(() => pageAlignedBytes(-1, true), /size must be a non-negative integer, got -1/);
  assert.throws(() => pageAlignedBytes(1.5, false), /got 1.5/);
});

Deno.test("RamImage: a shared image is page aligned, and a Worker's view of it is kept as is", () => {
  const image = new RamImage(64, "shared");
  assert.equal(pageOffset(image.bytes), 0);
  const view = new RamImage(64, image.bytes);
  assert.equal(view.bytes, image.bytes);
  assert.throws(() => new RamImage(64, new Uint8Array(64 << 20)), /must be in a SharedArrayBuffer/);
  assert.throws(() => new RamImage(32, image.bytes), /shared RAM of 67108864 bytes is not 32 MiB/);
});
