/**
 * A QEMU binary as an {@linkcode Implementation}: destinations and sources launched with `-M none`,
 * multifd and TLS configured over QMP, cross-version knobs applied from the peer's version, and
 * outcomes gathered as evidence (status, QEMU's message and its canonical class, RAM digest,
 * stderr, exit code or signal, whether QMP still answers).
 *
 * @module
 */

import type {
  CommonOptions,
  DestinationOptions,
  Endpoint,
  Implementation,
  Outcome,
  RunningDestination,
  RunningSource,
  SourceOptions,
} from "../implementation.ts";
import { cpuSeconds } from "../cpu_time.ts";
import { describeThreads, threadStates } from "../thread_states.ts";
import { describeStacks, userStacks } from "../user_stacks.ts";
import type { ErrorClass } from "../wire/errors.ts";
import { classifyQemuMessage } from "../wire/qemu_messages.ts";
import { versionInfo } from "../wire/versions.ts";
import { discoveredQemu, type QemuBinary } from "./discovery.ts";
import { globalsOf, type Knob, knobsFor, parametersOf } from "./knobs.ts";
import {
  configureMigration,
  incomingTransferSeconds,
  type MigrationEnd,
  type MigrationInfo,
  waitForMigrationEnd,
} from "./migration.ts";
import { QemuProcess, TLS_CREDS_ID } from "./process.ts";

/** How long `outcome()` waits when neither the options nor the caller bound it. */
export const DEFAULT_OUTCOME_TIMEOUT_MS = 60_000;
/** Bandwidth limit set on sources: effectively none (QEMU's default is 128 MiB/s). */
const UNLIMITED_BANDWIDTH = Number.MAX_SAFE_INTEGER;
/** Time a QEMU without `exit-on-error` gets to exit after a failed incoming migration. */
const EXIT_AFTER_FAILURE_MS = 500;
/**
 * How long QMP gets to answer before its control plane counts as frozen: well above what a QEMU
 * that is merely short of CPU under the test suite's load needs.
 */
const CONTROL_PLANE_TIMEOUT_MS = 2_000;

/** A QEMU implementation; also exposes the binary it runs. */
export interface QemuImplementation extends Implementation {
  /** The binary behind it. */
  readonly binary: QemuBinary;
}

/**
 * Wraps a discovered binary as an {@linkcode Implementation} named like the binary
 * (`qemu-7.2`, `qemu-10.0`, `qemu:/path`).
 *
 * @example Migrate between two QEMU versions
 * ```ts ignore
 * import { qemuImplementation } from "./implementation.ts";
 * import { resolveQemu } from "./discovery.ts";
 * const src = qemuImplementation(await resolveQemu("qemu-10.0"));
 * const dst = qemuImplementation(await resolveQemu("qemu-7.2"));
 * const ram = { mib: 16, seed: 1 };
 * await using d = await dst.destination({ channels: 2, ram, peer: src });
 * await using s = await src.source({ channels: 2, ram, connect: d.endpoint, peer: dst });
 * console.log((await s.outcome()).status, (await d.outcome()).ramSha256);
 * ```
 */
export function qemuImplementation(binary: QemuBinary): QemuImplementation {
  return {
    name: binary.name,
    version: binary.version,
    binary,
    destination: (options) => startDestination(binary, options),
    source: (options) => startSource(binary, options),
  };
}

/**
 * Every discovered QEMU as an implementation, oldest first.
 *
 * @example
 * ```ts ignore
 * import { qemuImplementations } from "./implementation.ts";
 * console.log((await qemuImplementations()).map((impl) => impl.name));
 * ```
 */
export async function qemuImplementations(): Promise<QemuImplementation[]> {
  return (await discoveredQemu()).map(qemuImplementation);
}

/** What both roles record about their setup. */
interface Setup {
  readonly knobs: readonly Knob[];
  readonly parameters: Record<string, unknown>;
  readonly unsupported: readonly string[];
}

