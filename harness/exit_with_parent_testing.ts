/**
 * Test helpers for processes that must end with the harness: run a harness in a Deno child,
 * kill it with `SIGKILL` and see what it left running.
 *
 * @module
 */

/** How long a child may take to be killed and reaped once its parent is gone. */
const REAP_MS = 5_000;

/** What a killed parent left behind. */
export interface KilledParent {
  /** The line the parent printed, parsed: at least the child's `pid`. */
  readonly report: { readonly pid: number } & Record<string, unknown>;
  readonly aliveBeforeKill: boolean;
  /** Whether the child still ran {@linkcode REAP_MS} after the parent was killed. */
  readonly aliveAfterKill: boolean;
}

/**
 * Whether `pid` runs (a zombie does not count).
 *
 * @example
 * ```ts
 * import { isRunning } from "./exit_with_parent_testing.ts";
 * console.log(isRunning(Deno.pid)); // true
 * ```
 */
export function isRunning(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/**
 * Runs `script` as a Deno parent, waits (within `timeoutMs`) for the JSON line it prints with the
 * `pid` of a child it started, kills the parent with `SIGKILL` and waits for the child to end. A
 * child that is still there is killed here, so a failing test leaves nothing behind.
 *
 * @example
 * ```ts ignore
 * const left = await killedParentLeftChild(`console.log(JSON.stringify({ pid: 1 }))`);
 * ```
 */
export async function killedParentLeftChild(
  script: string,
  timeoutMs = 60_000,
): Promise<KilledParent> {
  const parent = new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let report: KilledParent["report"] | undefined;
  try {
    report = JSON.parse(await firstLine(parent.stdout, timeoutMs));
    if (!Number.isInteger(report?.pid)) {
      throw new Error(`no child pid in ${JSON.stringify(report)}`);
    }
    const aliveBeforeKill = isRunning(report!.pid);
    parent.kill("SIGKILL");
    await parent.status;
    const until = performance.now() + REAP_MS;
    while (isRunning(report!.pid) && performance.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return { report: report!, aliveBeforeKill, aliveAfterKill: isRunning(report!.pid) };
  } finally {
    try {
      parent.kill("SIGKILL");
    } catch {
      // Already killed.
    }
    await parent.status;
    if (report && isRunning(report.pid)) Deno.kill(report.pid, "SIGKILL");
  }
}

async function firstLine(stream: ReadableStream<Uint8Array>, timeoutMs: number): Promise<string> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  const timeout = AbortSignal.timeout(timeoutMs);
  const timedOut = new Promise<never>((_, reject) => {
    timeout.addEventListener("abort", () => {
      reject(new Error(`no line from the parent within ${timeoutMs} ms`));
    });
  });
  timedOut.catch(() => {});
  let text = "";
  try {
    while (!text.includes("\n")) {
      const { value, done } = await Promise.race([reader.read(), timedOut]);
      if (done) throw new Error(`the parent ended before it printed a line: ${text}`);
      text += value;
    }
    return text.slice(0, text.indexOf("\n"));
  } finally {
    reader.cancel().catch(() => {});
  }
}
