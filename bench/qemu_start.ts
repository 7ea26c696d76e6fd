/**
 * The bare cost of a QEMU, the floor under every QEMU conformance case: launch
 * `-M none -m 16M -S`, wait for the QMP greeting, `qmp_capabilities`, `quit`, and reap it. No
 * harness code is involved: a raw socket and a 2 ms connect poll.
 *
 * @module
 */

import { stopProcess } from "./process.ts";

const POLL_MS = 2;

/**
 * Seconds from spawning `binary` until it has answered QMP and exited on `quit`.
 *
 * @throws {Error} when QEMU does not answer or exit within `timeoutMs`.
 * @example
 * ```ts ignore
 * import { bareQemuSeconds } from "./qemu_start.ts";
 * console.log(await bareQemuSeconds("/usr/bin/qemu-system-x86_64", 10_000));
 * ```
 */
export async function bareQemuSeconds(binary: string, timeoutMs: number): Promise<number> {
  const dir = await Deno.makeTempDir({ prefix: "migwire-bench-qemu-" });
  const socket = `${dir}/qmp.sock`;
  const signal = AbortSignal.timeout(timeoutMs);
  const started = performance.now();
  const child = new Deno.Command(binary, {
    args: [
      "-M",
      "none",
      "-m",
      "16M",
      "-S",
      "-nodefaults",
      "-display",
      "none",
      "-qmp",
      `unix:${socket},server=on,wait=off`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const conn = await connectUnix(socket, signal);
    try {
      const replies = jsonLines(conn);
      await expect(replies, "QMP", signal);
      await send(conn, { execute: "qmp_capabilities" });
      await expect(replies, "return", signal);
      await send(conn, { execute: "quit" });
      await expect(replies, "return", signal);
    } finally {
      try {
        conn.close();
      } catch {
        // Closed by the stream when QEMU hung up.
      }
    }
    const status = await Promise.race([
      child.status,
      new Promise<never>((_, reject) => {
        signal.addEventListener("abort", () => reject(new Error("QEMU did not exit on quit")), {
          once: true,
        });
      }),
    ]);
    const seconds = (performance.now() - started) / 1000;
    if (!status.success) throw new Error(`QEMU exited with code ${status.code} on quit`);
    return seconds;
  } finally {
    await stopProcess(child);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

async function connectUnix(path: string, signal: AbortSignal): Promise<Deno.UnixConn> {
  while (true) {
    if (signal.aborted) throw new Error(`QMP socket ${path} did not appear in time`);
    try {
      return await Deno.connect({ transport: "unix", path });
    } catch (error) {
      if (
        !(error instanceof Deno.errors.NotFound || error instanceof Deno.errors.ConnectionRefused)
      ) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}

async function send(conn: Deno.UnixConn, message: unknown): Promise<void> {
  const bytes = new TextEncoder().encode(JSON.stringify(message) + "\n");
  for (let written = 0; written < bytes.length;) {
    written += await conn.write(bytes.subarray(written));
  }
}

/** Parsed JSON lines of a connection. */
async function* jsonLines(conn: Deno.UnixConn): AsyncGenerator<Record<string, unknown>> {
  let pending = "";
  for await (const text of conn.readable.pipeThrough(new TextDecoderStream())) {
    pending += text;
    let newline: number;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (line) yield JSON.parse(line);
    }
  }
}

/** Reads messages until one has `key` (events are skipped), bounded by `signal`. */
async function expect(
  replies: AsyncGenerator<Record<string, unknown>>,
  key: string,
  signal: AbortSignal,
): Promise<void> {
  while (true) {
    const next = await Promise.race([
      replies.next(),
      new Promise<never>((_, reject) => {
        if (signal.aborted) reject(new Error(`no QMP ${key} in time`));
        signal.addEventListener("abort", () => reject(new Error(`no QMP ${key} in time`)), {
          once: true,
        });
      }),
    ]);
    if (next.done) throw new Error(`QMP closed before ${key}`);
    if (key in next.value) return;
    if ("error" in next.value) throw new Error(`QMP error: ${JSON.stringify(next.value.error)}`);
  }
}