async function startDestination(
  binary: QemuBinary,
  options: DestinationOptions,
): Promise<RunningDestination> {
  const info = versionInfo(binary.version);
  const unsupported: string[] = [];
  const eof = options.tls?.eof;
  // Only QEMU >= 10.0 fails on a missing close_notify, and only it has the property.
  const eofConfigurable = info.tlsPrematureEof.value === "fails";
  const clean = "migration.multifd-clean-tls-termination";
  const knobs = knobsFor("destination", binary, options.peer, { tls: options.tls !== undefined })
    // An explicit choice overrides the automatic knob.
    .filter((knob) => !(eof !== undefined && eofConfigurable && knob.name === clean));
  const globals = globalsOf(knobs);
  if (eof !== undefined) {
    if (eofConfigurable) globals.push(`${clean}=${eof === "strict" ? "on" : "off"}`);
    else unsupported.push(`tls.eof=${eof} (${binary.name} has no such setting)`);
  }

  const qemu = await QemuProcess.launch({
    binary,
    ram: { mib: options.ram.mib, prealloc: options.ram.prealloc },
    uuid: options.uuid,
    incoming: true,
    globals,
    tls: options.tls && {
      dir: options.tls.dir,
      endpoint: "server",
      verifyPeer: options.tls.verifyPeer ?? true,
    },
    signal: options.signal,
  });
  try {
    const parameters = {
      "multifd-channels": options.channels,
      ...(options.tls ? { "tls-creds": TLS_CREDS_ID } : {}),
      ...parametersOf(knobs),
    };
    await configureMigration(qemu, parameters, options.signal);
    const hostname = options.listen?.hostname ?? "127.0.0.1";
    const incoming: Record<string, unknown> = {
      uri: `tcp:${hostname}:${options.listen?.port ?? 0}`,
    };
    // Without it a failed incoming migration makes QEMU ≥ 9.1 exit before it can be asked.
    if (info.exitOnError.value) incoming["exit-on-error"] = false;
    await qemu.qmp.execute("migrate-incoming", incoming, options.signal);
    const listening = await qemu.qmp.execute<MigrationInfo>(
      "query-migrate",
      undefined,
      options.signal,
    );
    const endpoint = listeningEndpoint(listening, hostname);
    const started = performance.now();
    const cpuAtStart = cpuSeconds(qemu.pid);
    const setup: Setup = { knobs, parameters, unsupported };
    return running(
      qemu,
      options,
      endpoint,
      (signal) => destinationOutcome(qemu, setup, { started, cpuAtStart }, signal),
    );
  } catch (error) {
    await qemu[Symbol.asyncDispose]();
    throw error;
  }
}

async function startSource(binary: QemuBinary, options: SourceOptions): Promise<RunningSource> {
  const info = versionInfo(binary.version);
  const unsupported: string[] = [];
  const knobs = knobsFor("source", binary, options.peer, { tls: options.tls !== undefined });
  const close = options.tls?.close;
  if (close !== undefined && (close === "clean") !== info.cleanTlsTermination.value) {
    unsupported.push(
      `tls.close=${close} (${binary.name} always closes ` +
        `${info.cleanTlsTermination.value ? "cleanly" : "abruptly"})`,
    );
  }

  const qemu = await QemuProcess.launch({
    binary,
    ram: {
      mib: options.ram.mib,
      seed: options.ram.seed,
      density: options.ram.density,
      prealloc: options.ram.prealloc,
    },
    uuid: options.uuid,
    globals: globalsOf(knobs),
    tls: options.tls && { dir: options.tls.dir, endpoint: "client", verifyPeer: true },
    signal: options.signal,
  });
  try {
    const parameters = {
      "multifd-channels": options.channels,
      "max-bandwidth": UNLIMITED_BANDWIDTH,
      ...(options.tls ? { "tls-creds": TLS_CREDS_ID } : {}),
      ...(options.tls?.hostname ? { "tls-hostname": options.tls.hostname } : {}),
      ...parametersOf(knobs),
    };
    await configureMigration(qemu, parameters, options.signal);
    const { hostname, port } = options.connect;
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    const cpuAtStart = cpuSeconds(qemu.pid);
    await qemu.qmp.execute("migrate", { uri: `tcp:${host}:${port}` }, options.signal);
    const setup: Setup = { knobs, parameters, unsupported };
    const started = performance.now();
    return running(
      qemu,
      options,
      undefined,
      (signal) => sourceOutcome(qemu, setup, { started, cpuAtStart }, signal),
    );
  } catch (error) {
    await qemu[Symbol.asyncDispose]();
    throw error;
  }
}

