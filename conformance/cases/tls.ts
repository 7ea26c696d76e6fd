/**
 * Family `tls`: close_notify on every multifd channel (source), strict and relaxed handling of a
 * channel that ends without it (destination), refusal of untrusted certificates and hostname
 * mismatches (both sides), and a peer that stalls in the handshake (both sides). PKI:
 * `fixtures/pki/`.
 *
 * @module
 */

import { pkiDir } from "../../harness/pki/pki.ts";
import { type Case, type CaseContext, defineCase, type Observation } from "../case.ts";
import { observeOutcome } from "../observe.ts";
import { driveDestination, driveSource, judgeSource, type SourceRun, tlsWith } from "./drive.ts";
import { TLS_BYE, TLS_CLEAN_TERMINATION, TLS_CLIENT, TLS_HANDSHAKE, TLS_SERVER } from "./refs.ts";

/**
 * A credential directory that trusts the good CA but holds the other CA's client certificate: a
 * client the destination must refuse. Removed on dispose.
 */
async function untrustedClientPki(): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "migwire-pki-" });
  const good = pkiDir("good");
  const other = pkiDir("other-ca");
  await Deno.copyFile(`${good}/ca-cert.pem`, `${dir}/ca-cert.pem`);
  for (const name of ["client-cert.pem", "client-key.pem", "server-cert.pem", "server-key.pem"]) {
    await Deno.copyFile(`${other}/${name}`, `${dir}/${name}`);
  }
  return {
    dir,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}

/**
 * A source under test that must refuse the destination (`run` says how the destination
 * misbehaves) before sending any init packet over the channel.
 */
async function sourceRefuses(
  ctx: CaseContext,
  spec: Case,
  run: SourceRun,
): Promise<Observation> {
  const result = await driveSource(ctx, spec, { tls: true, waitMs: 20_000, ...run });
  const observed = observeOutcome(result.source);
  const inits = result.transcript.connections.filter((c) => c.init).length;
  return {
    ...observed,
    ...(inits > 0 && observed.outcome === "rejected"
      ? { violations: [`${inits} init packet(s) sent over an unverified channel`] }
      : {}),
    evidence: { ...observed.evidence, observer: result.destination },
    transcript: result.transcript,
  };
}

const closeNotify: Case[] = [1, 2, 4].map((channels) =>
  defineCase({
    id: `multifd.tls.close-notify.ch${channels}`,
    family: "tls",
    requirement:
      "A source MUST end every multifd TLS channel with close_notify (a QEMU ≥ 10.0 destination treats a missing one as an error by default).",
    level: "MUST",
    refs: [TLS_BYE, TLS_CLEAN_TERMINATION],
    role: "source",
    transport: "tls",
    channels,
    expected: { kind: "accept" },
    representative: channels === 2,
    async run(ctx) {
      const result = await driveSource(ctx, this, { tls: true });
      return judgeSource(result, (t) => {
        const multifd = t.connections.filter((c) => c.kind === "multifd");
        if (multifd.length === 0) return ["no multifd channel arrived"];
        return multifd.filter((c) => c.end !== "close_notify").map((c) =>
          `channel ${c.init?.id ?? c.index} ended ${c.end}${
            c.errorClass ? ` (${c.errorClass})` : ""
          }, expected close_notify`
        );
      });
    },
  })
);

const destinationEof: Case[] = [
  defineCase({
    id: "multifd.tls.strict-rejects-abrupt",
    family: "tls",
    requirement:
      "A strict TLS destination MUST fail the migration when a multifd channel ends without close_notify.",
    level: "MUST",
    refs: [TLS_CLEAN_TERMINATION],
    role: "destination",
    transport: "tls",
    channels: 2,
    expected: { kind: "reject", errorClass: "E_TLS_PREMATURE_EOF" },
    representative: true,
    run(ctx) {
      return driveDestination(ctx, this, {
        full: true,
        tls: { ...tlsWith(), eof: "strict" },
        sourceTls: { ...tlsWith(), close: "abrupt" },
      });
    },
  }),
  defineCase({
    id: "multifd.tls.relaxed-accepts-abrupt",
    family: "tls",
    requirement:
      "A relaxed TLS destination (multifd-clean-tls-termination=false) MUST accept multifd channels that end without close_notify at a packet boundary.",
    level: "MUST",
    refs: [TLS_CLEAN_TERMINATION],
    role: "destination",
    transport: "tls",
    channels: 2,
    expected: { kind: "accept" },
    run(ctx) {
      return driveDestination(ctx, this, {
        full: true,
        tls: { ...tlsWith(), eof: "relaxed" },
        sourceTls: { ...tlsWith(), close: "abrupt" },
      });
    },
  }),
  defineCase({
    id: "multifd.tls.strict-accepts-clean",
    family: "tls",
    requirement:
      "A strict TLS destination MUST accept multifd channels that end with close_notify.",
    level: "MUST",
    refs: [TLS_BYE],
    role: "destination",
    transport: "tls",
    channels: 2,
    expected: { kind: "accept" },
    run(ctx) {
      return driveDestination(ctx, this, {
        full: true,
        tls: { ...tlsWith(), eof: "strict" },
        sourceTls: { ...tlsWith(), close: "clean" },
      });
    },
  }),
];

