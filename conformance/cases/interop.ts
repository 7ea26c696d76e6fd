/**
 * Family `interop` (pair): a full migration for every source × destination pair among the
 * implementations, plain and TLS, 1/2/4/8 channels, judged by the destination's RAM digest.
 *
 * @module
 */

import { type Case, defineCase, product } from "../case.ts";
import { drivePair } from "./drive.ts";
import { PEEK_MAGIC, RECV_SYNC, SEND_INIT, TLS_BYE } from "./refs.ts";

/** The `interop` family. */
export const interopCases: Case[] = product({
  transport: ["plain", "tls"] as const,
  channels: [1, 2, 4, 8],
}).map(({ transport, channels }) =>
  defineCase({
    id: `multifd.interop.${transport}.ch${channels}`,
    family: "interop",
    requirement: `A migration over ${channels} multifd channel(s)${
      transport === "tls" ? " with TLS" : ""
    } MUST complete between any source and destination, with the destination's RAM equal to the source's.`,
    level: "MUST",
    refs: transport === "tls"
      ? [SEND_INIT, RECV_SYNC, TLS_BYE]
      : [SEND_INIT, RECV_SYNC, PEEK_MAGIC],
    role: "pair",
    transport,
    channels,
    expected: { kind: "accept" },
    representative: channels === 2,
    run(ctx) {
      return drivePair(ctx, this);
    },
  })
);
