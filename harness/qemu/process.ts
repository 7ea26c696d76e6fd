/**
 * Launches a guest-less QEMU (`-M none`) with QMP on a unix socket and guest RAM in a shared file,
 * all inside a private temp dir, and always kills, reaps and cleans up on dispose. Exit codes and
 * signals are evidence: a crash is a verdict, not a harness error.
 *
 * @module
 */

import { exitWithParent } from "../exit_with_parent.ts";
import type { QemuBinary } from "./discovery.ts";
import { withSignal } from "./abort.ts";
import { QmpClient } from "./qmp.ts";
import { makeOwnedTempDir } from "../owned_temp_dir.ts";
import { createHash } from "node:crypto";
import { DEFAULT_DENSITY, fillPatternPage, PAGE_SIZE } from "../ram/pattern.ts";
import { describeThreads, threadStates } from "../thread_states.ts";

/** The id of the TLS credentials object, for `migrate-set-parameters tls-creds`. */
export const TLS_CREDS_ID = "tls0";

/** Launch parameters. */
export interface QemuLaunchOptions {
  /** The binary to run. */
  readonly binary: Pick<QemuBinary, "path" | "name" | "version">;
  /**
   * Guest RAM: size, and a pattern to seed it with when `seed` is given (zeros otherwise).
   * `prealloc` adds `prealloc=on` to the memory backend: QEMU makes every page resident before it
   * answers QMP, keeping the file's contents (it populates the mapping with
   * `MADV_POPULATE_WRITE`, or reads and writes back one byte per page). The launch then has QEMU
   * read every page itself (`pmemsave` to `/dev/null`): under shadow paging (PVM guests, for one)
   * the first user-space access of each page through a mapping costs microseconds even after
   * `MADV_POPULATE_WRITE`, and would otherwise fall in the first migration, while a TypeScript
   * side's own touch of its RAM has paid it.
   */
  readonly ram?: {
    readonly mib: number;
    readonly seed?: number;
    readonly density?: number;
    readonly prealloc?: boolean;
  };
  /** `-uuid`. */
  readonly uuid?: string;
  /** `-incoming defer`: a destination waiting for `migrate-incoming`. */
  readonly incoming?: boolean;
  /** `-global` values, e.g. `migration.send-switchover-start=off`. */
  readonly globals?: readonly string[];
  /** A `tls-creds-x509` object with id {@linkcode TLS_CREDS_ID}. */
  readonly tls?: {
    readonly dir: string;
    readonly endpoint: "server" | "client";
    readonly verifyPeer?: boolean;
  };
  /** Further command-line arguments. */
  readonly args?: readonly string[];
  /**
   * How long QMP may take to answer, before the time preallocation adds; default 10 s. A start
   * that runs out of it is tried once more (see {@linkcode QemuProcess.launch}).
   */
  readonly launchTimeoutMs?: number;
  /**
   * Bounds the launch (QMP answering); a default of 10 s applies as well, plus 10 s per GiB of
   * preallocated RAM.
   */
  readonly signal?: AbortSignal;
}

/** A QEMU that did not answer QMP within its launch bound (and was killed). */
export class QemuStartTimeout extends Error {
  override name = "QemuStartTimeout";
}

/** How a process ended: `signal` is set (and `code` null) when it was killed by one. */
export interface QemuExit {
  /** Exit code, or null when killed by a signal. */
  readonly code: number | null;
  /** Signal name such as `SIGSEGV`, or null on a normal exit. */
  readonly signal: string | null;
}

/** What `isControlPlaneAnswering` found. */
export type ControlPlane = "answering" | "frozen" | "gone";

const LAUNCH_TIMEOUT_MS = 10_000;
/** Extra launch time per MiB of preallocated RAM (10 s per GiB). */
const PREALLOC_MS_PER_MIB = 10;
/** Guest RAM read per `pmemsave` of the warm-up, each under QMP's own command bound. */
const WARM_CHUNK_BYTES = 128 * 1024 * 1024;
const TERM_GRACE_MS = 500;
const STDERR_LINE_LIMIT = 2_000;
const STDERR_LINE_CHARS = 4_096;

