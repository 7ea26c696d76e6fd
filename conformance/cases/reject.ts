/**
 * Family `reject` (destination under test, scripted TypeScript source): a destination refuses a
 * multifd channel whose init packet is wrong, with a clear error, and stays alive and answering;
 * and accepts what is right (positive controls).
 *
 * @module
 */

import { INIT_PACKET_SIZE } from "../../harness/wire/init_packet.ts";
import type { ErrorClass } from "../../harness/wire/errors.ts";
import { type Case, defineCase, type Level, type Ref, type Transport } from "../case.ts";
import type { InitOverride, SourceScript } from "../harness.ts";
import { driveDestination, VM_UUID } from "./drive.ts";
import {
  CHANNEL_ERROR_REPORTED,
  READ_PEEK,
  RECV_INIT,
  RECV_INIT_ID_MESSAGE,
  RECV_NEW_CHANNEL,
} from "./refs.ts";

const CHANNELS = 2;
/** The channel that carries the bad init: the last one, after a good one was set up. */
const BAD = CHANNELS - 1;

interface RejectSpec {
  readonly name: string;
  readonly requirement: string;
  readonly level?: Level;
  readonly refs: readonly Ref[];
  readonly errorClass: ErrorClass;
  readonly script: SourceScript;
  readonly uuid?: string | null;
  readonly sourceUuid?: string | null;
  readonly transports?: readonly Transport[];
  readonly representative?: boolean;
  readonly waitMs?: number;
}

const bad = (init: InitOverride): SourceScript => ({ inits: { [BAD]: init }, stopAfterInit: true });

const OTHER_FIRST = "ff345678-9abc-def0-1122-334455667788";
const OTHER_LAST = "12345678-9abc-def0-1122-3344556677ff";

const rejects: RejectSpec[] = [
  ...[0x00000000, 0xdeadbeef, 0x44332211, 0x11223345].map((magic): RejectSpec => ({
    name: `magic.${magic.toString(16).padStart(8, "0")}`,
    requirement:
      "A destination MUST refuse a multifd channel whose init magic is not 0x11223344, naming the magic.",
    refs: [RECV_INIT, CHANNEL_ERROR_REPORTED],
    errorClass: "E_MAGIC",
    script: bad({ magic }),
    transports: magic === 0xdeadbeef ? ["plain", "tls"] : ["plain"],
    representative: magic === 0xdeadbeef,
  })),
  ...[0, 2, 0xffffffff].map((version): RejectSpec => ({
    name: `version.${version}`,
    requirement: "A destination MUST refuse a multifd channel whose init version is not 1.",
    refs: [RECV_INIT, CHANNEL_ERROR_REPORTED],
    errorClass: "E_VERSION",
    script: bad({ version }),
  })),
  {
    name: "uuid-mismatch.first-byte",
    requirement:
      "A destination MUST refuse a multifd channel whose UUID differs from its own -uuid (first byte differs).",
    refs: [RECV_INIT, CHANNEL_ERROR_REPORTED],
    errorClass: "E_UUID",
    script: bad({ uuid: OTHER_FIRST }),
    transports: ["plain", "tls"],
    representative: true,
  },
  {
    name: "uuid-mismatch.last-byte",
    requirement:
      "A destination MUST refuse a multifd channel whose UUID differs from its own -uuid (last byte differs).",
    refs: [RECV_INIT, CHANNEL_ERROR_REPORTED],
    errorClass: "E_UUID",
    script: bad({ uuid: OTHER_LAST }),
  },
  {
    name: "uuid-mismatch.source-set",
    requirement:
      "A destination without -uuid (all zeros) MUST refuse a multifd channel that carries a UUID.",
    refs: [RECV_INIT, CHANNEL_ERROR_REPORTED],
    errorClass: "E_UUID",
    uuid: null,
    sourceUuid: VM_UUID,
    script: { stopAfterInit: true },
  },
  {
    name: "uuid-mismatch.source-unset",
    requirement:
      "A destination with -uuid MUST refuse multifd channels that carry the all-zero UUID.",
    refs: [RECV_INIT, CHANNEL_ERROR_REPORTED],
    errorClass: "E_UUID",
    sourceUuid: null,
    script: { stopAfterInit: true },
  },
  {
    name: "id-equals-channels",
    requirement:
      "A destination MUST refuse a multifd channel whose id equals the channel count N (valid ids are 0..N-1).",
    refs: [RECV_INIT, RECV_INIT_ID_MESSAGE],
    errorClass: "E_CHANNEL_ID",
    script: bad({ id: CHANNELS }),
    representative: true,
  },
  {
    name: "id-above-channels",
    requirement: "A destination MUST refuse a multifd channel whose id is above N.",
    refs: [RECV_INIT, RECV_INIT_ID_MESSAGE],
    errorClass: "E_CHANNEL_ID",
    script: bad({ id: CHANNELS + 1 }),
  },
  {
    name: "id-255",
    requirement: "A destination MUST refuse a multifd channel with id 255.",
    refs: [RECV_INIT, RECV_INIT_ID_MESSAGE],
    errorClass: "E_CHANNEL_ID",
    script: bad({ id: 255 }),
  },
  {
    name: "duplicate-id",
    requirement: "A destination MUST refuse a second multifd channel with an id already set up.",
    refs: [RECV_NEW_CHANNEL],
    errorClass: "E_DUPLICATE_ID",
    script: { inits: { [BAD]: { id: 0 } }, stopAfterInit: true },
    representative: true,
  },
  ...[0, 1, 32, INIT_PACKET_SIZE - 1].map((k): RejectSpec => ({
    name: `truncated.${k}`,
    requirement:
      `A destination MUST refuse a multifd channel that closes after ${k} byte(s) of its init packet.`,
    refs: [RECV_INIT, READ_PEEK],
    errorClass: "E_TRUNCATED",
    script: bad({ truncateAt: k }),
    transports: k === 32 ? ["plain", "tls"] : ["plain"],
  })),
  {
    name: "stalled-init",
    requirement:
      "A destination MUST keep its control plane answering while a multifd channel has sent part of its init packet and stalls, and drop that channel after a bounded wait.",
    refs: [RECV_INIT, READ_PEEK],
    errorClass: "E_TIMEOUT",
    script: { inits: { [BAD]: { stallAt: 8 } }, stopAfterInit: true, holdMs: 60_000 },
    waitMs: 40_000,
    representative: true,
  },
];

