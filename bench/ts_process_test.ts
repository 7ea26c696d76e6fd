import assert from "node:assert/strict";
import { destinationArgs, sourceArgs } from "./ts_process.ts";

const SELF = { name: "ts", version: "0.1.0" };
const PEER = { name: "qemu-10.0", version: "10.0.2" };

Deno.test("ts process arguments: ram.prealloc becomes --prealloc on both sides, and only then", () => {
  for (const prealloc of [true, false, undefined]) {
    const ram = { mib: 16, seed: 1, ...(prealloc === undefined ? {} : { prealloc }) };
    const dst = destinationArgs({ channels: 2, ram, peer: PEER }, SELF, 60_000);
    const src = sourceArgs(
      { channels: 2, ram, peer: PEER, connect: { hostname: "127.0.0.1", port: 4444 } },
      SELF,
      60_000,
    );
    assert.equal(dst.includes("--prealloc"), prealloc === true, dst.join(" "));
    assert.equal(src.includes("--prealloc"), prealloc === true, src.join(" "));
  }
});
