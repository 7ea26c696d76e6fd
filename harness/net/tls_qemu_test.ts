import assert from "node:assert/strict";
import { pkiDir } from "../pki/pki.ts";
import { qemuImplementations } from "../qemu/implementation.ts";
import { decodeInitPacket, MULTIFD_MAGIC } from "../wire/init_packet.ts";
import { QEMU_VM_EOF, QEMU_VM_FILE_MAGIC, QEMU_VM_VMDESCRIPTION } from "../wire/main_stream.ts";
import { WireError } from "../wire/errors.ts";
import { ByteReader } from "./read.ts";
import { type CloseKind, listenTlsServer, type TlsConnection } from "./tls.ts";

const good = pkiDir("good");
const qemus = (await qemuImplementations()).filter((q) =>
  q.name === "qemu-7.2" || q.name === "qemu-10.0"
);
const CHANNELS = 2;
const LIMIT = 64 << 20;

interface Received {
  readonly bytes: Uint8Array;
  readonly end: CloseKind;
  readonly error?: WireError;
}

/** Reads a connection to its end, keeping every plaintext byte. */
async function drain(conn: TlsConnection): Promise<Received> {
  const reader = new ByteReader(conn.readable, { name: conn.name, timeoutMs: 30_000 });
  const chunk = new Uint8Array(256 * 1024);
  const parts: Uint8Array[] = [];
  let total = 0;
  let error: WireError | undefined;
  try {
    for (;;) {
      const n = await reader.read(chunk);
      if (n === null) break;
      parts.push(chunk.slice(0, n));
      total += n;
      if (total > LIMIT) throw new Error(`${conn.name} sent more than ${LIMIT} bytes`);
    }
  } catch (e) {
    if (!(e instanceof WireError)) throw e;
    error = e;
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return { bytes, end: await conn.peerEnded(), error };
}

/** The VM description at the end of a main stream: `… 00 (EOF) 06 be32 len JSON`. */
function vmDescriptionAtEnd(main: Uint8Array): unknown {
  const view = new DataView(main.buffer, main.byteOffset, main.byteLength);
  for (let at = main.length - 6; at > 0; at--) {
    if (main[at] !== QEMU_VM_VMDESCRIPTION || main[at - 1] !== QEMU_VM_EOF) continue;
    if (at + 5 + view.getUint32(at + 1) !== main.length) continue;
    return JSON.parse(new TextDecoder().decode(main.subarray(at + 5)));
  }
  throw new Error(`main stream of ${main.length} bytes does not end with EOF + VM description`);
}

for (const qemu of qemus) {
  // QEMU 10.0 ends multifd TLS channels with gnutls_bye (48796f6b44, multifd_send_shutdown →
  // migration_tls_channel_end); 7.2 closes the socket without it.
  const multifdEnd: CloseKind = qemu.version.startsWith("10.") ? "close_notify" : "abrupt";

  Deno.test(`qemu ${qemu.name} TLS source → net TLS server: whole main stream, multifd ${multifdEnd}`, async () => {
    const signal = AbortSignal.timeout(60_000);
    await using server = await listenTlsServer({
      certFile: `${good}/server-cert.pem`,
      keyFile: `${good}/server-key.pem`,
      caFile: `${good}/ca-cert.pem`,
      verifyPeer: true,
      timeoutMs: 30_000,
    });
    await using src = await qemu.source({
      channels: CHANNELS,
      ram: { mib: 16, seed: 3, density: 0.25 },
      connect: server.endpoint,
      tls: { dir: good, hostname: "localhost" },
      peer: { name: "ts", version: "0.1.0" },
      signal,
    });
    const conns: TlsConnection[] = [];
    try {
      for (let i = 0; i <= CHANNELS; i++) conns.push(await server.accept({ signal }));
      const received = await Promise.all(conns.map(drain));
      const outcome = await src.outcome(signal);
      assert.equal(outcome.status, "completed", outcome.message);

      for (const conn of conns) {
        assert.equal(conn.peer.authorized, true);
        assert.equal(conn.peer.subject, "migwire test client");
        assert.equal(conn.peer.protocol, "TLSv1.2");
      }
      const magic = (r: Received) => new DataView(r.bytes.buffer).getUint32(0);
      // The source completes the main channel's handshake before it opens multifd channels.
      assert.equal(magic(received[0]), QEMU_VM_FILE_MAGIC);
      const main = received[0];
      const vmdesc = vmDescriptionAtEnd(main.bytes) as { devices?: unknown[] };
      assert.ok(Array.isArray(vmdesc.devices), "the VM description lists devices");
      // No version ends the main channel with close_notify: only multifd_send_shutdown() calls
      // migration_tls_channel_end() (10.0+).
      assert.equal(main.end, "abrupt");
      assert.equal(main.error?.errorClass, "E_TLS_PREMATURE_EOF");

      const multifd = received.slice(1);
      assert.deepEqual(multifd.map(magic), [MULTIFD_MAGIC, MULTIFD_MAGIC]);
      assert.deepEqual(multifd.map((r) => decodeInitPacket(r.bytes).id).sort(), [0, 1]);
      for (const r of multifd) {
        assert.equal(r.end, multifdEnd);
        if (multifdEnd === "abrupt") assert.equal(r.error?.errorClass, "E_TLS_PREMATURE_EOF");
        else assert.equal(r.error, undefined);
      }
      console.log(
        `${qemu.name}: main ${main.bytes.length} bytes (${main.end}), multifd ${
          multifd.map((r) => `${r.bytes.length} bytes (${r.end})`).join(", ")
        }`,
      );
    } finally {
      await Promise.all(conns.map((c) => c[Symbol.asyncDispose]()));
    }
  });
}