interface AcceptSpec {
  readonly name: string;
  readonly requirement: string;
  readonly refs: readonly Ref[];
  readonly script?: SourceScript;
  readonly uuid?: string | null;
  readonly channels?: number;
}

const controls: AcceptSpec[] = [
  {
    name: "control.uuid-match",
    requirement: "A destination MUST accept multifd channels whose UUID matches its own -uuid.",
    refs: [RECV_INIT],
  },
  {
    name: "control.uuid-unset",
    requirement: "A destination without -uuid MUST accept channels carrying the all-zero UUID.",
    refs: [RECV_INIT],
    uuid: null,
  },
  {
    name: "control.ids-reversed",
    requirement:
      "A destination MUST accept multifd init packets whose ids arrive in any order (it indexes channels by id).",
    refs: [RECV_NEW_CHANNEL],
    channels: 3,
    script: { inits: { 0: { id: 2 }, 2: { id: 0 } } },
  },
  {
    name: "control.reserved-nonzero",
    requirement:
      "A destination SHOULD ignore non-zero reserved bytes in the init packet (QEMU never reads them).",
    refs: [RECV_INIT],
    script: { inits: { 0: { unused1: new Uint8Array(7).fill(0xa5) } } },
  },
];

/** The `reject` family: negative cases plus positive controls. */
export const rejectCases: Case[] = [
  ...rejects.flatMap((spec) =>
    (spec.transports ?? ["plain"]).map((transport) =>
      defineCase({
        id: `multifd.reject.${spec.name}${transport === "tls" ? ".tls" : ""}`,
        family: "reject",
        requirement: spec.requirement,
        level: spec.level ?? "MUST",
        refs: spec.refs,
        role: "destination",
        transport,
        channels: CHANNELS,
        expected: { kind: "reject", errorClass: spec.errorClass },
        representative: spec.representative && transport === "plain",
        ...(spec.waitMs ? { timeoutMs: spec.waitMs + 30_000 } : {}),
        run(ctx) {
          return driveDestination(ctx, this, {
            script: spec.script,
            uuid: spec.uuid,
            sourceUuid: spec.sourceUuid,
            tls: transport === "tls",
            ...(spec.waitMs ? { waitMs: spec.waitMs } : {}),
          });
        },
      })
    )
  ),
  ...controls.map((spec) =>
    defineCase({
      id: `multifd.reject.${spec.name}`,
      family: "reject",
      requirement: spec.requirement,
      level: spec.name.includes("reserved") ? "SHOULD" : "MUST",
      refs: spec.refs,
      role: "destination",
      transport: "plain",
      channels: spec.channels ?? CHANNELS,
      expected: { kind: "accept" },
      representative: spec.name === "control.uuid-match",
      run(ctx) {
        return driveDestination(ctx, this, {
          full: true,
          uuid: spec.uuid,
          ...(spec.script ? { script: spec.script } : {}),
        });
      },
    })
  ),
];
