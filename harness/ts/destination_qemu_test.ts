import assert from "node:assert/strict";
import { patternRam, sha256Hex } from "../ram/pattern.ts";
import { qemuImplementations } from "../qemu/implementation.ts";
import { pkiDir } from "../pki/pki.ts";
import { nativeTcpAvailable } from "../net/native_tcp.ts";
import { startTsDestination } from "./destination.ts";
import { tsImplementation } from "./implementation.ts";
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
        // Plain channels on native sockets are received on Workers.
        assert.equal(outcome.evidence?.channelThreads, nativeTcpAvailable());
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

const TLS_DIR = pkiDir("good");

for (const qemu of qemus.filter((q) => q.name === "qemu-7.2" || q.name === "qemu-10.0")) {
  const clean = qemu.name === "qemu-10.0";
  Deno.test(`qemu ${qemu.name} TLS source → ts destination`, async (t) => {
    const run = async (eof: "strict" | "relaxed") => {
      const ram = { mib: MIB, seed: 7, density: 0.25 };
      const signal = AbortSignal.timeout(60_000);
      await using dst = await startTsDestination({
        channels: 2,
        ram,
        peer: qemu,
        tls: { dir: TLS_DIR, eof },
        readTimeoutMs: 10_000,
        signal,
      });
      await using src = await qemu.source({
        channels: 2,
        ram,
        connect: dst.endpoint,
        peer: { name: "ts", version: "0.1.0" },
        tls: { dir: TLS_DIR, hostname: "localhost" },
        signal,
      });
      const outcome = await dst.outcome(signal);
      await src.outcome(signal);
      return { outcome, transcript: dst.transcript() };
    };
    await t.step("strict", async () => {
      const { outcome, transcript } = await run("strict");
      const multifd = transcript.connections.filter((c) => c.kind === "multifd");
      if (clean) {
        // QEMU ≥ 10.0 ends every multifd channel with close_notify (48796f6b44).
        assert.equal(outcome.status, "completed", outcome.message);
        assert.equal(outcome.ramSha256, await sha256Hex(patternRam(MIB, 7, 0.25)));
        assert.deepEqual(multifd.map((c) => c.end), ["close_notify", "close_notify"]);
      } else {
        // QEMU 7.2 closes without close_notify: strict refuses it, like QEMU 10.0 does.
        assert.equal(outcome.status, "failed");
        assert.equal(outcome.errorClass, "E_TLS_PREMATURE_EOF", outcome.message);
      }
      const main = transcript.connections.find((c) => c.kind === "main");
      assert.equal(main?.transport, "tls");
    });
    await t.step("relaxed", async () => {
      const { outcome, transcript } = await run("relaxed");
      assert.equal(outcome.status, "completed", outcome.message);
      assert.equal(outcome.ramSha256, await sha256Hex(patternRam(MIB, 7, 0.25)));
      const ends = transcript.connections.filter((c) => c.kind === "multifd").map((c) => c.end);
      assert.deepEqual(ends, clean ? ["close_notify", "close_notify"] : ["abrupt", "abrupt"]);
      // The whole main stream arrived over TLS: device sections, EOF and the VM description.
      assert.equal(transcript.main?.eof, true);
      assert.deepEqual(
        transcript.main?.records.filter((r) => r.type === "full").map((r) => r.idstr),
        ["timer", "globalstate"],
      );
      assert.equal(transcript.main?.records.at(-1)?.type, "vmdescription");
    });
  });
}

const qemu72 = qemus.find((q) => q.name === "qemu-7.2");
if (qemu72) {
  Deno.test("qemu qemu-7.2 source → ts-arrival-order destination (QEMU 7.2's own rule)", async () => {
    const ram = { mib: MIB, seed: 9, density: 0.5 };
    const signal = AbortSignal.timeout(60_000);
    await using dst = await tsImplementation({ policy: "arrival-order" }).destination({
      channels: 3,
      ram,
      peer: qemu72,
      signal,
    });
    await using src = await qemu72.source({
      channels: 3,
      ram,
      connect: dst.endpoint,
      peer: { name: "ts-arrival-order", version: "0.1.0" },
      signal,
    });
    const outcome = await dst.outcome(signal);
    await src.outcome(signal);
    assert.equal(outcome.status, "completed", outcome.message);
    assert.equal(outcome.ramSha256, await sha256Hex(patternRam(MIB, 9, 0.5)));
    const transcript = dst.transcript();
    assert.equal(transcript.policy, "arrival-order");
    assert.equal(transcript.connections[0].kind, "main");
    // Arrival order never peeks, so the main channel has no recorded head.
    assert.equal(transcript.connections[0].head, undefined);
  });
}
