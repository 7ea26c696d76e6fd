import assert from "node:assert/strict";
import { CLIENT_HELLO_PREFIX } from "../net/tls_record.ts";
import type { Outcome, TlsOptions } from "../implementation.ts";
import { pkiDir } from "../pki/pki.ts";
import { patternRam, sha256Hex } from "../ram/pattern.ts";
import { encodeInitPacket } from "../wire/init_packet.ts";
import { versionInfo } from "../wire/versions.ts";
import { delay } from "./abort.ts";
import { type QemuImplementation, qemuImplementations } from "./implementation.ts";
import { crossVersionKnobs, globalsOf, parametersOf } from "./knobs.ts";
import { leftoverQemuPids, liveQemuProcesses } from "./process.ts";
import { gdbAvailable } from "../user_stacks.ts";

const implementations = await qemuImplementations();
const RAM = { mib: 16, seed: 0x5eed, density: 1 / 8 };
const expectedSha256 = await sha256Hex(patternRam(RAM.mib, RAM.seed, RAM.density));
const TLS: TlsOptions = { dir: pkiDir("good"), hostname: "localhost" };

/** `-global`/parameter strings as the outcome's evidence lists them. */
function knobStrings(source: string, destination: string, tls: boolean, side: string): string[] {
  const knobs = crossVersionKnobs(source, destination, { tls }).filter((k) => k.side === side);
  return [
    ...globalsOf(knobs).map((global) => `-global ${global}`),
    ...Object.entries(parametersOf(knobs)).map(([name, value]) => `${name}=${value}`),
  ].sort();
}

async function migrate(
  src: QemuImplementation,
  dst: QemuImplementation,
  channels: number,
  tls: TlsOptions | undefined,
): Promise<[Outcome, Outcome]> {
  const signal = AbortSignal.timeout(30_000);
  await using destination = await dst.destination({ channels, ram: RAM, tls, peer: src, signal });
  await using source = await src.source({
    channels,
    ram: RAM,
    tls,
    peer: dst,
    connect: destination.endpoint,
    signal,
  });
  return await Promise.all([source.outcome(signal), destination.outcome(signal)]);
}

Deno.test("qemu interop: every pair completes with the source's RAM, plain and TLS, 1/2/4 channels", async (t) => {
  for (const tls of [undefined, TLS]) {
    for (const src of implementations) {
      for (const dst of implementations) {
        for (const channels of [1, 2, 4]) {
          const name = `${src.name} -> ${dst.name} ${tls ? "tls" : "plain"} ${channels}ch`;
          await t.step(name, async () => {
            const [source, destination] = await migrate(src, dst, channels, tls);
            assert.equal(source.status, "completed", source.message);
            assert.equal(destination.status, "completed", destination.message);
            assert.equal(source.ramSha256, expectedSha256);
            assert.equal(destination.ramSha256, expectedSha256);
            assert.ok((source.bytes ?? 0) > 0);
            assert.equal(destination.controlPlane, "answering");
            const tlsOn = tls !== undefined;
            assert.deepEqual(
              (source.evidence?.knobs as string[]).toSorted(),
              knobStrings(src.version, dst.version, tlsOn, "source"),
            );
            assert.deepEqual(
              (destination.evidence?.knobs as string[]).toSorted(),
              knobStrings(src.version, dst.version, tlsOn, "destination"),
            );
          });
        }
      }
    }
  }
});

Deno.test("qemu interop: without the knobs a newer source fails an older destination", async (t) => {
  const pairs = implementations.flatMap((src) => implementations.map((dst) => [src, dst] as const))
    .filter(([src, dst]) =>
      versionInfo(src.version).flushStyle.value === "multifd-flush" &&
      versionInfo(dst.version).flushStyle.value === "eos"
    );
  for (const [src, dst] of pairs) {
    await t.step(`${src.name} -> ${dst.name} with no peer given`, async () => {
      const signal = AbortSignal.timeout(20_000);
      await using destination = await dst.destination({ channels: 2, ram: RAM, signal });
      await using source = await src.source({
        channels: 2,
        ram: RAM,
        connect: destination.endpoint,
        signal,
      });
      const [, outcome] = await Promise.all([source.outcome(signal), destination.outcome(signal)]);
      assert.equal(outcome.status, "failed");
      assert.equal(outcome.errorClass, "E_STREAM");
      assert.match(outcome.message ?? "", /Unknown combination of migration flags: 0x200/);
    });
  }
});

