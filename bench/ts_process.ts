/**
 * migwire's TypeScript implementation as separate processes: each side runs as
 * `deno run -A cli/main.ts destination|source …`, so it has a process of its own like QEMU (its
 * own event loop, its own core to compete for) and its peak resident memory can be read from
 * `/proc/<pid>/status` while it runs. Progress and results come from the commands' JSON lines.
 *
 * @module
 */

import type {
  DestinationOptions,
  Endpoint,
  Implementation,
  ImplementationInfo,
  Outcome,
  RunningDestination,
  RunningSource,
  SourceOptions,
} from "../harness/implementation.ts";
import { wireVersionOf } from "../harness/qemu/knobs.ts";
import { TS_IMPLEMENTATION_VERSION } from "../harness/ts/implementation.ts";
import { versionInfo } from "../harness/wire/versions.ts";
import { cpuSeconds } from "../harness/cpu_time.ts";
import { exitWithParent } from "../harness/exit_with_parent.ts";
import { LineReader, stopProcess } from "./process.ts";
import { RssSampler } from "./rss.ts";

/** Options of {@linkcode tsProcessImplementation}. */
export interface TsProcessOptions {
  /**
   * `deno run` flags after {@linkcode PEER_DENO_FLAGS}, e.g.
   * `["--cpu-prof", "--cpu-prof-dir=out/bench/profile"]`.
   */
  readonly denoFlags?: readonly string[];
  /** Bound of every wait on the process and of the process's own run. Default 10 minutes. */
  readonly timeoutMs?: number;
}

const CLI = new URL("../cli/main.ts", import.meta.url).pathname;

/**
 * The flags a TypeScript peer's process runs with, here and in `deno task migwire`. V8 compiles
 * the code when a module loads, not at each function's first call: a migration's setup (accepting,
 * classifying, the main stream up to the first sync point) runs once, while the source waits, and
 * compiling it then took half the time from a TypeScript destination's first connection to its
 * last channel's release after the first SYNC. And V8 optimises a function on the thread that
 * runs it, not on its shared helper threads: a channel Worker's warm-up then ends with its hot
 * code optimised, where a compile queued behind seven other Workers' ran during the transfer.
 *
 * @example
 * ```ts
 * import { PEER_DENO_FLAGS } from "./ts_process.ts";
 * console.log(PEER_DENO_FLAGS.join(" ")); // "--v8-flags=--no-lazy,--no-concurrent-recompilation"
 * ```
 */
export const PEER_DENO_FLAGS: readonly string[] = [
  "--v8-flags=--no-lazy,--no-concurrent-recompilation",
];

const DEFAULT_TIMEOUT_MS = 10 * 60_000;
const LISTEN_TIMEOUT_MS = 60_000;
const EXIT_AFTER_RESULT_MS = 10_000;

/**
 * The `ts` implementation, each side in a process of its own.
 *
 * @example
 * ```ts ignore
 * import { tsProcessImplementation } from "./ts_process.ts";
 * const ts = tsProcessImplementation();
 * const ram = { mib: 64, seed: 1, density: 1 };
 * await using dst = await ts.destination({ channels: 4, ram, peer: ts });
 * await using src = await ts.source({ channels: 4, ram, connect: dst.endpoint, peer: ts });
 * const [s, d] = await Promise.all([src.outcome(), dst.outcome()]);
 * console.log(d.ramSha256 === s.ramSha256, d.evidence?.peakRssBytes);
 * ```
 */
export function tsProcessImplementation(options: TsProcessOptions = {}): Implementation {
  const self: ImplementationInfo = { name: "ts", version: TS_IMPLEMENTATION_VERSION };
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const flags = [...PEER_DENO_FLAGS, ...options.denoFlags ?? []];
  return {
    ...self,
    destination: async (o) => {
      const side = new TsSide("destination", [...flags], destinationArgs(o, self, timeoutMs));
      try {
        await side.listening(o.signal, timeoutMs);
      } catch (error) {
        await side[Symbol.asyncDispose]();
        throw error;
      }
      return side;
    },
    source: (o) =>
      Promise.resolve(new TsSide("source", [...flags], sourceArgs(o, self, timeoutMs))),
  };
}

/**
 * The `migwire destination` arguments for `options`. A TLS source that ends its channels without
 * close_notify (QEMU < 10.0) is accepted at a packet boundary (`--tls-eof relaxed`), as the QEMU
 * destination's `multifd-clean-tls-termination=false` knob does; `ram.prealloc` becomes
 * `--prealloc`.
 *
 * @example
 * ```ts
 * import { destinationArgs } from "./ts_process.ts";
 * const args = destinationArgs(
 *   { channels: 2, ram: { mib: 16, seed: 1 }, peer: { name: "qemu-7.2", version: "7.2.22" } },
 *   { name: "ts", version: "0.1.0" },
 *   60_000,
 * );
 * console.log(args.includes("--source-version"), args.includes("7.2.22")); // true true
 * ```
 */
