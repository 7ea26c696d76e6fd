import assert from "node:assert/strict";
import { roundOrder } from "./round_order.ts";

Deno.test("roundOrder opens every round with the reference and lets each other pair follow it once", () => {
  const pairs = ["qq", "q-ts", "ts-q", "ts-ts", "q7-ts"];
  const followers: string[] = [];
  for (let round = 0; round < pairs.length - 1; round++) {
    const order = roundOrder(pairs, round);
    assert.deepEqual([...order].sort(), [...pairs].sort());
    assert.equal(order[0], "qq");
    followers.push(order[1]);
  }
  assert.deepEqual(followers.sort(), pairs.slice(1).sort());
  assert.deepEqual(roundOrder(pairs, 0), pairs);
  assert.deepEqual(roundOrder(pairs, 5), roundOrder(pairs, 1));
  assert.deepEqual(roundOrder(["qq"], 3), ["qq"]);
  assert.deepEqual(roundOrder([], 3), []);
});