Deno.test("qemu with prealloc: every pair completes with the source's seeded RAM; the destination times itself by its MIGRATION events", async (t) => {
  const WAIT_MS = 500;
  for (const src of implementations) {
    for (const dst of implementations) {
      await t.step(`${src.name} -> ${dst.name}`, async () => {
        const signal = AbortSignal.timeout(30_000);
        const ram = { ...RAM, prealloc: true };
        await using destination = await dst.destination({ channels: 2, ram, peer: src, signal });
        const listening = performance.now();
        // The source comes late: the destination's time must not count the wait.
        await delay(WAIT_MS, signal);
        await using source = await src.source({
          channels: 2,
          ram,
          peer: dst,
          connect: destination.endpoint,
          signal,
        });
        const [srcOutcome, dstOutcome] = await Promise.all([
          source.outcome(signal),
          destination.outcome(signal),
        ]);
        const waited = (performance.now() - listening) / 1000;
        assert.equal(srcOutcome.status, "completed", srcOutcome.message);
        assert.equal(dstOutcome.status, "completed", dstOutcome.message);
        assert.equal(srcOutcome.ramSha256, expectedSha256);
        assert.equal(dstOutcome.ramSha256, expectedSha256);
        for (const outcome of [srcOutcome, dstOutcome]) {
          const line = (outcome.evidence?.commandLine as string[]).find((arg) =>
            arg.startsWith("memory-backend-file,")
          );
          assert.match(line ?? "", /,prealloc=on$/);
        }
        // 7.2 sends `setup` from qemu_start_incoming_migration without setting the state; both
        // versions go `active` in process_incoming_migration_co and `completed` in its bh.
        assert.deepEqual(dstOutcome.evidence?.events, ["setup", "active", "completed"]);
        const transfer = dstOutcome.evidence?.transferSeconds;
        assert.ok(typeof transfer === "number" && transfer > 0, `transferSeconds ${transfer}`);
        assert.equal(dstOutcome.seconds, transfer);
        assert.ok(transfer < waited - WAIT_MS / 1000, `${transfer} s of ${waited} s`);
        assert.equal(srcOutcome.evidence?.transferSeconds, undefined);
        for (const outcome of [srcOutcome, dstOutcome]) {
          // QEMU's CPU since `migrate`/`migrate-incoming`, in clock ticks: a small guest may take 0.
          const cpu = outcome.evidence?.transferCpuSeconds;
          assert.ok(typeof cpu === "number" && cpu >= 0 && cpu < 2 * waited, `CPU ${cpu} s`);
        }
      });
    }
  }
});

/** Connects a main channel (the QEVM header) and one multifd channel sending `init`. */
async function rawChannels(port: number, init: Uint8Array): Promise<Deno.TcpConn[]> {
  const main = await Deno.connect({ hostname: "127.0.0.1", port });
  await main.write(new Uint8Array([0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3]));
  const multifd = await Deno.connect({ hostname: "127.0.0.1", port });
  await multifd.write(init);
  return [main, multifd];
}

Deno.test("qemu destination: an init packet with id == channels crashes QEMU (spec §8.1), a verdict", async (t) => {
  for (const dst of implementations) {
    await t.step(dst.name, async () => {
      await using destination = await dst.destination({ channels: 2, ram: RAM });
      const conns = await rawChannels(destination.endpoint.port, encodeInitPacket({ id: 2 }));
      try {
        const outcome = await destination.outcome(AbortSignal.timeout(10_000));
        assert.equal(outcome.status, "crashed");
        assert.deepEqual(outcome.exit, { code: null, signal: "SIGSEGV" });
        assert.equal(outcome.controlPlane, "gone");
        assert.equal(outcome.ramSha256, undefined);
      } finally {
        conns.forEach((conn) => conn.close());
      }
    });
  }
});

Deno.test("qemu destination: a partial init freezes the control plane, and the outcome shows where QEMU waits", async (t) => {
  const hasGdb = await gdbAvailable();
  for (const dst of implementations) {
    await t.step(dst.name, async () => {
      await using destination = await dst.destination({ channels: 2, ram: RAM });
      // 8 of the 64 bytes: QEMU reads the init with a blocking read in its main loop.
      const conns = await rawChannels(
        destination.endpoint.port,
        encodeInitPacket({ id: 0 }).subarray(0, 8),
      );
      try {
        const outcome = await destination.outcome(AbortSignal.timeout(1_500));
        assert.equal(outcome.status, "frozen");
        assert.equal(outcome.controlPlane, "frozen");
        const evidence = outcome.evidence ?? {};
        // The main thread waits in a TCP receive: kernel stacks need root, the wait channel not.
        assert.match(String(evidence.threads), /^\d+ qemu-system-x86 S in \w+/);
        if (hasGdb) {
          assert.match(
            String(evidence.stacks),
            /qio_channel_read_all ← multifd_recv_new_channel ← migration_ioc_process_incoming/,
          );
        }
      } finally {
        conns.forEach((conn) => conn.close());
      }
    });
  }
});

