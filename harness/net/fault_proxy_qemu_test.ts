import assert from "node:assert/strict";
import { pkiDir } from "../pki/pki.ts";
import { qemuImplementations } from "../qemu/implementation.ts";
import { patternRam, sha256Hex } from "../ram/pattern.ts";
import { type FaultProxyOptions, startFaultProxy } from "./fault_proxy.ts";
import { migrateThroughProxy } from "./proxy_testing.ts";
import { ByteReader } from "./read.ts";
import { listenTlsServer } from "./tls.ts";

const good = pkiDir("good");
const qemu10 = (await qemuImplementations()).find((q) => q.name === "qemu-10.0");
const ram = { mib: 16, seed: 21, density: 0.25 };

/** Migrates QEMU 10.0 → fault proxy → QEMU 10.0 and returns both outcomes and the report. */
async function migrate(
  tls: boolean,
  faults: Omit<FaultProxyOptions, "upstream">,
  timeoutMs = 60_000,
) {
  await using run = await migrateThroughProxy(qemu10!, {
    tls,
    ram,
    signal: AbortSignal.timeout(timeoutMs),
    proxy: (upstream) => startFaultProxy({ upstream, timeoutMs: 10_000, ...faults }),
  });
  const { source, destination, proxy } = run;
  return { source, destination, report: proxy.report() };
}

Deno.test({
  name: "qemu qemu-10.0 TLS through the fault proxy: intact, then multifd close_notify stripped",
  ignore: !qemu10,
  async fn(t) {
    await t.step("no fault: completes", async () => {
      const { destination, report } = await migrate(true, { tlsRecords: true });
      assert.equal(destination.status, "completed", destination.message);
      assert.equal(
        destination.ramSha256,
        await sha256Hex(patternRam(ram.mib, ram.seed, ram.density)),
      );
      assert.equal(report.length, 3);
      for (const c of report) assert.equal(c.toUpstream.forwarded, c.toUpstream.received);
    });
    await t.step("close_notify stripped from multifd channels", async () => {
      const { destination, report } = await migrate(true, {
        faults: [{ connections: [1, 2], dropCloseNotify: "toUpstream" }],
      });
      // TLS 1.3 between QEMUs: the close_notify is a 19-byte application-data record.
      for (const c of report.slice(1)) {
        assert.deepEqual(c.toUpstream.droppedRecord, { type: 23, length: 19 });
        assert.equal(c.toUpstream.forwarded, c.toUpstream.received - 24);
      }
      assert.equal(report[0].toUpstream.droppedRecord, undefined);
      // Whether the destination notices depends on timing: by the time the FIN arrives it has
      // usually loaded everything and shut the channels down for reading, and
      // qio_channel_tls_readv() then takes the bare EOF as graceful (spec §5.2).
      const errorDesc = destination.evidence?.errorDesc;
      if (errorDesc) assert.match(String(errorDesc), /non-properly terminated/);
      console.log(`destination: ${destination.status}, error-desc ${errorDesc ?? "none"}`);
    });
  },
});

Deno.test({
  name: "qemu qemu-10.0 TLS source through the fault proxy: stripped close_notify reads as abrupt",
  ignore: !qemu10,
  async fn() {
    const signal = AbortSignal.timeout(60_000);
    await using server = await listenTlsServer({
      certFile: `${good}/server-cert.pem`,
      keyFile: `${good}/server-key.pem`,
      caFile: `${good}/ca-cert.pem`,
      order: "accept",
      timeoutMs: 30_000,
    });
    await using proxy = await startFaultProxy({
      upstream: server.endpoint,
      faults: [{ connections: [1], dropCloseNotify: "toUpstream" }],
    });
    await using src = await qemu10!.source({
      channels: 2,
      ram,
      connect: proxy.endpoint,
      peer: { name: "ts", version: "0.1.0" },
      tls: { dir: good, hostname: "localhost" },
      signal,
    });
    const ends = await Promise.all([0, 1, 2].map(async () => {
      await using conn = await server.accept({ signal });
      const reader = new ByteReader(conn.readable, { timeoutMs: 30_000 });
      const chunk = new Uint8Array(256 * 1024);
      try {
        while (await reader.read(chunk) !== null) { /* drain */ }
      } catch { /* the end is judged below */ }
      return conn.peerEnded();
    }));
    assert.equal((await src.outcome(signal)).status, "completed");
    // Connection 1 lost its close_notify (TLS 1.2 alert here); connection 2 kept it.
    assert.deepEqual(ends, ["abrupt", "abrupt", "close_notify"]);
    assert.equal(proxy.report()[1].toUpstream.droppedRecord?.type, 21);
  },
});

Deno.test({
  name: "qemu qemu-10.0 plain through the fault proxy: multifd before main still completes",
  ignore: !qemu10,
  async fn() {
    // 8.0+ destinations classify plain channels by their magic (6720c2b327), not by order.
    const { destination, report } = await migrate(false, { reorder: [1, 0] });
    assert.equal(destination.status, "completed", destination.message);
    assert.equal(
      destination.ramSha256,
      await sha256Hex(patternRam(ram.mib, ram.seed, ram.density)),
    );
    assert.ok(report[1].upstreamConnectedMs! < report[0].upstreamConnectedMs!);
    assert.deepEqual(report[0].applied, ["reorder: upstream #1"]);
  },
});

Deno.test({
  name: "qemu qemu-10.0 plain through the fault proxy: a multifd channel cut mid-packet freezes",
  ignore: !qemu10,
  async fn() {
    const { destination, report } = await migrate(false, {
      faults: [{ connections: [1], cut: { direction: "toUpstream", afterBytes: 64 + 1344 + 100 } }],
    }, 10_000);
    assert.equal(report[1].toUpstream.end, "cut");
    assert.equal(report[1].toUpstream.forwarded, 64 + 1344 + 100);
    // The channel's recv thread fails ("Unexpected end-of-file before all data were read"). If
    // the main thread is already waiting in multifd_recv_sync_main() it waits forever: the failed
    // thread never posts multifd_recv_state->sem_sync (7.2 → master), so QMP stops answering.
    assert.ok(["failed", "frozen"].includes(destination.status), destination.status);
    if (destination.status === "failed") {
      assert.match(destination.message ?? "", /Unexpected end-of-file before all data were read/);
    }
    console.log(`destination: ${destination.status} ${destination.message ?? ""}`);
  },
});
