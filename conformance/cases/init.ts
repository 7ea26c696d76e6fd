/**
 * Family `init` (source under test, observed by the TypeScript observing destination): what every
 * channel starts with. The main channel starts with `QEVM` and stream version 3; every multifd
 * channel starts with a 64-byte `MultiFDInit_t` with the multifd magic, version 1, the VM's UUID, an
 * id in 0..N-1 used once, and zero reserved bytes.
 *
 * @module
 */

import { MULTIFD_MAGIC, MULTIFD_VERSION } from "../../harness/wire/init_packet.ts";
import { QEMU_VM_FILE_MAGIC, QEMU_VM_FILE_VERSION } from "../../harness/wire/main_stream.ts";
import { NIL_UUID_TEXT } from "../../harness/wire/uuid.ts";
import { type Case, defineCase, type Level, type Ref, type Transport } from "../case.ts";
import type { DestinationTranscript, ObservedConnection } from "../harness.ts";
import { expectedRamSha256 } from "../observe.ts";
import { driveSource, judgeSource, RAM, type SourceRunResult, VM_UUID } from "./drive.ts";
import { RECV_SYNC, SAVEVM_HEADER, SEND_INIT } from "./refs.ts";

const hex = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;

function multifd(t: DestinationTranscript): ObservedConnection[] {
  return t.connections.filter((c) => c.kind === "multifd");
}

/** Each multifd channel's init, or a violation when there is none to check. */
function eachInit(
  t: DestinationTranscript,
  check: (c: ObservedConnection, init: NonNullable<ObservedConnection["init"]>) => string | void,
): string[] {
  const channels = multifd(t);
  if (channels.length === 0) return ["no multifd channel arrived"];
  const out: string[] = [];
  for (const c of channels) {
    if (!c.init) {
      out.push(`connection ${c.index}: no complete 64-byte init packet (${c.bytes} bytes)`);
      continue;
    }
    const problem = check(c, c.init);
    if (problem) out.push(`connection ${c.index}: ${problem}`);
  }
  return out;
}

interface InitCheck {
  readonly name: string;
  readonly requirement: string;
  readonly level: Level;
  readonly refs: readonly Ref[];
  readonly channels?: number;
  readonly transports: readonly Transport[];
  /** `-uuid` on both sides; `null` for none. */
  readonly uuid?: string | null;
  readonly representative?: boolean;
  readonly check: (t: DestinationTranscript, r: SourceRunResult) => string[] | Promise<string[]>;
}

