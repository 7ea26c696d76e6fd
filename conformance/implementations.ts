/**
 * Which implementations a run covers: the TypeScript implementation (as `ts` and
 * `ts-arrival-order`) when it is available, every discovered QEMU, and any `qemu:PATH` named.
 *
 * @module
 */

import type { Implementation } from "../harness/implementation.ts";
import { resolveQemu } from "../harness/qemu/discovery.ts";
import { qemuImplementation, qemuImplementations } from "../harness/qemu/implementation.ts";
import { tsImplementations } from "./ts_harness.ts";

/**
 * Every implementation available here, plus `extra` names (`qemu:PATH`) resolved on demand.
 *
 * @example
 * ```ts ignore
 * import { availableImplementations } from "./implementations.ts";
 * console.log((await availableImplementations()).map((i) => i.name));
 * ```
 */
export async function availableImplementations(
  extra: readonly string[] = [],
  signal?: AbortSignal,
): Promise<Implementation[]> {
  const found: Implementation[] = [...tsImplementations(), ...await qemuImplementations()];
  for (const name of extra) {
    if (found.some((impl) => impl.name === name)) continue;
    if (!name.startsWith("qemu")) {
      throw new Error(
        `unknown implementation '${name}'; available: ${found.map((i) => i.name).join(", ")}`,
      );
    }
    found.push(qemuImplementation({ ...await resolveQemu(name, { signal }), name }));
  }
  return found;
}

/**
 * The implementations named in `names` (all available when empty), in the order given.
 *
 * @example
 * ```ts ignore
 * import { selectImplementations } from "./implementations.ts";
 * const [ts] = selectImplementations(await availableImplementations(), ["ts"]);
 * ```
 */
export function selectImplementations(
  available: readonly Implementation[],
  names: readonly string[],
): Implementation[] {
  if (names.length === 0) return [...available];
  return names.map((name) => {
    const impl = available.find((i) => i.name === name);
    if (!impl) {
      throw new Error(
        `unknown implementation '${name}'; available: ${available.map((i) => i.name).join(", ")}`,
      );
    }
    return impl;
  });
}
