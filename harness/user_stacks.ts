/**
 * User-space stacks of a process's threads, read with gdb in batch mode. For a process whose
 * control plane stopped answering they tell what each thread waits on: a mutex, a thread join, a
 * semaphore, a read. In a stripped binary the program's own frames show as `??`; library frames
 * (`__pthread_clockjoin_ex`, `__futex_abstimed_wait_common`, `ppoll`) keep their names.
 *
 * @module
 */

/** Threads kept, so that a process with many threads gives a bounded text. */
const MAX_THREADS = 16;
/** Frames kept per thread, innermost first. */
const MAX_FRAMES = 12;
/** gdb's output read at most. */
const MAX_OUTPUT_BYTES = 1024 * 1024;

/** One thread's user-space stack. */
export interface ThreadStack {
  /** The thread's kernel id (gdb's `LWP`). */
  readonly lwp: number;
  /** The thread's name, when gdb shows one. */
  readonly name: string;
  /** Function names (or `??`), innermost first, each with its library when gdb names one. */
  readonly frames: readonly string[];
}

/**
 * Parses `thread apply all bt` output from gdb into one entry per thread, innermost frame first.
 *
 * @example
 * ```ts
 * import { parseGdbBacktraces } from "./user_stacks.ts";
 * const [main] = parseGdbBacktraces([
 *   'Thread 1 (Thread 0x7f00 (LWP 42) "qemu-system-x86"):',
 *   "#0  0x00007f0 in __futex_abstimed_wait_common64 (private=0) at ./nptl/futex-internal.c:57",
 *   "#1  0x00007f1 in __pthread_clockjoin_ex () from /lib/x86_64-linux-gnu/libc.so.6",
 *   "#2  0x0000561 in ?? ()",
 * ].join("\n"));
 * console.log(main.lwp, main.frames.join(" ← "));
 * // 42 __futex_abstimed_wait_common64 ← __pthread_clockjoin_ex (libc.so.6) ← ??
 * ```
 */
export function parseGdbBacktraces(text: string): ThreadStack[] {
  const threads: { lwp: number; name: string; frames: string[] }[] = [];
  for (const line of text.split("\n")) {
    const head = /^Thread \d+ \(.*?LWP (\d+)\)(?: "([^"]*)")?/.exec(line);
    if (head) {
      threads.push({ lwp: Number(head[1]), name: head[2] ?? "", frames: [] });
      continue;
    }
    const frame = /^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) \(.*?\)(?: from (\S+))?/.exec(line);
    const thread = threads.at(-1);
    if (!frame || !thread || thread.frames.length >= MAX_FRAMES) continue;
    const library = frame[2]?.split("/").at(-1);
    thread.frames.push(library ? `${frame[1]} (${library})` : frame[1]);
  }
  return threads.slice(0, MAX_THREADS);
}

/**
 * One line per thread for an error message: tid, name, and its frames innermost first.
 *
 * @example
 * ```ts
 * import { describeStacks } from "./user_stacks.ts";
 * console.log(describeStacks([{ lwp: 7, name: "migration", frames: ["ppoll", "??"] }]));
 * // 7 migration: ppoll ← ??
 * ```
 */
export function describeStacks(stacks: readonly ThreadStack[]): string {
  return stacks.map((s) => `${s.lwp} ${s.name}: ${s.frames.join(" ← ") || "no frames"}`)
    .join("\n");
}

/**
 * Whether gdb can be run here, so that callers can tell "no stacks" from "no gdb".
 *
 * @example
 * ```ts
 * import { gdbAvailable } from "./user_stacks.ts";
 * console.log(typeof await gdbAvailable()); // "boolean"
 * ```
 */
export async function gdbAvailable(): Promise<boolean> {
  try {
    const output = await new Deno.Command("gdb", {
      args: ["--version"],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return output.success;
  } catch {
    return false;
  }
}

/**
 * Attaches gdb to `pid`, reads every thread's stack and detaches, within `timeoutMs`. Resolves
 * with `undefined` when gdb is missing, cannot attach, or runs out of time: the stacks are
 * evidence, never a reason for a case to fail.
 *
 * @example
 * ```ts ignore
 * import { describeStacks, userStacks } from "./user_stacks.ts";
 * const stacks = await userStacks(1234);
 * if (stacks) console.log(describeStacks(stacks));
 * ```
 */
export async function userStacks(
  pid: number,
  timeoutMs = 10_000,
): Promise<ThreadStack[] | undefined> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command("gdb", {
      args: ["--batch", "--nx", "-p", String(pid), "-ex", "thread apply all bt"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
  } catch {
    return undefined;
  }
  const text = new TextDecoder().decode(output.stdout.subarray(0, MAX_OUTPUT_BYTES));
  const stacks = parseGdbBacktraces(text);
  return stacks.length > 0 ? stacks : undefined;
}
