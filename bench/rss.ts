/**
 * Peak resident memory of a process: `VmHWM` (the kernel's high-water mark of the resident set)
 * and `VmRSS` from `/proc/<pid>/status`, sampled until the process exits.
 *
 * @module
 */

/** Memory figures of one `/proc/<pid>/status` read, in bytes. */
export interface ProcMemory {
  /** Peak resident set so far (`VmHWM`). */
  readonly hwm: number;
  /** Resident set now (`VmRSS`). */
  readonly rss: number;
}

/**
 * Parses `VmHWM` and `VmRSS` (kB) of a `/proc/<pid>/status` text; `null` when absent (a zombie).
 *
 * @example
 * ```ts
 * import { parseProcStatus } from "./rss.ts";
 * console.log(parseProcStatus("VmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n"));
 * // { hwm: 2097152, rss: 1048576 }
 * ```
 */
export function parseProcStatus(text: string): ProcMemory | null {
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s*(\\d+)\\s*kB`, "m").exec(text);
    return match ? Number(match[1]) * 1024 : undefined;
  };
  const hwm = field("VmHWM");
  const rss = field("VmRSS");
  if (hwm === undefined || rss === undefined) return null;
  return { hwm, rss };
}

/**
 * Samples a process's memory every `intervalMs` until stopped; `peak` is the largest `VmHWM`
 * seen, so the peak between two samples is not missed.
 *
 * @example
 * ```ts ignore
 * import { RssSampler } from "./rss.ts";
 * const sampler = new RssSampler(child.pid);
 * await child.status;
 * sampler.stop();
 * console.log(sampler.peak);
 * ```
 */
export class RssSampler {
  readonly #path: string;
  readonly #timer: ReturnType<typeof setInterval>;
  #peak = 0;

  constructor(pid: number, intervalMs = 50) {
    this.#path = `/proc/${pid}/status`;
    this.sample();
    this.#timer = setInterval(() => this.sample(), intervalMs);
  }

  /** Reads the status once now; a process that is gone leaves the peak as it was. */
  sample(): void {
    try {
      const memory = parseProcStatus(Deno.readTextFileSync(this.#path));
      if (memory) this.#peak = Math.max(this.#peak, memory.hwm, memory.rss);
    } catch {
      // Exited.
    }
  }

  /** The largest resident set seen, in bytes; 0 when never read. */
  get peak(): number {
    return this.#peak;
  }

  /** Takes a last sample and stops. */
  stop(): void {
    this.sample();
    clearInterval(this.#timer);
  }
}