const certificates: Case[] = [
  defineCase({
    id: "multifd.tls.untrusted-client-cert",
    family: "tls",
    requirement:
      "A TLS destination (verify-peer) MUST refuse a source whose client certificate is not signed by its CA.",
    level: "MUST",
    refs: [TLS_SERVER],
    role: "destination",
    transport: "tls",
    channels: 2,
    expected: { kind: "reject", errorClass: "E_TLS" },
    representative: true,
    async run(ctx) {
      await using pki = await untrustedClientPki();
      return await driveDestination(ctx, this, {
        tls: true,
        sourceTls: { dir: pki.dir, hostname: "localhost" },
        waitMs: 15_000,
      });
    },
  }),
  defineCase({
    id: "multifd.tls.untrusted-server-cert",
    family: "tls",
    requirement:
      "A TLS source MUST refuse a destination whose certificate is not signed by its CA, before sending any init packet.",
    level: "MUST",
    refs: [TLS_CLIENT],
    role: "source",
    transport: "tls",
    channels: 2,
    expected: { kind: "reject", errorClass: "E_TLS" },
    run(ctx) {
      return sourceRefuses(ctx, this, { destinationTls: tlsWith("other-ca") });
    },
  }),
  defineCase({
    id: "multifd.tls.hostname-mismatch",
    family: "tls",
    requirement:
      "A TLS source MUST refuse a destination whose certificate does not match tls-hostname, before sending any init packet.",
    level: "MUST",
    refs: [TLS_CLIENT],
    role: "source",
    transport: "tls",
    channels: 2,
    expected: { kind: "reject", errorClass: "E_TLS" },
    representative: true,
    run(ctx) {
      return sourceRefuses(ctx, this, { destinationTls: tlsWith("wrong-name") });
    },
  }),
];

const STALL_HOLD_MS = 60_000;
/** Long enough for the TypeScript sides' handshake bound (`DEFAULT_HANDSHAKE_TIMEOUT_MS`, 10 s). */
const STALL_WAIT_MS = 15_000;

const handshakeStalls: Case[] = [
  defineCase({
    id: "multifd.tls.stalled-handshake",
    family: "tls",
    requirement:
      "A TLS destination MUST keep its control plane answering while a channel has sent part of its ClientHello and stalls, and drop that channel after a bounded wait.",
    level: "MUST",
    refs: [TLS_HANDSHAKE, TLS_SERVER],
    role: "destination",
    transport: "tls",
    channels: 2,
    expected: { kind: "reject", errorClass: "E_TIMEOUT" },
    run(ctx) {
      // The main channel and channel 0 complete their handshakes; channel 1 sends a record header
      // announcing a ClientHello and nothing more.
      return driveDestination(ctx, this, {
        tls: true,
        script: { inits: { 1: { tlsStallAt: 5 } }, holdMs: STALL_HOLD_MS },
        waitMs: STALL_WAIT_MS,
      });
    },
  }),
  defineCase({
    id: "multifd.tls.destination-stalls-handshake",
    family: "tls",
    requirement:
      "A TLS source MUST keep its control plane answering while the destination accepts the connection and never answers its ClientHello, and fail the migration after a bounded wait.",
    level: "MUST",
    refs: [TLS_HANDSHAKE, TLS_CLIENT],
    role: "source",
    transport: "tls",
    channels: 2,
    expected: { kind: "reject", errorClass: "E_TIMEOUT" },
    run(ctx) {
      return sourceRefuses(ctx, this, { stallTlsHandshakes: true, waitMs: STALL_WAIT_MS });
    },
  }),
];

/** The `tls` family. */
export const tlsCases: Case[] = [
  ...closeNotify,
  ...destinationEof,
  ...certificates,
  ...handshakeStalls,
];
