/**
 * Family `packet` (destination under test, scripted source mutating the first page-carrying packet
 * of channel 0): a destination rejects a malformed multifd packet with a class, never crashes, never
 * reads past what it checked.
 *
 * @module
 */

import type { ImplementationInfo } from "../../harness/implementation.ts";
import { wireVersionOf } from "../../harness/qemu/knobs.ts";
import type { ErrorClass } from "../../harness/wire/errors.ts";
import { type Case, defineCase, type Ref } from "../case.ts";
import type { PacketMutation } from "../harness.ts";
import { driveDestination, RAM } from "./drive.ts";
import { LOADVM_CHECKS_ERROR, RECV_UNFILL } from "./refs.ts";

interface PacketSpec {
  readonly name: string;
  readonly requirement: string;
  readonly mutation: PacketMutation;
  readonly errorClass: ErrorClass;
  readonly refs?: readonly Ref[];
  /** Only destinations whose packet layout has the field. */
  readonly appliesTo?: (subject: ImplementationInfo) => boolean;
  readonly representative?: boolean;
}

const hasZeroPages = (subject: ImplementationInfo): boolean =>
  Number(wireVersionOf(subject).split(".")[0]) >= 9;

const RAM_BYTES = RAM.mib * 1024 * 1024;

const specs: PacketSpec[] = [
  {
    name: "magic",
    requirement: "A destination MUST reject a multifd packet whose magic is not 0x11223344.",
    mutation: { kind: "magic", value: 0xdeadbeef },
    errorClass: "E_MAGIC",
    representative: true,
  },
  {
    name: "version",
    requirement: "A destination MUST reject a multifd packet whose version is not 1.",
    mutation: { kind: "version", value: 2 },
    errorClass: "E_VERSION",
  },
  ...[129, 0xffffffff].map((value): PacketSpec => ({
    name: `pages-alloc.${value.toString(16)}`,
    requirement:
      `A destination MUST reject a packet whose pages_alloc (${value}) exceeds the page count (128 on x86) before allocating anything from it.`,
    mutation: { kind: "pages-alloc", value },
    errorClass: "E_PACKET",
    representative: value === 0xffffffff,
  })),
  ...[129, 0xffffffff].map((value): PacketSpec => ({
    name: `normal-pages.${value.toString(16)}`,
    requirement:
      `A destination MUST reject a packet whose normal_pages (${value}) exceeds the page count.`,
    mutation: { kind: "normal-pages", value },
    errorClass: "E_PACKET",
  })),
  {
    name: "zero-pages.ffffffff",
    requirement:
      "A destination MUST reject a packet whose zero_pages exceeds the page count (9.0+ layout).",
    mutation: { kind: "zero-pages", value: 0xffffffff },
    errorClass: "E_PACKET",
    appliesTo: hasZeroPages,
  },
  {
    name: "offset-past-block",
    requirement:
      "A destination MUST reject a page offset past the end of the RAM block (offset > used_length - page size).",
    mutation: { kind: "offset", value: RAM_BYTES },
    errorClass: "E_PACKET",
    representative: true,
  },
  {
    name: "unknown-ramblock",
    requirement: "A destination MUST reject a packet naming a RAM block it does not have.",
    mutation: { kind: "ramblock", value: "no-such-block" },
    errorClass: "E_PACKET",
  },
  {
    name: "compression-flag",
    requirement:
      "A destination without compression MUST reject a packet flagged as zlib-compressed.",
    mutation: { kind: "flags", value: 0x02 },
    errorClass: "E_PACKET",
  },
  {
    name: "truncated-payload",
    requirement:
      "A destination MUST fail the migration when a channel closes in the middle of a packet's page payload.",
    mutation: { kind: "truncate-payload", value: 100 },
    errorClass: "E_TRUNCATED",
  },
];

/** The `packet` family. */
export const packetCases: Case[] = specs.map((spec) =>
  defineCase({
    id: `multifd.packet.${spec.name}`,
    family: "packet",
    requirement: spec.requirement,
    level: "MUST",
    refs: spec.refs ?? [RECV_UNFILL, LOADVM_CHECKS_ERROR],
    role: "destination",
    transport: "plain",
    channels: 2,
    expected: { kind: "reject", errorClass: spec.errorClass },
    representative: spec.representative,
    ...(spec.appliesTo ? { appliesTo: spec.appliesTo } : {}),
    run(ctx) {
      return driveDestination(ctx, this, {
        script: { mutations: [{ mutation: spec.mutation, channel: 0 }] },
        waitMs: 15_000,
      });
    },
  })
);