const live = new Set<QemuProcess>();
const started: number[] = [];

/**
 * QEMU processes started by this module that have not been disposed yet.
 *
 * @example
 * ```ts
 * import { liveQemuProcesses } from "./process.ts";
 * console.log(liveQemuProcesses().length); // 0 when everything was disposed
 * ```
 */
export function liveQemuProcesses(): readonly QemuProcess[] {
  return [...live];
}

/**
 * Pids of every QEMU process started by this module, disposed or not.
 *
 * @example
 * ```ts
 * import { startedQemuPids } from "./process.ts";
 * console.log(startedQemuPids());
 * ```
 */
export function startedQemuPids(): readonly number[] {
  return [...started];
}

/**
 * A running QEMU. Dispose it (`await using`) to stop it and remove its temp dir.
 *
 * @example Start a QEMU and ask its version over QMP
 * ```ts ignore
 * import { QemuProcess } from "./process.ts";
 * import { resolveQemu } from "./discovery.ts";
 * await using qemu = await QemuProcess.launch({ binary: await resolveQemu("qemu-7.2") });
 * console.log(await qemu.qmp.execute("query-version"));
 * ```
 */
export class QemuProcess implements AsyncDisposable {
  /** The binary it runs. */
  readonly binary: Pick<QemuBinary, "path" | "name" | "version">;
  /** The full command line after the binary. */
  readonly args: readonly string[];
  /** Its private temp dir (QMP socket, RAM file). */
  readonly dir: string;
  /** The file backing guest RAM (`memory-backend-file`, `share=on`). */
  readonly ramPath: string;
  /** Guest RAM size in bytes. */
  readonly ramBytes: number;
  /** Process id. */
  readonly pid: number;
  /** The QMP session, in command mode. */
  readonly qmp: QmpClient;
  /** Lines QEMU wrote to stderr so far (the first 2000, each cut at 4096 characters). */
  readonly stderr: string[];
  /** Resolves when the process has exited, with its code or signal. */
  readonly exited: Promise<QemuExit>;

  #child: Deno.ChildProcess;
  #stderrDone: Promise<void>;
  #exit: QemuExit | undefined;
  #disposed: Promise<void> | undefined;

