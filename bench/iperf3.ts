/**
 * The loopback ceiling: the same bytes over the same number of loopback TCP connections with
 * `iperf3`, a native tool. Installed from Debian with apt when missing (as root), the way
 * `tools/setup.ts` provisions QEMU.
 *
 * @module
 */

import { freePort, LineReader, stopProcess } from "./process.ts";

/** What one `iperf3` run measured, as the receiver counted it. */
export interface Iperf3Result {
  readonly bytes: number;
  readonly seconds: number;
  readonly streams: number;
}

const INSTALL_TIMEOUT_MS = 10 * 60_000;
const VERSION_TIMEOUT_MS = 10_000;
const SERVER_READY_TIMEOUT_MS = 10_000;

/**
 * The receiver's totals of `iperf3 -c … -J` output (`end.sum_received`).
 *
 * @throws {Error} when the output is not an iperf3 result or carries its `error`.
 * @example
 * ```ts
 * import { parseIperf3Json } from "./iperf3.ts";
 * const json = JSON.stringify({
 *   start: { test_start: { num_streams: 4 } },
 *   end: { sum_received: { bytes: 1073741824, seconds: 0.5 } },
 * });
 * console.log(parseIperf3Json(json)); // { bytes: 1073741824, seconds: 0.5, streams: 4 }
 * ```
 */
export function parseIperf3Json(text: string): Iperf3Result {
  let doc: {
    error?: string;
    start?: { test_start?: { num_streams?: number } };
    end?: { sum_received?: { bytes?: number; seconds?: number } };
  };
  try {
    doc = JSON.parse(text);
  } catch {
    throw new Error(`iperf3 printed no JSON: ${text.slice(0, 200)}`);
  }
  if (doc.error) throw new Error(`iperf3: ${doc.error}`);
  const received = doc.end?.sum_received;
  if (typeof received?.bytes !== "number" || typeof received.seconds !== "number") {
    throw new Error("iperf3 JSON has no end.sum_received bytes and seconds");
  }
  return {
    bytes: received.bytes,
    seconds: received.seconds,
    streams: doc.start?.test_start?.num_streams ?? 1,
  };
}

/**
 * The version of `iperf3` on the PATH, installing Debian's package with apt when it is missing
 * and we are root. Returns the version, or throws saying why there is none.
 *
 * @example
 * ```ts ignore
 * import { ensureIperf3 } from "./iperf3.ts";
 * console.log(await ensureIperf3((line) => console.error(line))); // "3.12"
 * ```
 */
export async function ensureIperf3(log: (line: string) => void): Promise<string> {
  const present = await iperf3Version();
  if (present) return present;
  if (Deno.uid() !== 0) throw new Error("iperf3 is missing; install it (apt-get install iperf3)");
  log("bench: installing iperf3 with apt-get");
  const install = ["install", "-y", "--no-install-recommends", "iperf3"];
  if (!(await apt(install))) {
    await apt(["update"]);
    if (!(await apt(install))) throw new Error("apt-get install iperf3 failed");
  }
  const installed = await iperf3Version();
  if (!installed) throw new Error("apt-get installed iperf3, but it does not run");
  return installed;
}

/**
 * Sends `bytes` from an `iperf3` client to a one-off server over `streams` loopback connections.
 *
 * @example
 * ```ts ignore
 * import { runIperf3 } from "./iperf3.ts";
 * const result = await runIperf3({ bytes: 256 * 2 ** 20, streams: 4, timeoutMs: 60_000 });
 * console.log(result.bytes / 1e6 / result.seconds, "MB/s");
 * ```
 */
export async function runIperf3(
  options: { bytes: number; streams: number; timeoutMs: number },
): Promise<Iperf3Result> {
  const port = freePort();
  const signal = AbortSignal.timeout(options.timeoutMs);
  const server = new Deno.Command("iperf3", {
    args: ["-s", "-1", "--forceflush", "-B", "127.0.0.1", "-p", String(port)],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const lines = new LineReader(server.stdout);
    const ready = AbortSignal.any([signal, AbortSignal.timeout(SERVER_READY_TIMEOUT_MS)]);
    while (true) {
      const line = await lines.next(ready).catch(() => {
        throw new Error(
          `iperf3 server did not say it listens within ${SERVER_READY_TIMEOUT_MS} ms`,
        );
      });
      if (line === null) throw new Error("iperf3 server ended before it listened");
      if (/listening/i.test(line)) break;
    }
    const client = await new Deno.Command("iperf3", {
      args: [
        "-c",
        "127.0.0.1",
        "-p",
        String(port),
        "-P",
        String(options.streams),
        "-n",
        String(options.bytes),
        "-J",
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal,
    }).output();
    const text = new TextDecoder().decode(client.stdout);
    if (!client.success && !text.trim()) {
      throw new Error(
        `iperf3 client exit ${client.code}: ${new TextDecoder().decode(client.stderr)}`,
      );
    }
    return parseIperf3Json(text);
  } finally {
    await stopProcess(server);
  }
}

async function iperf3Version(): Promise<string | undefined> {
  try {
    const output = await new Deno.Command("iperf3", {
      args: ["--version"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(VERSION_TIMEOUT_MS),
    }).output();
    const text = new TextDecoder().decode(output.stdout);
    return /iperf (\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1];
  } catch {
    return undefined;
  }
}

async function apt(args: string[]): Promise<boolean> {
  try {
    const output = await new Deno.Command("apt-get", {
      args,
      env: { DEBIAN_FRONTEND: "noninteractive" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(INSTALL_TIMEOUT_MS),
    }).output();
    return output.success;
  } catch {
    return false;
  }
}