function running(
  qemu: QemuProcess,
  options: CommonOptions,
  endpoint: Endpoint | undefined,
  gather: (signal: AbortSignal) => Promise<Outcome>,
): RunningDestination & RunningSource {
  let outcome: Promise<Outcome> | undefined;
  return {
    endpoint: endpoint ?? { hostname: "", port: 0 },
    outcome(signal?: AbortSignal): Promise<Outcome> {
      const signals = [signal, options.signal].filter((s): s is AbortSignal => s !== undefined);
      if (signals.length === 0) signals.push(AbortSignal.timeout(DEFAULT_OUTCOME_TIMEOUT_MS));
      outcome ??= gather(AbortSignal.any(signals));
      return outcome;
    },
    [Symbol.asyncDispose]: () => qemu[Symbol.asyncDispose](),
  };
}

function listeningEndpoint(info: MigrationInfo, hostname: string): Endpoint {
  const address = info["socket-address"]?.find((a) => a.type === "inet" && a.port);
  const port = Number(address?.port);
  if (!address || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`query-migrate shows no listening inet socket: ${JSON.stringify(info)}`);
  }
  return { hostname: address.host ?? hostname, port };
}

/**
 * The destination's outcome. Its `seconds` (and `evidence.transferSeconds`) on completion are the
 * incoming side's own span, `active` to `completed` by its MIGRATION events' timestamps; otherwise
 * the time since `migrate-incoming`.
 */
async function destinationOutcome(
  qemu: QemuProcess,
  setup: Setup,
  { started, cpuAtStart }: Start,
  signal: AbortSignal,
): Promise<Outcome> {
  const end = await waitForMigrationEnd(qemu, signal);
  const transferCpuSeconds = cpuSince(qemu, cpuAtStart);
  if (end.kind === "status" && end.info.status === "failed" && !hasExitOnError(qemu)) {
    // Before 9.1 a failed incoming migration exits QEMU; give it the time to show that.
    await qemu.waitExit(AbortSignal.timeout(EXIT_AFTER_FAILURE_MS)).catch(() => {});
  }
  const waited = (performance.now() - started) / 1000;
  const completed = end.kind === "status" && end.info.status === "completed";
  // query-migrate's total-time is the source's only; QEMU's own events time the incoming side.
  const transferSeconds = completed ? incomingTransferSeconds(qemu.qmp.events) : undefined;
  const ramSha256 = completed ? await qemu.ramSha256() : undefined;
  return await judge(qemu, setup, end, {
    seconds: transferSeconds ?? waited,
    transferSeconds,
    transferCpuSeconds,
    ramSha256,
  });
}

async function sourceOutcome(
  qemu: QemuProcess,
  setup: Setup,
  { started, cpuAtStart }: Start,
  signal: AbortSignal,
): Promise<Outcome> {
  const end = await waitForMigrationEnd(qemu, signal);
  const transferCpuSeconds = cpuSince(qemu, cpuAtStart);
  const seconds = (performance.now() - started) / 1000;
  const info = end.info;
  const completed = end.kind === "status" && info?.status === "completed";
  // QEMU's own total-time is precise, but QEMU 7.2 sometimes reports 0 for a paused guest.
  const total = info?.["total-time"];
  return await judge(qemu, setup, end, {
    seconds: total ? total / 1000 : seconds,
    bytes: info?.ram?.transferred,
    transferCpuSeconds,
    ramSha256: completed ? await qemu.ramSha256() : undefined,
  });
}

/** When a side's migration began: wall clock, and the QEMU process's CPU seconds. */
interface Start {
  readonly started: number;
  readonly cpuAtStart: number | null;
}

/**
 * CPU seconds QEMU used since the migration began, all its threads, read before the harness
 * digests its RAM file (that is this process's work, not QEMU's).
 */
function cpuSince(qemu: QemuProcess, cpuAtStart: number | null): number | undefined {
  const now = cpuSeconds(qemu.pid);
  return now === null || cpuAtStart === null ? undefined : now - cpuAtStart;
}

function hasExitOnError(qemu: QemuProcess): boolean {
  return versionInfo(qemu.binary.version).exitOnError.value;
}

