/**
 * CPU time of a process (user + system, every thread), in seconds: a figure that other load on
 * the machine disturbs far less than wall time. On a machine with few cores, a migration's two
 * sides compete for them, so a side's CPU per byte moved bounds the throughput of the pair.
 *
 * @module
 */

import process from "node:process";

/** Clock ticks per second of `/proc` times (`getconf CLK_TCK`; 100 on Linux). */
const CLOCK_TICKS = 100;

/**
 * User plus system seconds of a `/proc/<pid>/stat` line, or `null` when it is not one.
 *
 * @example
 * ```ts
 * import { parseStatCpuSeconds } from "./cpu_time.ts";
 * const stat = "42 (deno) S 1 42 42 0 -1 0 0 0 0 0 150 50 0 0 20 0 1 0";
 * console.log(parseStatCpuSeconds(stat)); // 2
 * ```
 */
export function parseStatCpuSeconds(stat: string): number | null {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // After the name: state is field 3, utime field 14, stime field 15 (1-based, man 5 proc).
  const user = Number(fields[11]);
  const system = Number(fields[12]);
  if (!Number.isFinite(user) || !Number.isFinite(system)) return null;
  return (user + system) / CLOCK_TICKS;
}

/**
 * CPU seconds `pid` has used so far, or `null` when it is gone.
 *
 * @example
 * ```ts
 * import { cpuSeconds } from "./cpu_time.ts";
 * console.log(cpuSeconds(Deno.pid)! >= 0); // true
 * ```
 */
export function cpuSeconds(pid: number): number | null {
  try {
    return parseStatCpuSeconds(Deno.readTextFileSync(`/proc/${pid}/stat`));
  } catch {
    return null;
  }
}

/**
 * CPU seconds this process has used so far, all threads (Workers included), to the microsecond
 * (`getrusage(RUSAGE_SELF)`).
 *
 * @example
 * ```ts
 * import { ownCpuSeconds } from "./cpu_time.ts";
 * const before = ownCpuSeconds();
 * let sum = 0;
 * for (let i = 0; i < 1e6; i++) sum += i;
 * console.log(ownCpuSeconds() >= before, sum > 0); // true true
 * ```
 */
export function ownCpuSeconds(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}
