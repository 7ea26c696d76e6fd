import assert from "node:assert/strict";
import { MAX_WARM_UP_PACKETS, warmUpPackets } from "./warm_up_packets.ts";

Deno.test("warmUpPackets: four per packet a channel carries, capped", () => {
  assert.equal(warmUpPackets(16, 4), 32); // 32 packets over 4 channels
  assert.equal(warmUpPackets(256, 4), 512);
  assert.equal(warmUpPackets(1024, 8), 1024);
  assert.equal(warmUpPackets(1024, 4), MAX_WARM_UP_PACKETS);
  assert.equal(warmUpPackets(1, 8), 4);
});
