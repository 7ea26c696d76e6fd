import assert from "node:assert/strict";
import { pkiDir } from "../pki/pki.ts";
import { qemuImplementations } from "../qemu/implementation.ts";
import { patternRam, sha256Hex } from "../ram/pattern.ts";
import { decodeInitPacket, MULTIFD_MAGIC } from "../wire/init_packet.ts";
import { QEMU_VM_FILE_MAGIC } from "../wire/main_stream.ts";
import { startCaptureProxy } from "./capture_proxy.ts";
import { migrateThroughProxy } from "./proxy_testing.ts";

const good = pkiDir("good");
const qemus = (await qemuImplementations()).filter((q) =>
  q.name === "qemu-7.2" || q.name === "qemu-10.0"
);

const be32 = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);

for (const qemu of qemus) {
  for (const tls of [false, true]) {
    const transport = tls ? "TLS" : "plain";
    Deno.test(`qemu ${qemu.name} → capture proxy → ${qemu.name} (${transport}) completes and is recorded`, async () => {
      const ram = { mib: 16, seed: 11, density: 0.25 };
      await using run = await migrateThroughProxy(qemu, {
        tls,
        ram,
        signal: AbortSignal.timeout(60_000),
        proxy: (upstream) =>
          startCaptureProxy({ upstream, tls: tls ? { dir: good } : undefined, timeoutMs: 30_000 }),
      });
      const { source: srcOutcome, destination: dstOutcome, proxy } = run;
      assert.equal(srcOutcome.status, "completed", srcOutcome.message);
      assert.equal(dstOutcome.status, "completed", dstOutcome.message);
      assert.equal(
        dstOutcome.ramSha256,
        await sha256Hex(patternRam(ram.mib, ram.seed, ram.density)),
      );

      const capture = await proxy.finished({ connections: 3, timeoutMs: 30_000 });
      assert.equal(capture.connections.length, 3);
      const [main, ...multifd] = capture.connections;
      assert.equal(be32(main.toUpstream.bytes), QEMU_VM_FILE_MAGIC);
      assert.deepEqual(multifd.map((c) => be32(c.toUpstream.bytes)), [
        MULTIFD_MAGIC,
        MULTIFD_MAGIC,
      ]);
      assert.deepEqual(
        multifd.map((c) => decodeInitPacket(c.toUpstream.bytes).id).sort(),
        [0, 1],
      );
      // The return path is off: a destination sends nothing back.
      for (const c of capture.connections) assert.equal(c.fromUpstream.bytes.length, 0);
      if (tls) {
        // Only multifd channels end with close_notify, and only from 10.0 (48796f6b44).
        assert.equal(main.toUpstream.end, "abrupt");
        const expected = qemu.version.startsWith("10.") ? "close_notify" : "abrupt";
        for (const c of multifd) assert.equal(c.toUpstream.end, expected);
        for (const c of capture.connections) {
          assert.equal(c.tls?.client?.authorized, true);
          assert.equal(c.tls?.upstream?.authorized, true);
        }
      } else {
        for (const c of capture.connections) assert.equal(c.toUpstream.end, "fin");
      }
      console.log(
        capture.connections.map((c) =>
          `#${c.index} ${c.toUpstream.bytes.length} B ${c.toUpstream.end} ` +
          `(accepted ${c.acceptedMs} ms, first byte ${c.toUpstream.firstByteMs} ms)`
        ).join("\n"),
      );
    });
  }
}
