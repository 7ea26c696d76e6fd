/**
 * The machine a benchmark runs on: cores, CPU model, memory, kernel, Deno and V8 versions, and
 * how busy it already was (the load average), since other work on the same cores skews figures.
 *
 * @module
 */

import type { MachineInfo } from "./report.ts";

/**
 * Describes this machine.
 *
 * @example
 * ```ts
 * import { describeMachine } from "./machine.ts";
 * console.log(describeMachine().cores > 0); // true
 * ```
 */
export function describeMachine(): MachineInfo {
  return {
    cores: navigator.hardwareConcurrency,
    cpu: cpuModel(),
    memoryBytes: Deno.systemMemoryInfo().total,
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    loadavg: Deno.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

/**
 * The `model name` of `/proc/cpuinfo`, or `unknown`.
 *
 * @example
 * ```ts
 * import { parseCpuModel } from "./machine.ts";
 * console.log(parseCpuModel("processor\t: 0\nmodel name\t: Test CPU @ 3 GHz\n")); // "Test CPU @ 3 GHz"
 * ```
 */
export function parseCpuModel(cpuinfo: string): string {
  return /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1].trim() ?? "unknown";
}

function cpuModel(): string {
  try {
    return parseCpuModel(Deno.readTextFileSync("/proc/cpuinfo"));
  } catch {
    return "unknown";
  }
}
