import assert from "node:assert/strict";
import { incomingTransferSeconds } from "./migration.ts";
import type { QmpEvent } from "./qmp.ts";

function migration(status: string, seconds: number, microseconds: number): QmpEvent {
  return { event: "MIGRATION", data: { status }, timestamp: { seconds, microseconds } };
}

Deno.test("incomingTransferSeconds: from the active to the completed MIGRATION event", () => {
  const events = [
    migration("setup", 1000, 0),
    { event: "RESUME", timestamp: { seconds: 1001, microseconds: 0 } },
    migration("active", 1004, 900_000),
    migration("completed", 1006, 100_000),
  ];
  assert.equal(incomingTransferSeconds(events)?.toFixed(6), "1.200000");
});

Deno.test("incomingTransferSeconds: undefined without both events, or with a completed before active", () => {
  assert.equal(incomingTransferSeconds([]), undefined);
  assert.equal(incomingTransferSeconds([migration("active", 1, 0)]), undefined);
  assert.equal(incomingTransferSeconds([migration("completed", 2, 0)]), undefined);
  assert.equal(
    incomingTransferSeconds([migration("completed", 1, 0), migration("active", 2, 0)]),
    undefined,
  );
  assert.equal(
    incomingTransferSeconds([migration("active", 1, 0), migration("failed", 2, 0)]),
    undefined,
  );
  const untimed: QmpEvent = { event: "MIGRATION", data: { status: "active" } };
  assert.equal(incomingTransferSeconds([untimed, migration("completed", 2, 0)]), undefined);
});
