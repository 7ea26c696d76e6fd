/**
 * The order of the pairs in each round of the throughput runs. On the machines measured, a
 * migration run right after the QEMU→QEMU reference was slower than the same migration run one
 * place later (a TypeScript destination fed by QEMU 10.0, two builds in 12 rounds with their order
 * swapped every round: 0.263 against 0.248 s and 0.271 against 0.228 s, medians of the runs in
 * each place; two other builds in 10 rounds: 0.248 against 0.217 s and 0.351 against 0.246 s), so
 * a fixed order would charge that to whichever pair follows the reference. Each round starts one
 * pair further on instead.
 *
 * @module
 */

/**
 * `pairs` as round `round` (from 0) runs them: rotated left by `round`.
 *
 * @example
 * ```ts
 * import { roundOrder } from "./round_order.ts";
 * console.log(roundOrder(["a", "b", "c"], 1)); // ["b", "c", "a"]
 * ```
 */
export function roundOrder<T>(pairs: readonly T[], round: number): T[] {
  if (pairs.length === 0) return [];
  const start = round % pairs.length;
  return [...pairs.slice(start), ...pairs.slice(0, start)];
}
