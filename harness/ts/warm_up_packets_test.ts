import assert from "node:assert/strict";
import { MAX_WARM_UP_PACKETS, warmUpPackets, warmUpShortfall } from "./warm_up_packets.ts";

Deno.test("warmUpPackets: four per packet a channel carries, capped", () => {
  assert.equal(warmUpPackets(16, 4), 32); // 32 packets over 4 channels
  assert.equal(warmUpPackets(256, 4), 512);
  assert.equal(warmUpPackets(1024, 8), 1024);
  assert.equal(warmUpPackets(1024, 4), MAX_WARM_UP_PACKETS);
  assert.equal(warmUpPackets(1, 8), 4);
});

Deno.test("warmUpShortfall: none when every packet was done, an E_IO naming both counts otherwise", () => {
  assert.equal(warmUpShortfall("channel worker", 50, 50), null);
  const error = warmUpShortfall("channel thread", 49, 50);
  assert.equal(error?.errorClass, "E_IO");
  assert.match(error!.message, /channel thread warmed up on 49 of 50 packets/);
});
