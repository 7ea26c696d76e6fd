/**
 * The order of the pairs in each round of the throughput runs. On the machines measured, a
 * migration run right after the QEMU→QEMU reference was slower than the same migration run one
 * place later (a TypeScript destination fed by QEMU 10.0, two builds in 12 rounds with their order
 * swapped every round: 0.263 against 0.248 s and 0.271 against 0.228 s, medians of the runs in
 * each place; two other builds in 10 rounds: 0.248 against 0.217 s and 0.351 against 0.246 s), so
 * a fixed order would charge that to whichever pair follows the reference. The reference opens
 * every round and the other pairs take turns right after it.
 *
 * @module
 */

/**
 * `pairs` as round `round` (from 0) runs them: the first (the reference) first, the others
 * rotated left by `round`.
 *
 * @example
 * ```ts
 * import { roundOrder } from "./round_order.ts";
 * console.log(roundOrder(["ref", "a", "b", "c"], 1)); // ["ref", "b", "c", "a"]
 * ```
 */
export function roundOrder<T>(pairs: readonly T[], round: number): T[] {
  const [reference, ...others] = pairs;
  if (reference === undefined) return [];
  const start = others.length === 0 ? 0 : round % others.length;
  return [reference, ...others.slice(start), ...others.slice(0, start)];
}