/** Turns the end of a wait into an {@linkcode Outcome} with its evidence. */
async function judge(
  qemu: QemuProcess,
  setup: Setup,
  end: MigrationEnd,
  measured: {
    seconds?: number;
    transferSeconds?: number;
    transferCpuSeconds?: number;
    bytes?: number;
    ramSha256?: string;
  },
): Promise<Outcome> {
  const controlPlane = await qemu.controlPlane(CONTROL_PLANE_TIMEOUT_MS);
  // Where a stuck QEMU waits, read before the process is stopped: the kernel side always, the
  // user-space stacks (gdb, about a second) only for a control plane that stopped answering.
  const stuck = end.kind === "aborted" && !qemu.exit
    ? {
      threads: describeThreads(threadStates(qemu.pid)),
      ...(controlPlane === "frozen" ? await stacksOf(qemu.pid) : {}),
    }
    : {};
  const exit = qemu.exit;
  const info = end.info;
  const status: Outcome["status"] = end.kind === "status"
    ? (info?.status === "completed" ? "completed" : "failed")
    : end.kind === "exited"
    ? (end.exit.signal ? "crashed" : "failed")
    : (controlPlane === "frozen" ? "frozen" : "timeout");

  // A completed migration can still carry an error-desc (e.g. a 10.0 destination after a 7.2
  // source's abrupt TLS close): kept as evidence with its class.
  const message = status === "completed" ? info?.["error-desc"] : failureMessage(qemu, info);
  const errorClass = message !== undefined
    ? classify(qemu.binary.version, message, status)
    : status === "timeout" || status === "frozen"
    ? "E_TIMEOUT"
    : undefined;
  return {
    status,
    ...(errorClass ? { errorClass } : {}),
    ...(message ? { message } : {}),
    ...(measured.ramSha256 ? { ramSha256: measured.ramSha256 } : {}),
    ...(measured.bytes !== undefined ? { bytes: measured.bytes } : {}),
    ...(measured.seconds !== undefined ? { seconds: measured.seconds } : {}),
    ...(exit ? { exit: { code: exit.code, signal: exit.signal } } : {}),
    controlPlane,
    evidence: {
      implementation: qemu.binary.name,
      version: qemu.binary.version,
      binary: qemu.binary.path,
      migrationStatus: info?.status ?? null,
      errorDesc: info?.["error-desc"] ?? null,
      queryMigrate: info ?? null,
      stderr: [...qemu.stderr],
      events: qemu.qmp.events
        .filter((event) => event.event === "MIGRATION")
        .map((event) => event.data?.status),
      knobs: setup.knobs.map((knob) =>
        `${knob.kind === "global" ? "-global " : ""}${knob.name}=${knob.value}`
      ),
      knobReasons: setup.knobs.map((knob) => ({
        name: knob.name,
        value: knob.value,
        reason: knob.reason,
        ...knob.reference,
      })),
      parameters: setup.parameters,
      unsupported: setup.unsupported,
      commandLine: [qemu.binary.path, ...qemu.args],
      ramBytes: qemu.ramBytes,
      ...(measured.transferSeconds !== undefined
        ? { transferSeconds: measured.transferSeconds }
        : {}),
      ...(measured.transferCpuSeconds !== undefined
        ? { transferCpuSeconds: measured.transferCpuSeconds }
        : {}),
      ...stuck,
    },
  };
}

async function stacksOf(pid: number): Promise<{ stacks?: string }> {
  const stacks = await userStacks(pid);
  return stacks ? { stacks: describeStacks(stacks) } : {};
}

/** QEMU's own words for a failure: error-desc first, else the first error line on stderr. */
function failureMessage(qemu: QemuProcess, info: MigrationInfo | undefined): string | undefined {
  const desc = info?.["error-desc"];
  if (desc) return desc;
  const errors = qemu.stderr
    .map((line) => line.replace(/^[^\s:]*qemu-system-[^\s:]*: /, ""))
    .filter((line) => line.trim() && !/^warning:/i.test(line));
  return errors[0];
}

function classify(version: string, message: string, status: Outcome["status"]): ErrorClass {
  const known = classifyQemuMessage(version, message);
  if (known) return known;
  // GnuTLS texts QEMU passes through (gnutls_strerror, certificate verification) vary by GnuTLS
  // version rather than QEMU version.
  if (/certificate|issuer|TLS|handshake|GnuTLS/i.test(message)) return "E_TLS";
  if (status === "timeout" || status === "frozen") return "E_TIMEOUT";
  return "E_IO";
}
