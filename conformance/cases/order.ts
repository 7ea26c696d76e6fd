/**
 * Family `order` (destination under test, full migration judged by the RAM digest): the source's
 * connections may reach the destination in any order. A plain destination can tell the main channel
 * from a multifd one by its first four bytes (QEMU ≥ 8.0 peeks them); TLS channels cannot be peeked,
 * so mapping by arrival is all QEMU does there.
 *
 * @module
 */

import { type Case, defineCase, permutations, type Transport } from "../case.ts";
import type { ConnectionOrder } from "../harness.ts";
import { driveDestination } from "./drive.ts";
import { PEEK_MAGIC, READ_PEEK, TLS_ORDER } from "./refs.ts";

type Slot = "main" | number;

function orderName(order: readonly Slot[]): string {
  return order.map((s) => (s === "main" ? "main" : String(s))).join("-");
}

function requirementFor(transport: Transport, what: string): string {
  return transport === "plain"
    ? `A destination MUST complete the migration when ${what} (it tells the main channel by its QEVM magic).`
    : `A TLS destination SHOULD complete the migration when ${what} (TLS channels cannot be peeked; mapping needs another signal).`;
}

function orderCase(
  name: string,
  transport: Transport,
  channels: number,
  order: ConnectionOrder,
  what: string,
  options: { mainDelayMs?: number; representative?: boolean } = {},
): Case {
  return defineCase({
    id: `multifd.order.${name}.${transport}.ch${channels}`,
    family: "order",
    requirement: requirementFor(transport, what),
    level: transport === "plain" ? "MUST" : "SHOULD",
    refs: transport === "plain" ? [PEEK_MAGIC, READ_PEEK] : [TLS_ORDER],
    role: "destination",
    transport,
    channels,
    expected: { kind: "accept" },
    representative: options.representative,
    run(ctx) {
      return driveDestination(ctx, this, {
        full: true,
        tls: transport === "tls",
        script: {
          order,
          ...(options.mainDelayMs ? { mainDelayMs: options.mainDelayMs } : {}),
        },
      });
    },
  });
}

const slots = (n: number): Slot[] => ["main", ...Array.from({ length: n }, (_, i) => i)];

/** Named orders, for both transports at 3 channels. */
function named(transport: Transport): Case[] {
  return [
    orderCase("main-first", transport, 3, "main-first", "the main channel connects first", {
      representative: transport === "plain",
    }),
    orderCase("main-last", transport, 3, "main-last", "the main channel connects last", {
      representative: true,
    }),
    orderCase(
      "main-delayed",
      transport,
      3,
      "main-last",
      "the main channel connects 500 ms after the multifd channels",
      { mainDelayMs: 500 },
    ),
  ];
}

/** Every permutation of main and N multifd channels. */
function every(transport: Transport, channels: number): Case[] {
  return permutations(slots(channels)).map((order) =>
    orderCase(
      `perm.${orderName(order)}`,
      transport,
      channels,
      order,
      `connections arrive in the order ${orderName(order)}`,
    )
  );
}

/** A sample of orders for 8 channels: main first, in the middle, last; multifd ids reversed. */
function sample8(): Case[] {
  const ids = Array.from({ length: 8 }, (_, i) => i);
  const orders: Slot[][] = [
    ["main", ...ids],
    [...ids.slice(0, 4), "main", ...ids.slice(4)],
    [...ids, "main"],
    ["main", ...ids.slice().reverse()],
    [...ids.slice().reverse(), "main"],
  ];
  return orders.map((order) =>
    orderCase(
      `perm.${orderName(order)}`,
      "plain",
      8,
      order,
      `connections arrive in the order ${orderName(order)}`,
    )
  );
}

/** The `order` family. */
export const orderCases: Case[] = [
  ...named("plain"),
  ...every("plain", 2),
  ...every("plain", 3),
  ...sample8(),
  ...named("tls"),
  ...every("tls", 2),
];
