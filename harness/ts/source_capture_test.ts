import assert from "node:assert/strict";
import { decodePacket, type PacketLayout } from "../wire/packet.ts";
import { INIT_PACKET_SIZE } from "../wire/init_packet.ts";
import { PAGE_SIZE } from "../ram/pattern.ts";
import { startTsSource } from "./source.ts";
import { PACKET_HEADER_LENGTH } from "./src_packer.ts";
import { Recorder } from "./src_testing.ts";

const CAPTURES = new URL("../../fixtures/captures/", import.meta.url);

interface CaptureManifest {
  readonly uuid: string;
  readonly channels: number;
  readonly ram: { readonly mib: number; readonly seed: number; readonly density: number };
  readonly connections: { readonly kind: string; readonly src: { readonly file: string } }[];
}

/** Every packet of a channel as text: header fields, `offset[]` and a digest-free payload check. */
function packets(bytes: Uint8Array, layout: PacketLayout): { text: string; sync: boolean }[] {
  const out: { text: string; sync: boolean }[] = [];
  for (let at = INIT_PACKET_SIZE; at < bytes.length;) {
    const p = decodePacket(layout, bytes, at);
    const payload = bytes.subarray(
      at + PACKET_HEADER_LENGTH,
      at + PACKET_HEADER_LENGTH + p.normalPages * PAGE_SIZE,
    );
    let sum = 0;
    for (let i = 0; i < payload.length; i += 64) sum = (sum * 31 + payload[i]) >>> 0;
    out.push({
      text: `${p.pagesAlloc}/${p.normalPages}/${p.zeroPages}/${p.nextPacketSize}/${p.ramBlock}/` +
        `${[...p.offsets].join(",")}/${sum}`,
      sync: (p.flags & 1) !== 0,
    });
    at += PACKET_HEADER_LENGTH + p.normalPages * PAGE_SIZE;
  }
  return out;
}

for (const [version, layout] of [["10.0", "v10.0"], ["7.2", "v7.2"]] as const) {
  Deno.test(`ts source reproduces the QEMU ${version} capture of the same RAM`, async () => {
    const dir = new URL(`qemu-${version}-plain-2/`, CAPTURES);
    const manifest: CaptureManifest = JSON.parse(
      await Deno.readTextFile(new URL("manifest.json", dir)),
    );
    const captured = await Promise.all(
      manifest.connections.map((c) => Deno.readFile(new URL(c.src.file, dir))),
    );
    const signal = AbortSignal.timeout(20_000);
    await using recorder = new Recorder();
    await using source = await startTsSource({
      channels: manifest.channels,
      uuid: manifest.uuid,
      ram: manifest.ram,
      targetVersion: version,
      connect: recorder.endpoint,
      signal,
    });
    assert.equal((await source.outcome(signal)).status, "completed");
    const ours = await recorder.connections(manifest.channels + 1, signal);

    const mainIndex = manifest.connections.findIndex((c) => c.kind === "main");
    assert.deepEqual(ours[0].bytes, captured[mainIndex], "main stream byte for byte");
    for (let i = 1; i <= manifest.channels; i++) {
      const id = ours[i].bytes[24];
      const theirs = captured.find((bytes, k) =>
        manifest.connections[k].kind === "multifd" && bytes[24] === id
      )!;
      assert.deepEqual(
        ours[i].bytes.subarray(0, INIT_PACKET_SIZE),
        theirs.subarray(0, INIT_PACKET_SIZE),
      );
    }

    // Which channel a packet takes depends on timing; the packets themselves must match.
    const multifd = (all: Uint8Array[]) => all.flatMap((bytes) => packets(bytes, layout));
    const mine = multifd(ours.slice(1).map((c) => c.bytes));
    const qemus = multifd(captured.filter((_, k) => manifest.connections[k].kind === "multifd"));
    const ram = (list: { text: string; sync: boolean }[]) =>
      list.filter((p) => !p.text.startsWith("128/0/0/") && !p.text.startsWith("0/0/0/"))
        .map((p) => p.text).sort();
    assert.deepEqual(ram(mine), ram(qemus), "RAM packets");
    const syncs = (list: { sync: boolean }[]) => list.filter((p) => p.sync).length;
    assert.equal(syncs(mine), syncs(qemus), "SYNC packets");
    if (version === "10.0") {
      assert.deepEqual(mine.map((p) => p.text).sort(), qemus.map((p) => p.text).sort());
    }
    // QEMU 7.2 may send the last pages on the SYNC packet and then an empty packet (a race in
    // multifd_send_sync_main, spec §4.1); migwire sends them apart, which 7.2 also does.
  });
}