export function destinationArgs(
  options: DestinationOptions,
  self: ImplementationInfo,
  timeoutMs: number,
): string[] {
  const sourceVersion = wireVersionOf(options.peer ?? self);
  const args = [
    "destination",
    "--listen",
    `${options.listen?.hostname ?? "127.0.0.1"}:${options.listen?.port ?? 0}`,
    "--channels",
    String(options.channels),
    "--ram-mib",
    String(options.ram.mib),
    "--seed",
    String(options.ram.seed),
    "--source-version",
    sourceVersion,
    "--no-verify-pattern",
    "--timeout-ms",
    String(timeoutMs),
  ];
  if (options.ram.density !== undefined) args.push("--density", String(options.ram.density));
  if (options.ram.prealloc) args.push("--prealloc");
  if (options.uuid) args.push("--uuid", options.uuid);
  if (options.tls) {
    const clean = versionInfo(sourceVersion).cleanTlsTermination.value;
    const eof = options.tls.eof ?? (clean ? "strict" : "relaxed");
    args.push("--tls-dir", options.tls.dir, "--tls-eof", eof);
    if (options.tls.verifyPeer === false) args.push("--tls-no-verify-peer");
  }
  return args;
}

/**
 * The `migwire source` arguments for `options`: the wire format follows the peer's version;
 * `ram.prealloc` becomes `--prealloc`.
 *
 * @example
 * ```ts
 * import { sourceArgs } from "./ts_process.ts";
 * const args = sourceArgs(
 *   {
 *     channels: 2,
 *     ram: { mib: 16, seed: 1 },
 *     connect: { hostname: "127.0.0.1", port: 4444 },
 *     peer: { name: "qemu-10.0", version: "10.0.2" },
 *   },
 *   { name: "ts", version: "0.1.0" },
 *   60_000,
 * );
 * console.log(args.slice(0, 3)); // ["source", "--connect", "127.0.0.1:4444"]
 * ```
 */
export function sourceArgs(
  options: SourceOptions,
  self: ImplementationInfo,
  timeoutMs: number,
): string[] {
  const peer = options.peer ?? self;
  const host = options.connect.hostname.includes(":")
    ? `[${options.connect.hostname}]`
    : options.connect.hostname;
  const args = [
    "source",
    "--connect",
    `${host}:${options.connect.port}`,
    "--channels",
    String(options.channels),
    "--ram-mib",
    String(options.ram.mib),
    "--seed",
    String(options.ram.seed),
    "--target",
    peer.name.startsWith("ts") ? "ts" : wireVersionOf(peer),
    "--timeout-ms",
    String(timeoutMs),
  ];
  if (options.ram.density !== undefined) args.push("--density", String(options.ram.density));
  if (options.ram.prealloc) args.push("--prealloc");
  if (options.uuid) args.push("--uuid", options.uuid);
  if (options.tls) {
    args.push("--tls-dir", options.tls.dir, "--tls-close", options.tls.close ?? "clean");
    if (options.tls.hostname) args.push("--tls-hostname", options.tls.hostname);
  }
  return args;
}

/** The JSON `result` line both commands end with. */
interface ResultLine {
  readonly status: string;
  readonly class?: string;
  readonly message?: string;
  readonly ramSha256?: string | null;
  readonly bytes?: number;
  readonly seconds?: number;
  /** The process's CPU seconds over its transfer span. */
  readonly transferCpuSeconds?: number;
}

/** One side running as a process. */
class TsSide implements RunningDestination, RunningSource {
  readonly #role: "source" | "destination";
  readonly #child: Deno.ChildProcess;
  readonly #stdout: LineReader;
  readonly #stderr: LineReader;
  readonly #sampler: RssSampler;
  readonly #command: string[];
  #endpoint: Endpoint = { hostname: "", port: 0 };
  #cpuSeconds: number | null = null;
  #outcome: Promise<Outcome> | undefined;
  #disposed: Promise<void> | undefined;

