import assert from "node:assert/strict";
import { patternRam, sha256Hex } from "../ram/pattern.ts";
import { qemuImplementations } from "../qemu/implementation.ts";
import { pkiDir } from "../pki/pki.ts";
import { nativeTcpAvailable } from "../net/native_tcp.ts";
import { startTsSource } from "./source.ts";

const qemus = (await qemuImplementations()).filter((q) =>
  q.name === "qemu-7.2" || q.name === "qemu-10.0"
);
const UUID = "12345678-9abc-def0-1122-334455667788";
const native = nativeTcpAvailable();

for (const qemu of qemus) {
  const wire = qemu.name.slice("qemu-".length);
  for (const transport of ["plain", "tls"] as const) {
    Deno.test(`ts source → qemu ${qemu.name} destination (${transport}) completes with the source's RAM`, async (t) => {
      for (const channels of [1, 2, 4]) {
        await t.step(`${channels} channel(s)`, async () => {
          const ram = { mib: 16, seed: 60 + channels, density: 0.2 };
          const tls = transport === "tls" ? { dir: pkiDir("good") } : undefined;
          const signal = AbortSignal.timeout(60_000);
          await using dst = await qemu.destination({
            channels,
            ram,
            uuid: UUID,
            tls,
            peer: { name: "ts", version: `0.1.0+qemu-${wire}` },
            signal,
          });
          await using src = await startTsSource({
            channels,
            ram,
            uuid: UUID,
            tls,
            connect: dst.endpoint,
            peer: qemu,
            signal,
          });
          const srcOutcome = await src.outcome(signal);
          const dstOutcome = await dst.outcome(signal);
          assert.equal(srcOutcome.status, "completed", srcOutcome.message);
          assert.equal(dstOutcome.status, "completed", dstOutcome.message);
          const expected = await sha256Hex(patternRam(ram.mib, ram.seed, ram.density));
          assert.equal(srcOutcome.ramSha256, expected);
          // Read back from the destination's memory-backend-file.
          assert.equal(dstOutcome.ramSha256, expected);
          assert.equal(srcOutcome.evidence?.targetVersion, wire);
          // Plain channels on native sockets run on Workers; TLS ones on the main thread.
          assert.equal(srcOutcome.evidence?.channelThreads, transport === "plain" && native);
        });
      }
    });
  }

  Deno.test(`ts source → qemu ${qemu.name} destination: a bad UUID is refused`, async () => {
    const ram = { mib: 16, seed: 1 };
    const signal = AbortSignal.timeout(60_000);
    await using dst = await qemu.destination({
      channels: 2,
      ram,
      uuid: UUID,
      peer: { name: "ts", version: `0.1.0+qemu-${wire}` },
      signal,
    });
    await using src = await startTsSource({
      channels: 2,
      ram,
      uuid: "01020304-0506-0708-090a-0b0c0d0e0f10",
      connect: dst.endpoint,
      peer: qemu,
      script: { stopAfterInit: true, holdMs: 2_000 },
      signal,
    });
    const srcOutcome = await src.outcome(signal);
    assert.equal(srcOutcome.status, "failed");
    const dstOutcome = await dst.outcome(AbortSignal.timeout(3_000));
    assert.notEqual(dstOutcome.status, "completed");
    if (wire === "10.0") {
      // 10.0 reports it (2b667a8c0f); 7.2 never does (spec §6.1).
      assert.equal(dstOutcome.errorClass, "E_UUID", dstOutcome.message);
      assert.match(
        dstOutcome.message ?? "",
        /received uuid '01020304-0506-0708-090a-0b0c0d0e0f10'/,
      );
    }
  });
}

for (const qemu of qemus) {
  const wire = qemu.name.slice("qemu-".length);
  Deno.test(`ts source → qemu ${qemu.name} destination: TLS channels closed without close_notify`, async () => {
    const ram = { mib: 16, seed: 3, density: 0.1 };
    const signal = AbortSignal.timeout(60_000);
    await using dst = await qemu.destination({
      channels: 2,
      ram,
      tls: { dir: pkiDir("good") },
      peer: { name: "ts", version: `0.1.0+qemu-${wire}` },
      signal,
    });
    await using src = await startTsSource({
      channels: 2,
      ram,
      tls: { dir: pkiDir("good"), close: "abrupt" },
      connect: dst.endpoint,
      peer: qemu,
      signal,
    });
    assert.equal((await src.outcome(signal)).status, "completed");
    const outcome = await dst.outcome(signal);
    if (wire === "10.0") {
      // e0ad300fe1 (10.0) fails the migration on a premature TLS end (spec §5.2).
      assert.equal(outcome.status, "failed");
      assert.equal(outcome.errorClass, "E_TLS_PREMATURE_EOF", outcome.message);
      assert.match(outcome.message ?? "", /non-properly terminated/);
    } else {
      // 7.2 never reports multifd read errors on a destination (spec §5.2).
      assert.equal(outcome.status, "completed", outcome.message);
      assert.equal(outcome.ramSha256, await sha256Hex(patternRam(ram.mib, ram.seed, ram.density)));
    }
  });
}

Deno.test(
  "ts source main-last → qemu 10.0 destination completes (channels classified by peeking)",
  {
    ignore: !qemus.some((q) => q.name === "qemu-10.0"),
  },
  async () => {
    const qemu = qemus.find((q) => q.name === "qemu-10.0")!;
    const ram = { mib: 16, seed: 8, density: 0.1 };
    const signal = AbortSignal.timeout(60_000);
    await using dst = await qemu.destination({
      channels: 2,
      ram,
      peer: { name: "ts", version: "0.1.0+qemu-10.0" },
      signal,
    });
    await using src = await startTsSource({
      channels: 2,
      ram,
      connect: dst.endpoint,
      peer: qemu,
      script: { order: "main-last", mainDelayMs: 100 },
      signal,
    });
    assert.equal((await src.outcome(signal)).status, "completed");
    const outcome = await dst.outcome(signal);
    assert.equal(outcome.status, "completed", outcome.message);
    assert.equal(outcome.ramSha256, await sha256Hex(patternRam(ram.mib, ram.seed, ram.density)));
  },
);