const HANDSHAKE_STACK = /gnutls_handshake \(libgnutls[^)]*\) ← qcrypto_tls_session_handshake/;

Deno.test("qemu destination: a TLS handshake that stalls in the ClientHello freezes the control plane", async (t) => {
  const hasGdb = await gdbAvailable();
  for (const dst of implementations) {
    await t.step(dst.name, async () => {
      await using destination = await dst.destination({ channels: 2, ram: RAM, tls: TLS });
      const { hostname, port } = destination.endpoint;
      const conn = await Deno.connect({ hostname, port });
      try {
        // A handshake record header announcing 512 bytes, and nothing more.
        await conn.write(CLIENT_HELLO_PREFIX.subarray(0, 5));
        const outcome = await destination.outcome(AbortSignal.timeout(1_500));
        assert.equal(outcome.status, "frozen");
        if (hasGdb) assert.match(String(outcome.evidence?.stacks), HANDSHAKE_STACK);
      } finally {
        conn.close();
      }
    });
  }
});

Deno.test("qemu source: a destination that never answers the ClientHello freezes the control plane", async (t) => {
  const hasGdb = await gdbAvailable();
  for (const src of implementations) {
    await t.step(src.name, async () => {
      using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      await using source = await src.source({
        channels: 2,
        ram: RAM,
        tls: TLS,
        connect: { hostname: "127.0.0.1", port: listener.addr.port },
      });
      // Accepted, then never read from or written to.
      using _held = await listener.accept();
      const outcome = await source.outcome(AbortSignal.timeout(1_500));
      assert.equal(outcome.status, "frozen");
      if (hasGdb) assert.match(String(outcome.evidence?.stacks), HANDSHAKE_STACK);
    });
  }
});

Deno.test("qemu destination: a UUID mismatch is reported as its version reports it (spec §6.1)", async (t) => {
  for (const dst of implementations) {
    await t.step(dst.name, async () => {
      await using destination = await dst.destination({ channels: 2, ram: RAM });
      const init = encodeInitPacket({ id: 0, uuid: "01020304-0506-0708-090a-0b0c0d0e0f10" });
      const conns = await rawChannels(destination.endpoint.port, init);
      try {
        const outcome = await destination.outcome(AbortSignal.timeout(1_500));
        const reporting = versionInfo(dst.version).afterBadMultifdChannel.value;
        assert.equal(outcome.status, reporting === "fail-exit" ? "failed" : "timeout");
        assert.equal(outcome.errorClass, "E_UUID");
        assert.match(
          outcome.message ?? "",
          /multifd: received uuid '01020304-0506-0708-090a-0b0c0d0e0f10' and expected uuid '00000000-0000-0000-0000-000000000000' for channel 0$/,
        );
        assert.equal(outcome.controlPlane, "answering");
        assert.equal(outcome.exit, undefined);
      } finally {
        conns.forEach((conn) => conn.close());
      }
    });
  }
});

Deno.test("qemu TLS: a destination with another CA or another name fails the source's handshake", async (t) => {
  for (const src of implementations) {
    for (const set of ["other-ca", "wrong-name"] as const) {
      await t.step(`${src.name} against ${set}`, async () => {
        const dst = implementations[implementations.length - 1];
        await using destination = await dst.destination({
          channels: 2,
          ram: RAM,
          tls: { dir: pkiDir(set) },
          peer: src,
        });
        await using source = await src.source({
          channels: 2,
          ram: RAM,
          tls: TLS,
          peer: dst,
          connect: destination.endpoint,
        });
        const outcome = await source.outcome(AbortSignal.timeout(10_000));
        assert.equal(outcome.status, "failed");
        assert.equal(outcome.errorClass, "E_TLS");
        assert.match(
          outcome.message ?? "",
          set === "other-ca" ? /known issuer/ : /Certificate does not match the hostname localhost/,
        );
      });
    }
  }
});

Deno.test("qemu: no QEMU started by the driver tests is left running", async () => {
  assert.deepEqual(liveQemuProcesses(), []);
  assert.deepEqual(await leftoverQemuPids(), []);
});
