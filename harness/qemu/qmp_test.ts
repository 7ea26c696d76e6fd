import assert from "node:assert/strict";
import { classOf } from "../wire/errors.ts";
import { discoverQemu } from "./discovery.ts";
import { QemuProcess } from "./process.ts";

const binaries = await discoverQemu();

Deno.test("qemu QMP: MIGRATION events arrive as a stream", async (t) => {
  for (const binary of binaries) {
    await t.step(binary.name, async () => {
      await using qemu = await QemuProcess.launch({ binary, incoming: true });
      await qemu.qmp.execute("migrate-set-capabilities", {
        capabilities: [{ capability: "events", state: true }],
      });
      const setup = qemu.qmp.waitEvent(
        (event) => event.event === "MIGRATION" && event.data?.status === "setup",
        AbortSignal.timeout(5_000),
      );
      await qemu.qmp.execute("migrate-incoming", { uri: "tcp:127.0.0.1:0" });
      const event = await setup;
      assert.equal(typeof event.timestamp?.seconds, "number");
      assert.ok(qemu.qmp.events.includes(event));
    });
  }
});

Deno.test("qemu QMP: every wait ends with a timeout class when its signal fires", async () => {
  const binary = binaries[0];
  if (!binary) return;
  await using qemu = await QemuProcess.launch({ binary });
  await assert.rejects(
    () => qemu.qmp.waitEvent(() => true, AbortSignal.timeout(50)),
    (error) =>
      classOf(error) === "E_TIMEOUT" && /timed out waiting for a QMP event/.test(String(error)),
  );
  const aborted = new AbortController();
  aborted.abort(new DOMException("stop", "AbortError"));
  await assert.rejects(
    () => qemu.qmp.execute("query-status", undefined, aborted.signal),
    (error) => classOf(error) === "E_TIMEOUT",
  );
  // A command cut short does not disturb the next one.
  assert.equal((await qemu.qmp.execute<{ status: string }>("query-status")).status, "prelaunch");
});