const checks: InitCheck[] = [
  {
    name: "main-header",
    requirement:
      "The main channel MUST start with QEMU_VM_FILE_MAGIC (QEVM, 0x5145564d) and QEMU_VM_FILE_VERSION 3.",
    level: "MUST",
    refs: [SAVEVM_HEADER],
    transports: ["plain", "tls"],
    representative: true,
    check: (t) => {
      const main = t.connections.filter((c) => c.kind === "main");
      if (main.length !== 1) return [`${main.length} main channels, expected 1`];
      if (!t.main) return [`main channel (${main[0].bytes} bytes) did not decode a header`];
      const out: string[] = [];
      if (t.main.magic !== QEMU_VM_FILE_MAGIC) {
        out.push(`main.magic ${hex(t.main.magic)}, expected ${hex(QEMU_VM_FILE_MAGIC)}`);
      }
      if (t.main.version !== QEMU_VM_FILE_VERSION) {
        out.push(`main.version ${t.main.version}, expected ${QEMU_VM_FILE_VERSION}`);
      }
      return out;
    },
  },
  {
    name: "channel-count",
    requirement:
      "A source configured with N multifd channels MUST open exactly N multifd connections, each starting with a 64-byte init packet.",
    level: "MUST",
    refs: [SEND_INIT],
    channels: 4,
    transports: ["plain", "tls"],
    check: (t) => {
      const channels = multifd(t);
      const out = channels.length === 4 ? [] : [`${channels.length} multifd channels, expected 4`];
      for (const c of channels) {
        if (!c.init) out.push(`connection ${c.index}: ${c.bytes} bytes, no complete init packet`);
      }
      const unknown = t.connections.filter((c) => c.kind === "unknown");
      if (unknown.length > 0) out.push(`${unknown.length} connection(s) not classified`);
      return out;
    },
  },
  {
    name: "magic",
    requirement: "Every multifd init packet MUST carry MULTIFD_MAGIC 0x11223344 (big-endian).",
    level: "MUST",
    refs: [SEND_INIT],
    transports: ["plain", "tls"],
    representative: true,
    check: (t) =>
      eachInit(
        t,
        (_, i) =>
          i.magic === MULTIFD_MAGIC
            ? undefined
            : `init.magic ${hex(i.magic)}, expected ${hex(MULTIFD_MAGIC)}`,
      ),
  },
  {
    name: "version",
    requirement: "Every multifd init packet MUST carry MULTIFD_VERSION 1.",
    level: "MUST",
    refs: [SEND_INIT],
    transports: ["plain", "tls"],
    check: (t) =>
      eachInit(
        t,
        (_, i) =>
          i.version === MULTIFD_VERSION
            ? undefined
            : `init.version ${i.version}, expected ${MULTIFD_VERSION}`,
      ),
  },
  {
    name: "uuid",
    requirement:
      "Every multifd init packet MUST carry the VM's UUID (-uuid) in RFC 4122 byte order.",
    level: "MUST",
    refs: [SEND_INIT],
    transports: ["plain", "tls"],
    check: (t) =>
      eachInit(
        t,
        (_, i) => i.uuid === VM_UUID ? undefined : `init.uuid ${i.uuid}, expected ${VM_UUID}`,
      ),
  },
  {
    name: "uuid-unset",
    requirement: "Without -uuid, every multifd init packet MUST carry the all-zero UUID.",
    level: "MUST",
    refs: [SEND_INIT],
    uuid: null,
    transports: ["plain"],
    check: (t) =>
      eachInit(
        t,
        (_, i) =>
          i.uuid === NIL_UUID_TEXT ? undefined : `init.uuid ${i.uuid}, expected ${NIL_UUID_TEXT}`,
      ),
  },
  ...[1, 3, 8].map((n): InitCheck => ({
    name: `ids.ch${n}`,
    requirement: `With ${n} channel(s), the init packets MUST carry the ids 0..${
      n - 1
    }, each exactly once.`,
    level: "MUST",
    refs: [SEND_INIT],
    channels: n,
    transports: n === 3 ? ["plain", "tls"] : ["plain"],
    representative: n === 3,
    check: (t) => {
      const ids = multifd(t).flatMap((c) => c.init ? [c.init.id] : []).sort((a, b) => a - b);
      const want = Array.from({ length: n }, (_, i) => i);
      return ids.join(",") === want.join(",")
        ? []
        : [`init ids [${ids.join(", ")}], expected [${want.join(", ")}]`];
    },
  })),
  {
    name: "reserved-zero",
    requirement: "The reserved bytes of every init packet (unused1, unused2) SHOULD be zero.",
    level: "SHOULD",
    refs: [SEND_INIT],
    transports: ["plain", "tls"],
    check: (t) =>
      eachInit(
        t,
        (_, i) =>
          i.reservedNonZero.length === 0
            ? undefined
            : `non-zero reserved bytes at offsets ${i.reservedNonZero.join(", ")}`,
      ),
  },
  {
    name: "sync-every-channel",
    requirement:
      "At every sync point the source MUST send one SYNC packet on every multifd channel (the destination waits for all of them).",
    level: "MUST",
    refs: [RECV_SYNC],
    channels: 3,
    transports: ["plain"],
    check: (t) => {
      const out: string[] = [];
      for (const c of multifd(t)) {
        if ((c.syncs ?? 0) < 1) out.push(`channel ${c.init?.id ?? c.index}: no SYNC packet`);
      }
      const counts = new Set(multifd(t).map((c) => c.syncs ?? 0));
      if (counts.size > 1) {
        out.push(`SYNC counts differ between channels: ${[...counts].join(", ")}`);
      }
      return multifd(t).length === 0 ? ["no multifd channel arrived"] : out;
    },
  },
  {
    name: "migration-completes",
    requirement:
      "The source MUST complete the migration with the destination's RAM equal to its own.",
    level: "MUST",
    refs: [SEND_INIT, RECV_SYNC],
    transports: ["plain", "tls"],
    representative: true,
    check: async (_, r) => {
      const out: string[] = [];
      if (r.source.status !== "completed") {
        out.push(`source ${r.source.status}${r.source.message ? `: ${r.source.message}` : ""}`);
      }
      if (r.destination.status !== "completed") {
        out.push(
          `observing destination ${r.destination.status}${
            r.destination.message ? `: ${r.destination.message}` : ""
          }`,
        );
      } else if (r.destination.ramSha256 !== await expectedRamSha256(RAM)) {
        out.push("destination RAM differs from the pattern the source was seeded with");
      }
      return out;
    },
  },
];

/** The `init` family. */
export const initCases: Case[] = checks.flatMap((spec) =>
  spec.transports.map((transport) => {
    const channels = spec.channels ?? 2;
    const tls = transport === "tls";
    return defineCase({
      id: `multifd.init.${spec.name}${tls ? ".tls" : ""}`,
      family: "init",
      requirement: spec.requirement,
      level: spec.level,
      refs: spec.refs,
      role: "source",
      transport,
      channels,
      expected: { kind: "accept" },
      representative: spec.representative && !tls,
      async run(ctx) {
        const result = await driveSource(ctx, this, { uuid: spec.uuid, tls });
        const violations = await spec.check(result.transcript, result);
        return judgeSource(result, () => violations);
      },
    });
  })
);
