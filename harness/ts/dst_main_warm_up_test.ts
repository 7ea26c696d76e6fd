import assert from "node:assert/strict";
import { warmUpMainStream } from "./dst_main_warm_up.ts";

Deno.test("warmUpMainStream: every round passes the recording's sync points, in both flush styles", async () => {
  // Each recording (two multifd channels) has three sync points: setup, one iteration, completion.
  assert.equal(await warmUpMainStream("multifd-flush", 2), 6);
  assert.equal(await warmUpMainStream("eos", 3), 9);
  assert.equal(await warmUpMainStream("multifd-flush", 0), 0);
});