  constructor(role: "source" | "destination", flags: string[], args: string[]) {
    this.#role = role;
    this.#command = [Deno.execPath(), "run", "-A", ...flags, CLI, ...args];
    const line = exitWithParent(this.#command[0], this.#command.slice(1));
    this.#child = new Deno.Command(line.command, {
      args: [...line.args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#stdout = new LineReader(this.#child.stdout);
    this.#stderr = new LineReader(this.#child.stderr, 20);
    this.#sampler = new RssSampler(this.#child.pid);
  }

  get endpoint(): Endpoint {
    return this.#endpoint;
  }

  /** Waits for the destination's `listening` line. */
  async listening(signal: AbortSignal | undefined, timeoutMs: number): Promise<void> {
    const bound = bounded(signal, Math.min(timeoutMs, LISTEN_TIMEOUT_MS));
    while (true) {
      const line = await this.#stdout.next(bound).catch(() => {
        throw new Error(`ts destination did not listen in time; stderr: ${this.#stderrText()}`);
      });
      if (line === null) {
        await this.#stderr.done;
        throw new Error(`ts destination exited before it listened: ${this.#stderrText()}`);
      }
      const event = parseLine(line);
      if (event?.event === "listening") {
        this.#endpoint = { hostname: String(event.hostname), port: Number(event.port) };
        return;
      }
    }
  }

  outcome(signal?: AbortSignal): Promise<Outcome> {
    this.#outcome ??= this.#gather(bounded(signal, DEFAULT_TIMEOUT_MS));
    return this.#outcome;
  }

  async #gather(signal: AbortSignal): Promise<Outcome> {
    const started = performance.now();
    let result: ResultLine | undefined;
    try {
      while (true) {
        const line = await this.#stdout.next(signal);
        if (line === null) break;
        const event = parseLine(line);
        if (event?.event === "result") {
          result = event as unknown as ResultLine;
          this.#sampler.sample();
          this.#cpuSeconds = cpuSeconds(this.#child.pid);
          break;
        }
      }
    } catch {
      return this.#failed("timeout", "E_TIMEOUT", `no result within the bound`, started);
    }
    const exit = await Promise.race([
      this.#child.status,
      new Promise<undefined>((resolve) =>
        setTimeout(() => resolve(undefined), EXIT_AFTER_RESULT_MS)
      ),
    ]);
    this.#sampler.stop();
    await this.#stderr.done.catch(() => {});
    if (!result) {
      const crashed = exit?.signal !== null && exit?.signal !== undefined;
      return this.#failed(
        crashed ? "crashed" : "failed",
        "E_IO",
        `ts ${this.#role} ended without a result: ${this.#stderrText()}`,
        started,
        exit,
      );
    }
    return {
      status: result.status === "completed" ? "completed" : "failed",
      ...(result.class ? { errorClass: result.class as Outcome["errorClass"] } : {}),
      ...(result.message ? { message: result.message } : {}),
      ...(result.ramSha256 ? { ramSha256: result.ramSha256 } : {}),
      bytes: result.bytes ?? 0,
      seconds: result.seconds ?? 0,
      ...(exit ? { exit: { code: exit.code, signal: exit.signal } } : {}),
      evidence: this.#evidence({
        transferSeconds: result.seconds ?? null,
        transferCpuSeconds: result.transferCpuSeconds ?? null,
      }),
    };
  }

  #failed(
    status: Outcome["status"],
    errorClass: NonNullable<Outcome["errorClass"]>,
    message: string,
    started: number,
    exit?: Deno.CommandStatus,
  ): Outcome {
    return {
      status,
      errorClass,
      message,
      seconds: (performance.now() - started) / 1000,
      ...(exit ? { exit: { code: exit.code, signal: exit.signal } } : {}),
      evidence: this.#evidence({}),
    };
  }

  #evidence(extra: Record<string, unknown>): Record<string, unknown> {
    return {
      implementation: "ts",
      process: true,
      role: this.#role,
      peakRssBytes: this.#sampler.peak,
      // User plus system seconds of the whole process: start-up, pattern and digests included.
      cpuSeconds: this.#cpuSeconds,
      commandLine: this.#command,
      stderr: [...this.#stderr.tail],
      ...extra,
    };
  }

  #stderrText(): string {
    return this.#stderr.tail.filter((l) => l.trim()).slice(-5).join(" | ") || "no stderr";
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.#disposed ??= (async () => {
      await stopProcess(this.#child);
      this.#sampler.stop();
      await Promise.all([this.#stdout.done, this.#stderr.done]);
    })();
    return this.#disposed;
  }
}

function parseLine(line: string): Record<string, unknown> | undefined {
  try {
    const value = JSON.parse(line);
    return value && typeof value === "object" ? value : undefined;
  } catch {
    return undefined;
  }
}

function bounded(signal: AbortSignal | undefined, timeoutMs: number): AbortSignal {
  const timeout = AbortSignal.timeout(timeoutMs);
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}
