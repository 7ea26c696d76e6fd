import assert from "node:assert/strict";
import { patternRam, sha256Hex } from "../ram/pattern.ts";
import { qemuImplementations } from "../qemu/implementation.ts";
import { startTsDestination } from "./destination.ts";
import type { DestinationTranscript } from "./dst_transcript.ts";

const qemus = await qemuImplementations();
const MIB = 16;

for (const qemu of qemus.filter((q) => q.name === "qemu-7.2" || q.name === "qemu-10.0")) {
  Deno.test(`qemu ${qemu.name} source → ts destination completes with the source's RAM`, async (t) => {
    for (const channels of [1, 2, 4]) {
      await t.step(`${channels} channel(s)`, async () => {
        const ram = { mib: MIB, seed: 40 + channels, density: 0.25 };
        const signal = AbortSignal.timeout(60_000);
        await using dst = await startTsDestination({
          channels,
          ram,
          peer: qemu,
          uuid: "12345678-9abc-def0-1122-334455667788",
          signal,
        });
        await using src = await qemu.source({
          channels,
          ram,
          uuid: "12345678-9abc-def0-1122-334455667788",
          connect: dst.endpoint,
          peer: { name: "ts", version: "0.1.0" },
          signal,
        });
        const outcome = await dst.outcome(signal);
        const srcOutcome = await src.outcome(signal);
        assert.equal(outcome.status, "completed", outcome.message);
        assert.equal(srcOutcome.status, "completed", srcOutcome.message);
        assert.equal(
          outcome.ramSha256,
          await sha256Hex(patternRam(ram.mib, ram.seed, ram.density)),
        );
        const transcript = dst.transcript() as DestinationTranscript;
        const multifd = transcript.connections.filter((c) => c.kind === "multifd");
        assert.equal(multifd.length, channels);
        assert.deepEqual(multifd.map((c) => c.channelId).sort(), [...Array(channels).keys()]);
        for (const c of multifd) {
          assert.equal(c.init?.uuid, "12345678-9abc-def0-1122-334455667788");
          assert.deepEqual(c.init?.reservedNonZero, []);
          assert.equal(c.end, "fin");
          assert.equal(c.syncs, transcript.main?.syncPoints);
        }
        assert.equal(transcript.main?.eof, true);
        assert.ok(transcript.main!.syncPoints >= 2);
        assert.deepEqual(
          transcript.main?.records.filter((r) => r.type === "full").map((r) => r.idstr),
          ["timer", "globalstate"],
        );
      });
    }
  });
}
