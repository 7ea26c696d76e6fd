import assert from "node:assert/strict";
import type { TlsOptions } from "../implementation.ts";
import { pkiDir } from "../pki/pki.ts";
import type { ErrorClass } from "../wire/errors.ts";
import { startTsDestination } from "./destination.ts";
import { startTsSource } from "./source.ts";
import type { SourceScript } from "./source_options.ts";

const UUID = "12345678-9abc-def0-1122-334455667788";
const QEVM_HEADER = Uint8Array.of(0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3);

Deno.test("ts source → ts destination completes with matching RAM digests", async (t) => {
  for (const transport of ["plain", "tls"] as const) {
    for (const channels of [1, 2, 8]) {
      await t.step(`${transport}, ${channels} channel(s)`, async () => {
        const ram = { mib: 16, seed: 70 + channels, density: 0.25 };
        const tls = transport === "tls" ? { dir: pkiDir("good") } : undefined;
        const signal = AbortSignal.timeout(30_000);
        await using dst = await startTsDestination({ channels, ram, uuid: UUID, tls, signal });
        await using src = await startTsSource({
          channels,
          ram,
          uuid: UUID,
          tls,
          connect: dst.endpoint,
          signal,
        });
        const [srcOutcome, dstOutcome] = await Promise.all([
          src.outcome(signal),
          dst.outcome(signal),
        ]);
        assert.equal(srcOutcome.status, "completed", srcOutcome.message);
        assert.equal(dstOutcome.status, "completed", dstOutcome.message);
        assert.equal(dstOutcome.ramSha256, srcOutcome.ramSha256);
        // Each side's process CPU over its span (here one process runs both sides).
        for (const outcome of [srcOutcome, dstOutcome]) {
          const cpu = outcome.evidence?.transferCpuSeconds;
          assert.ok(typeof cpu === "number" && cpu > 0 && cpu < 60, `transferCpuSeconds ${cpu}`);
        }
        assert.equal(dstOutcome.evidence?.transferSeconds, dstOutcome.seconds);
        assert.ok(dstOutcome.seconds! > 0, `destination seconds ${dstOutcome.seconds}`);
        const multifd = dst.transcript().connections.filter((c) => c.kind === "multifd");
        assert.deepEqual(
          multifd.map((c) => c.end),
          multifd.map(() => tls ? "close_notify" : "fin"),
        );
      });
    }
  }
});

interface RejectCase {
  readonly name: string;
  readonly expected: ErrorClass;
  readonly message?: RegExp;
  readonly script?: SourceScript;
  readonly sourceUuid?: string;
  readonly tls?: { readonly source: TlsOptions; readonly destination: TlsOptions };
}

const cases: RejectCase[] = [
  {
    name: "init magic",
    expected: "E_MAGIC",
    message: /init\.magic; received 0xdeadbeef/,
    script: { inits: { 1: { magic: 0xdeadbeef } }, stopAfterInit: true },
  },
  {
    name: "init version",
    expected: "E_VERSION",
    script: { inits: { 0: { version: 2 } }, stopAfterInit: true },
  },
  {
    name: "init uuid",
    expected: "E_UUID",
    message: /received 01020304-0506-0708-090a-0b0c0d0e0f10/,
    sourceUuid: "01020304-0506-0708-090a-0b0c0d0e0f10",
    script: { stopAfterInit: true },
  },
  {
    name: "init id equal to the channel count (QEMU's off-by-one)",
    expected: "E_CHANNEL_ID",
    script: { inits: { 1: { id: 2 } }, stopAfterInit: true },
  },
  {
    name: "duplicate id on an extra channel",
    expected: "E_DUPLICATE_ID",
    script: { extraChannels: [{ id: 0 }], stopAfterInit: true },
  },
  {
    name: "init cut after 10 bytes",
    expected: "E_TRUNCATED",
    script: { inits: { 0: { truncateAt: 10 } } },
  },
  {
    name: "a second connection starting with QEVM",
    expected: "E_UNKNOWN_CHANNEL",
    script: { extraChannels: [{ raw: QEVM_HEADER }], stopAfterInit: true },
  },
  {
    name: "init stalled after 10 bytes",
    expected: "E_TIMEOUT",
    script: { inits: { 1: { stallAt: 10 } } },
  },
  {
    name: "packet magic",
    expected: "E_MAGIC",
    message: /packet\.magic/,
    script: { mutations: [{ mutation: { kind: "magic" } }] },
  },
  {
    name: "packet version",
    expected: "E_VERSION",
    script: { mutations: [{ channel: 1, mutation: { kind: "version" } }] },
  },
  {
    name: "packet pages_alloc over the limit",
    expected: "E_PACKET",
    message: /pages_alloc/,
    script: { mutations: [{ mutation: { kind: "pages-alloc" } }] },
  },
  {
    name: "packet normal_pages over the limit",
    expected: "E_PACKET",
    message: /normal_pages/,
    script: { mutations: [{ mutation: { kind: "normal-pages" } }] },
  },
  {
    name: "packet zero_pages over the limit",
    expected: "E_PACKET",
    message: /zero_pages/,
    script: { mutations: [{ mutation: { kind: "zero-pages" } }] },
  },
  {
    name: "packet offset past the RAM block",
    expected: "E_PACKET",
    message: /offset/,
    script: { mutations: [{ mutation: { kind: "offset" } }] },
  },
  {
    name: "packet naming an unknown RAM block",
    expected: "E_PACKET",
    message: /no-such-block/,
    script: { mutations: [{ mutation: { kind: "ramblock" } }] },
  },
  {
    name: "packet payload cut short",
    expected: "E_TRUNCATED",
    script: { mutations: [{ mutation: { kind: "truncate-payload" } }] },
  },
  {
    name: "TLS channels closed without close_notify",
    expected: "E_TLS_PREMATURE_EOF",
    tls: {
      source: { dir: pkiDir("good"), close: "abrupt" },
      destination: { dir: pkiDir("good"), eof: "strict" },
    },
  },
];

Deno.test("ts source → ts destination: every scripted fault is rejected with its class", async (t) => {
  for (const c of cases) {
    await t.step(`${c.name} → ${c.expected}`, async () => {
      const channels = 2;
      const ram = { mib: 4, seed: 5, density: 0.5 };
      const signal = AbortSignal.timeout(20_000);
      await using dst = await startTsDestination({
        channels,
        ram,
        uuid: UUID,
        tls: c.tls?.destination,
        readTimeoutMs: 1_000,
        signal,
      });
      await using src = await startTsSource({
        channels,
        ram,
        uuid: c.sourceUuid ?? UUID,
        tls: c.tls?.source,
        connect: dst.endpoint,
        script: { holdMs: 5_000, ...c.script },
        timeoutMs: 5_000,
        signal,
      });
      const dstOutcome = await dst.outcome(signal);
      const srcOutcome = await src.outcome(signal);
      assert.equal(dstOutcome.status === "completed", false, "the destination must not complete");
      assert.equal(dstOutcome.errorClass, c.expected, dstOutcome.message);
      if (c.message) assert.match(dstOutcome.message ?? "", c.message);
      if (!c.tls) assert.notEqual(srcOutcome.status, "completed");
    });
  }
});
