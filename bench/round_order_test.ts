import assert from "node:assert/strict";
import { roundOrder } from "./round_order.ts";

Deno.test("roundOrder puts every pair in every place once over as many rounds as pairs", () => {
  const pairs = ["qq", "q-ts", "ts-q", "ts-ts", "q7-ts"];
  const places = pairs.map(() => new Set<number>());
  for (let round = 0; round < pairs.length; round++) {
    const order = roundOrder(pairs, round);
    assert.deepEqual([...order].sort(), [...pairs].sort());
    order.forEach((pair, place) => places[pairs.indexOf(pair)].add(place));
  }
  for (const seen of places) assert.equal(seen.size, pairs.length);
  assert.deepEqual(roundOrder(pairs, 0), pairs);
  assert.deepEqual(roundOrder(pairs, 6), roundOrder(pairs, 1));
  assert.deepEqual(roundOrder([], 3), []);
});
