import assert from "node:assert/strict";
import { crossVersionKnobs, globalsOf, knobsFor, parametersOf, wireVersionOf } from "./knobs.ts";

const names = (knobs: ReturnType<typeof crossVersionKnobs>) =>
  knobs.map((knob) => `${knob.side} ${knob.name}=${knob.value}`);

Deno.test("crossVersionKnobs: same version needs none", () => {
  for (const version of ["7.2.22", "10.0.2"]) {
    assert.deepEqual(crossVersionKnobs(version, version, { tls: true }), []);
  }
});

Deno.test("crossVersionKnobs: 10.0 source to 7.2 destination (spec §7)", () => {
  const knobs = crossVersionKnobs("10.0.2", "7.2.22", { tls: true });
  assert.deepEqual(names(knobs), [
    "source migration.multifd-flush-after-each-section=on",
    "source migration.send-switchover-start=off",
    "source zero-page-detection=legacy",
  ]);
  assert.deepEqual(globalsOf(knobs), [
    "migration.multifd-flush-after-each-section=on",
    "migration.send-switchover-start=off",
  ]);
  assert.deepEqual(parametersOf(knobs), { "zero-page-detection": "legacy" });
  for (const knob of knobs) {
    assert.match(knob.reference.commit, /^[0-9a-f]{10}$/);
    assert.ok(knob.reason.length > 20);
  }
});

Deno.test("crossVersionKnobs: 7.2 source to 10.0 destination, TLS only adds clean-tls", () => {
  assert.deepEqual(names(crossVersionKnobs("7.2.22", "10.0.2", { tls: false })), [
    "destination migration.multifd-flush-after-each-section=on",
  ]);
  assert.deepEqual(names(crossVersionKnobs("7.2.22", "10.0.2", { tls: true })), [
    "destination migration.multifd-flush-after-each-section=on",
    "destination migration.multifd-clean-tls-termination=false",
  ]);
});

Deno.test("crossVersionKnobs: boundaries between releases", () => {
  assert.deepEqual(names(crossVersionKnobs("8.1", "8.0", { tls: false })), [
    "source migration.multifd-flush-after-each-section=on",
  ]);
  assert.deepEqual(names(crossVersionKnobs("9.0", "8.2", { tls: false })), [
    "source zero-page-detection=legacy",
  ]);
  assert.deepEqual(names(crossVersionKnobs("10.0", "9.2", { tls: true })), [
    "source migration.send-switchover-start=off",
  ]);
  assert.deepEqual(names(crossVersionKnobs("9.2", "10.0", { tls: true })), [
    "destination migration.multifd-clean-tls-termination=false",
  ]);
  assert.deepEqual(names(crossVersionKnobs("9.1", "9.2", { tls: true })), []);
});

Deno.test("wireVersionOf and knobsFor treat ts as 10.0 unless it names a QEMU version", () => {
  assert.equal(wireVersionOf({ name: "ts", version: "0.1.0" }), "10.0");
  assert.equal(wireVersionOf({ name: "ts-arrival-order", version: "0.1.0+qemu-7.2" }), "7.2");
  const qemu72 = { name: "qemu-7.2", version: "7.2.22" };
  const qemu10 = { name: "qemu-10.0", version: "10.0.2" };
  const ts = { name: "ts", version: "0.1.0" };
  assert.deepEqual(names(knobsFor("source", qemu10, ts, { tls: true })), []);
  assert.deepEqual(names(knobsFor("destination", qemu72, ts, { tls: false })), []);
  assert.deepEqual(names(knobsFor("source", qemu10, qemu72, { tls: false })).length, 3);
  assert.deepEqual(knobsFor("destination", qemu10, qemu72, { tls: false }).length, 1);
  assert.deepEqual(knobsFor("destination", qemu10, undefined, { tls: true }), []);
});
