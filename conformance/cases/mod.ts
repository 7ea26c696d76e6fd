/**
 * The catalogue: every case of every family, in report order.
 *
 * @module
 */

import { assertUniqueIds, type Case } from "../case.ts";
import { initCases } from "./init.ts";
import { interopCases } from "./interop.ts";
import { orderCases } from "./order.ts";
import { packetCases } from "./packet.ts";
import { rejectCases } from "./reject.ts";
import { tlsCases } from "./tls.ts";

/**
 * Every case, ids unique.
 *
 * @example
 * ```ts
 * import { allCases } from "./mod.ts";
 * console.log(allCases.length > 60);
 * ```
 */
export const allCases: readonly Case[] = [
  ...initCases,
  ...rejectCases,
  ...orderCases,
  ...tlsCases,
  ...packetCases,
  ...interopCases,
];

assertUniqueIds(allCases);

/** Cases whose id matches `filter` (a regular expression), all when absent. */
export function selectCases(filter?: RegExp, cases: readonly Case[] = allCases): Case[] {
  return cases.filter((c) => !filter || filter.test(c.id));
}