  private constructor(
    init: {
      binary: Pick<QemuBinary, "path" | "name" | "version">;
      args: string[];
      dir: string;
      ramPath: string;
      ramBytes: number;
      child: Deno.ChildProcess;
      stderr: string[];
      stderrDone: Promise<void>;
      exited: Promise<QemuExit>;
      qmp: QmpClient;
    },
  ) {
    this.binary = init.binary;
    this.args = init.args;
    this.dir = init.dir;
    this.ramPath = init.ramPath;
    this.ramBytes = init.ramBytes;
    this.#child = init.child;
    this.pid = init.child.pid;
    this.stderr = init.stderr;
    this.#stderrDone = init.stderrDone;
    this.exited = init.exited;
    this.exited.then((exit) => this.#exit = exit);
    this.qmp = init.qmp;
  }

  /**
   * Starts QEMU and connects QMP. Throws (after cleaning up) if QEMU exits or QMP does not answer
   * in time; the error message carries QEMU's stderr and what its threads were doing.
   *
   * A start whose QMP does not answer in time is tried once more, and the first attempt is
   * reported on stderr. QEMU 7.2 and 10.0 have each, about once in a few thousand starts here,
   * sent the QMP greeting and then not answered `qmp_capabilities`, their main thread asleep in a
   * socket receive (`__skb_wait_for_more_packets`) with 0.02 s of CPU: a hang of QEMU's start-up,
   * not of the case under test. A second such start fails the launch with both descriptions.
   */
  static async launch(options: QemuLaunchOptions): Promise<QemuProcess> {
    try {
      return await QemuProcess.#launchOnce(options);
    } catch (error) {
      if (!(error instanceof QemuStartTimeout) || options.signal?.aborted) throw error;
      console.warn(`${error.message}
(starting ${options.binary.name} once more)`);
      try {
        return await QemuProcess.#launchOnce(options);
      } catch (again) {
        if (!(again instanceof QemuStartTimeout)) throw again;
        throw new QemuStartTimeout(`${again.message}
the attempt before it: ${error.message}`);
      }
    }
  }

  static async #launchOnce(options: QemuLaunchOptions): Promise<QemuProcess> {
    const mib = options.ram?.mib ?? 16;
    if (!Number.isInteger(mib) || mib < 1 || mib > 65536) {
      throw new RangeError(`ram.mib must be an integer in 1..65536, got ${mib}`);
    }
    const dir = await makeOwnedTempDir({ prefix: "migwire-qemu-" });
    const ramPath = `${dir}/ram`;
    const qmpPath = `${dir}/qmp.sock`;
    const ramBytes = mib * 1024 * 1024;
    let child: Deno.ChildProcess | undefined;
    try {
      await seedRamFile(ramPath, ramBytes, options.ram);
      const args = qemuArgs(options, mib, ramPath, qmpPath);
      // Ends with the harness even when it is killed before any cleanup runs.
      const line = exitWithParent(options.binary.path, args);
      child = new Deno.Command(line.command, {
        args: [...line.args],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const spawned = child;
      started.push(spawned.pid);
      const exited = spawned.status.then((status) => ({
        code: status.signal ? null : status.code,
        signal: status.signal,
      }));
      const stderr: string[] = [];
      const stderrDone = collectLines(spawned.stderr, stderr);

      const exitedEarly = new AbortController();
      exited.then(() => exitedEarly.abort(new Error("QEMU exited before QMP answered")));
      const launchMs = (options.launchTimeoutMs ?? LAUNCH_TIMEOUT_MS) +
        (options.ram?.prealloc ? mib * PREALLOC_MS_PER_MIB : 0);
      const launchTimer = AbortSignal.timeout(launchMs);
      const launchSignals = [launchTimer, exitedEarly.signal];
      if (options.signal) launchSignals.push(options.signal);
      let qmp: QmpClient;
      try {
        qmp = await QmpClient.connect(qmpPath, AbortSignal.any(launchSignals));
      } catch (error) {
        // Before the kill, which ends the process and with it the early-exit signal.
        const timedOut = launchTimer.aborted && !exitedEarly.signal.aborted &&
          !options.signal?.aborted;
        // Read before the kill: whether QEMU was stuck waiting (and on what) or starved of CPU.
        const threads = threadStates(spawned.pid);
        try {
          spawned.kill("SIGKILL");
        } catch {
          // Already exited.
        }
        const exit = await exited;
        await stderrDone;
        const how = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
        const reason = error instanceof Error ? error.message : String(error);
        throw new (timedOut ? QemuStartTimeout : Error)(
          `${options.binary.name} did not start (${reason}; exit ${how}): ` +
            `${stderr.join("\n") || "no stderr"}\nthreads when it was given up: ` +
            `${describeThreads(threads)}\ncommand: ${options.binary.path} ${args.join(" ")}`,
        );
      }
      const process = new QemuProcess({
        binary: options.binary,
        args,
        dir,
        ramPath,
        ramBytes,
        child: spawned,
        stderr,
        stderrDone,
        exited,
        qmp,
      });
      live.add(process);
      if (options.ram?.prealloc) {
        try {
          const warmMs = LAUNCH_TIMEOUT_MS + mib * PREALLOC_MS_PER_MIB;
          const warmSignals = [AbortSignal.timeout(warmMs), exitedEarly.signal];
          if (options.signal) warmSignals.push(options.signal);
          await process.#readEveryPage(AbortSignal.any(warmSignals));
        } catch (error) {
          await process[Symbol.asyncDispose]();
          throw new Error(`${options.binary.name} could not read its preallocated RAM`, {
            cause: error,
          });
        }
      }
      return process;
    } catch (error) {
      if (child) await child.status.catch(() => {});
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw error;
    }
  }

  /** The exit, once the process has exited. */
  get exit(): QemuExit | undefined {
    return this.#exit;
  }

  /**
   * Whether QMP answers a `query-status` within `timeoutMs`: `answering`, `frozen` (no answer,
   * e.g. a main loop blocked in a read) or `gone` (process exited or QMP closed).
   */
  async controlPlane(timeoutMs = 1_000): Promise<ControlPlane> {
    if (this.#exit || this.qmp.isClosed) return "gone";
    try {
      await this.qmp.execute("query-status", undefined, AbortSignal.timeout(timeoutMs));
      return "answering";
    } catch (error) {
      if (error instanceof DOMException && error.name === "TimeoutError") return "frozen";
      return "gone";
    }
  }

  /** Whether QMP answers a `query-status` within `timeoutMs`. */
  async isControlPlaneAnswering(timeoutMs = 1_000): Promise<boolean> {
    return await this.controlPlane(timeoutMs) === "answering";
  }

  /** QEMU reads every page of guest RAM from user space, writing it to `/dev/null`. */
  async #readEveryPage(signal: AbortSignal): Promise<void> {
    for (let val = 0; val < this.ramBytes; val += WARM_CHUNK_BYTES) {
      const size = Math.min(WARM_CHUNK_BYTES, this.ramBytes - val);
      await this.qmp.execute("pmemsave", { val, size, filename: "/dev/null" }, signal);
    }
  }

  /** Reads guest RAM back from the backing file. */
  async readRam(): Promise<Uint8Array> {
    const ram = await Deno.readFile(this.ramPath);
    if (ram.byteLength !== this.ramBytes) {
      throw new Error(`RAM file is ${ram.byteLength} bytes, expected ${this.ramBytes}`);
    }
    return ram;
  }

  /**
   * SHA-256 (hex) of guest RAM, streamed from the backing file; equals `sha256Hex` of the same
   * bytes.
   */
  async ramSha256(): Promise<string> {
    const hash = createHash("sha256");
    using file = await Deno.open(this.ramPath, { read: true });
    const chunk = new Uint8Array(Math.min(RAM_CHUNK_BYTES, this.ramBytes));
    let total = 0;
    while (true) {
      const n = await file.read(chunk);
      if (n === null) break;
      hash.update(chunk.subarray(0, n));
      total += n;
    }
    if (total !== this.ramBytes) {
      throw new Error(`RAM file is ${total} bytes, expected ${this.ramBytes}`);
    }
    return hash.digest("hex");
  }

  /** Waits for the exit, or rejects with the abort reason. */
  waitExit(signal?: AbortSignal): Promise<QemuExit> {
    return withSignal(this.exited, signal, `${this.binary.name} to exit`);
  }

  /** Sends a signal; a process that already exited is left alone. */
  kill(signal: Deno.Signal = "SIGKILL"): void {
    if (this.#exit) return;
    try {
      this.#child.kill(signal);
    } catch {
      // Exited meanwhile.
    }
  }

  /** SIGTERM, then SIGKILL after a grace period; reaps; removes the temp dir. Idempotent. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#disposed ??= this.#dispose();
    return this.#disposed;
  }

  async #dispose(): Promise<void> {
    try {
      this.qmp.close();
      if (!this.#exit) {
        this.kill("SIGTERM");
        const grace = AbortSignal.timeout(TERM_GRACE_MS);
        await this.waitExit(grace).catch(() => this.kill("SIGKILL"));
      }
      await this.exited;
      await this.qmp.closed;
      await this.#stderrDone;
    } finally {
      live.delete(this);
      await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    }
  }
}

/** Bytes written or hashed per step, so RAM of any size needs only this much memory. */
const RAM_CHUNK_BYTES = 4 * 1024 * 1024;

/** Creates the RAM file: the pattern when a seed is given, zeros (sparse) otherwise. */
async function seedRamFile(
  path: string,
  bytes: number,
  ram: QemuLaunchOptions["ram"],
): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  await file.truncate(bytes);
  if (ram?.seed === undefined) return;
  const chunk = new Uint8Array(Math.min(RAM_CHUNK_BYTES, bytes));
  const pages = new Array<Uint8Array>(chunk.byteLength / PAGE_SIZE);
  for (let i = 0; i < pages.length; i++) {
    pages[i] = chunk.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE);
  }
  for (let offset = 0; offset < bytes; offset += chunk.byteLength) {
    const length = Math.min(chunk.byteLength, bytes - offset);
    const first = offset / PAGE_SIZE;
    for (let i = 0; i < length / PAGE_SIZE; i++) {
      fillPatternPage(pages[i], ram.seed, first + i, ram.density ?? DEFAULT_DENSITY);
    }
    await writeAll(file, chunk.subarray(0, length));
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let written = 0; written < bytes.byteLength;) {
    written += await file.write(bytes.subarray(written));
  }
}

/** QEMU's option syntax doubles commas inside a value. */
function optionValue(value: string): string {
  return value.replaceAll(",", ",,");
}

function qemuArgs(
  options: QemuLaunchOptions,
  mib: number,
  ramPath: string,
  qmpPath: string,
): string[] {
  const args = [
    "-M",
    "none,memory-backend=ram",
    "-m",
    `${mib}M`,
    "-object",
    `memory-backend-file,id=ram,size=${mib}M,mem-path=${optionValue(ramPath)},share=on` +
    (options.ram?.prealloc ? ",prealloc=on" : ""),
    "-nodefaults",
    "-display",
    "none",
    "-S",
    "-qmp",
    `unix:${optionValue(qmpPath)},server=on,wait=off`,
  ];
  if (options.uuid !== undefined) args.push("-uuid", options.uuid);
  if (options.incoming) args.push("-incoming", "defer");
  for (const global of options.globals ?? []) args.push("-global", global);
  if (options.tls) {
    const verify = options.tls.verifyPeer ?? true;
    args.push(
      "-object",
      `tls-creds-x509,id=${TLS_CREDS_ID},dir=${optionValue(options.tls.dir)},` +
        `endpoint=${options.tls.endpoint},verify-peer=${verify ? "on" : "off"}`,
    );
  }
  args.push(...options.args ?? []);
  return args;
}

async function collectLines(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
  let pending = "";
  const keep = (line: string) => {
    if (into.length < STDERR_LINE_LIMIT) into.push(line.slice(0, STDERR_LINE_CHARS));
  };
  try {
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      pending += text;
      let newline: number;
      while ((newline = pending.indexOf("\n")) >= 0) {
        keep(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
      }
      if (pending.length > STDERR_LINE_CHARS) {
        keep(pending);
        pending = "";
      }
    }
  } catch {
    // The pipe broke with the process; what was read is kept.
  }
  if (pending) keep(pending);
}

/**
 * Pids of QEMU processes started by this module that are still running, according to `pgrep`
 * (so a process that escaped the registry is found too). Empty when everything was cleaned up.
 *
 * @example
 * ```ts ignore
 * import { leftoverQemuPids } from "./process.ts";
 * console.log(await leftoverQemuPids()); // []
 * ```
 */
export async function leftoverQemuPids(signal?: AbortSignal): Promise<number[]> {
  const timeout = AbortSignal.timeout(5_000);
  const output = await new Deno.Command("pgrep", {
    args: ["-f", "qemu-system"],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
  }).output();
  const running = new Set(
    new TextDecoder().decode(output.stdout).split("\n").filter(Boolean).map(Number),
  );
  return started.filter((pid) => running.has(pid));
}
