/**
 * What a process's threads are doing, read from `/proc`: each thread's name, scheduler state,
 * the kernel function it waits in, the kernel stack above it (readable by root only) and the CPU
 * it has used. Put into the error when a process
 * fails to answer in time, it tells a process stuck waiting (and on what) from one busy or starved
 * of CPU.
 *
 * @module
 */

import { parseStatCpuSeconds } from "./cpu_time.ts";

/** Threads described at most, so that a process with many threads gives a bounded text. */
const MAX_THREADS = 16;

/** Kernel frames kept per thread: enough to reach the system call from the wait. */
const MAX_FRAMES = 8;

/** One thread of a process, as `/proc/<pid>/task/<tid>` shows it. */
export interface ThreadState {
  readonly tid: number;
  readonly name: string;
  /** Scheduler state letter: R running, S sleeping, D uninterruptible, T stopped, Z zombie. */
  readonly state: string;
  /** Kernel function the thread waits in (`wchan`), empty when running or unknown. */
  readonly wchan: string;
  /**
   * Kernel functions from the wait up to the system call (`/proc/<pid>/task/<tid>/stack`, which
   * only root may read); empty when unreadable. Tells which call a thread blocks in, e.g. a
   * receive on a UNIX socket (`unix_stream_read_generic`) from one on TCP.
   */
  readonly kernelStack?: readonly string[];
  readonly cpuSeconds: number | null;
}

/**
 * The function names of a `/proc/<pid>/stack` listing, innermost first, up to the system call
 * (the entry frames dropped), at most 8.
 *
 * @example
 * ```ts
 * import { parseKernelStack } from "./thread_states.ts";
 * const text = "[<0>] hrtimer_nanosleep+0xb5/0x130\n[<0>] __x64_sys_clock_nanosleep+0xde/0x150\n" +
 *   "[<0>] do_syscall_64+0x71/0x290\n";
 * console.log(parseKernelStack(text)); // ["hrtimer_nanosleep", "__x64_sys_clock_nanosleep"]
 * ```
 */
export function parseKernelStack(text: string): string[] {
  const frames: string[] = [];
  for (const line of text.split("\n")) {
    const name = /^\[<[0-9a-f]+>\]\s+([\w.]+)/.exec(line.trim())?.[1];
    if (!name || /^(do_syscall_64|entry_SYSCALL|x64_sys_call)/.test(name)) continue;
    frames.push(name);
    if (frames.length === MAX_FRAMES) break;
  }
  return frames;
}

/**
 * Parses the thread name and state letter of a `/proc/<pid>/task/<tid>/stat` line.
 *
 * @example
 * ```ts
 * import { parseStatNameAndState } from "./thread_states.ts";
 * const stat = "7 (qemu-system-x86) S 1 7 7 0 -1 0 0 0 0 0 3 1 0 0 20 0 4 0";
 * console.log(parseStatNameAndState(stat)); // { name: "qemu-system-x86", state: "S" }
 * ```
 */
export function parseStatNameAndState(stat: string): { name: string; state: string } | null {
  const open = stat.indexOf("(");
  const close = stat.lastIndexOf(")");
  if (open < 0 || close < open) return null;
  const state = stat.slice(close + 2, close + 3);
  return state ? { name: stat.slice(open + 1, close), state } : null;
}

/**
 * The threads of `pid` (at most 16), or an empty list when the process is gone or `/proc` is not
 * there.
 *
 * @example
 * ```ts
 * import { threadStates } from "./thread_states.ts";
 * const [main] = threadStates(Deno.pid);
 * console.log(main.tid === Deno.pid, main.state); // true R
 * ```
 */
export function threadStates(pid: number): ThreadState[] {
  let tids: number[];
  try {
    tids = [...Deno.readDirSync(`/proc/${pid}/task`)].map((entry) => Number(entry.name))
      .filter(Number.isInteger).sort((a, b) => a - b);
  } catch {
    return [];
  }
  const threads: ThreadState[] = [];
  for (const tid of tids.slice(0, MAX_THREADS)) {
    const dir = `/proc/${pid}/task/${tid}`;
    try {
      const stat = Deno.readTextFileSync(`${dir}/stat`);
      const parsed = parseStatNameAndState(stat);
      if (!parsed) continue;
      threads.push({
        tid,
        ...parsed,
        wchan: readWchan(dir),
        kernelStack: parsed.state === "R" ? [] : readKernelStack(dir),
        cpuSeconds: parseStatCpuSeconds(stat),
      });
    } catch {
      // The thread ended while it was read.
    }
  }
  return threads;
}

/**
 * One line for an error message: every thread's name, state, wait channel, kernel stack (when
 * known) and CPU seconds.
 *
 * @example
 * ```ts
 * import { describeThreads } from "./thread_states.ts";
 * const text = describeThreads([
 *   { tid: 7, name: "qemu-system-x86", state: "S", wchan: "do_sys_poll", cpuSeconds: 0.04 },
 * ]);
 * console.log(text); // 7 qemu-system-x86 S in do_sys_poll, 0.04 s CPU
 * ```
 */
export function describeThreads(threads: readonly ThreadState[]): string {
  if (threads.length === 0) return "no threads (the process is gone)";
  return threads.map((t) =>
    `${t.tid} ${t.name} ${t.state}${t.wchan ? ` in ${t.wchan}` : ""}` +
    (t.kernelStack?.length ? ` (kernel: ${t.kernelStack.join(" ← ")})` : "") +
    (t.cpuSeconds === null ? "" : `, ${t.cpuSeconds.toFixed(2)} s CPU`)
  ).join("; ");
}

function readWchan(dir: string): string {
  try {
    const wchan = Deno.readTextFileSync(`${dir}/wchan`).trim();
    return wchan === "0" ? "" : wchan;
  } catch {
    return "";
  }
}

function readKernelStack(dir: string): string[] {
  try {
    return parseKernelStack(Deno.readTextFileSync(`${dir}/stack`));
  } catch {
    return [];
  }
}
