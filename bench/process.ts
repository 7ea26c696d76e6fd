/**
 * Child processes for the benchmark: line-wise reading of a pipe with bounded waits, a free
 * loopback port, and stopping a child for sure (SIGTERM, then SIGKILL, then reaped).
 *
 * @module
 */

const STOP_GRACE_MS = 2_000;

/**
 * Reads lines from a byte stream as they come; every wait is bounded by a signal.
 *
 * @example
 * ```ts
 * import { LineReader } from "./process.ts";
 * const bytes = new TextEncoder().encode("a\nb");
 * const lines = new LineReader(ReadableStream.from([bytes]));
 * console.log(await lines.next(), await lines.next(), await lines.next()); // "a" "b" null
 * ```
 */
export class LineReader {
  readonly #queue: string[] = [];
  #ended = false;
  #wake: (() => void) | undefined;
  /** Every line read so far is also kept here, up to `keep` of the last lines. */
  readonly tail: string[] = [];
  readonly #keep: number;
  /** Resolves once the stream has ended. */
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>, keep = 50) {
    this.#keep = keep;
    this.done = this.#pump(stream);
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    let pending = "";
    try {
      for await (const text of stream.pipeThrough(new TextDecoderStream())) {
        pending += text;
        let newline: number;
        while ((newline = pending.indexOf("\n")) >= 0) {
          this.#push(pending.slice(0, newline));
          pending = pending.slice(newline + 1);
        }
      }
    } catch {
      // The pipe broke with the process; what was read stands.
    }
    if (pending) this.#push(pending);
    this.#ended = true;
    this.#wake?.();
  }

  #push(line: string): void {
    this.#queue.push(line);
    this.tail.push(line);
    if (this.tail.length > this.#keep) this.tail.shift();
    this.#wake?.();
  }

  /**
   * The next line, or `null` once the stream has ended.
   *
   * @throws the signal's reason when it aborts first.
   */
  async next(signal?: AbortSignal): Promise<string | null> {
    while (true) {
      if (this.#queue.length > 0) return this.#queue.shift()!;
      if (this.#ended) return null;
      signal?.throwIfAborted();
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => reject(signal!.reason);
        this.#wake = () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        };
        signal?.addEventListener("abort", onAbort, { once: true });
      }).finally(() => this.#wake = undefined);
    }
  }
}

/**
 * A loopback TCP port that was free a moment ago (bind to port 0, read, close).
 *
 * @example
 * ```ts
 * import { freePort } from "./process.ts";
 * console.log(freePort() > 0); // true
 * ```
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/**
 * Stops a child: SIGTERM, SIGKILL after a grace period, then waits for it to be reaped and
 * releases its unread pipes. Safe on a child that already exited.
 *
 * @example
 * ```ts ignore
 * import { stopProcess } from "./process.ts";
 * const child = new Deno.Command("sleep", { args: ["60"] }).spawn();
 * await stopProcess(child);
 * ```
 */
export async function stopProcess(
  child: Deno.ChildProcess,
  graceMs = STOP_GRACE_MS,
): Promise<Deno.CommandStatus> {
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  await Promise.race([status, Promise.resolve()]);
  if (!exited) {
    signal(child, "SIGTERM");
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([status, new Promise((r) => timer = setTimeout(r, graceMs))]);
    clearTimeout(timer);
    if (!exited) signal(child, "SIGKILL");
  }
  const final = await status;
  for (const pipe of ["stdout", "stderr"] as const) {
    try {
      const stream = child[pipe];
      if (!stream.locked) await stream.cancel();
    } catch {
      // Not piped, or already closed.
    }
  }
  return final;
}

/**
 * The process group of a `/proc/<pid>/stat` line (the field after state and parent), or `null`.
 *
 * @example
 * ```ts
 * import { parseStatGroup } from "./process.ts";
 * console.log(parseStatGroup("42 (qemu (x)) S 1 4491 15608 0 -1")); // 4491
 * ```
 */
export function parseStatGroup(stat: string): number | null {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const group = Number(fields[2]);
  return Number.isInteger(group) ? group : null;
}

/**
 * Pids of the live processes in process group `group`, read from `/proc`.
 *
 * @example
 * ```ts ignore
 * import { groupMembers } from "./process.ts";
 * console.log(groupMembers(child.pid));
 * ```
 */
export function groupMembers(group: number): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      if (parseStatGroup(stat) === group) pids.push(Number(entry.name));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/**
 * Kills (SIGKILL) the processes left in process group `group` once its leader has exited, and
 * waits up to `timeoutMs` for them to go. Returns the command names of those it found.
 *
 * @example
 * ```ts ignore
 * import { killGroupLeftovers } from "./process.ts";
 * console.log(await killGroupLeftovers(child.pid)); // ["qemu-system-x86"]
 * ```
 */
export async function killGroupLeftovers(group: number, timeoutMs = 5_000): Promise<string[]> {
  const found = groupMembers(group);
  const names = found.map((pid) => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/comm`).trim();
    } catch {
      return "?";
    }
  });
  for (const pid of found) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // Exited meanwhile.
    }
  }
  const until = performance.now() + timeoutMs;
  while (groupMembers(group).length > 0 && performance.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return names;
}

function signal(child: Deno.ChildProcess, name: Deno.Signal): void {
  try {
    child.kill(name);
  } catch {
    // Exited meanwhile.
  }
}
