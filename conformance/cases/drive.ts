/**
 * What case bodies share: drive a destination under test with the scripted source, a source under
 * test into the observing destination, or a pair; then turn what happened into an observation. Every
 * start is `await using`, so an aborted case still stops its processes and closes its sockets.
 *
 * @module
 */

import type {
  ImplementationInfo,
  Outcome,
  RamSpec,
  TlsOptions,
} from "../../harness/implementation.ts";
import { runInterop } from "../../harness/interop.ts";
import { DEFAULT_TIMEOUT_MS } from "../../harness/net/wait.ts";
import { pkiDir } from "../../harness/pki/pki.ts";
import { classOf } from "../../harness/wire/errors.ts";
import type { CaseContext, CaseSpec, Observation } from "../case.ts";
import type { DestinationTranscript, SourceScript } from "../harness.ts";
import { boundedOutcome, expectedRamSha256, observeOutcome, outcomeEvidence } from "../observe.ts";

/** The VM UUID both sides get (`-uuid`) unless a case says otherwise. */
export const VM_UUID = "12345678-9abc-def0-1122-334455667788";

/** Guest RAM of every case: small enough to be quick, large enough for several packets per channel. */
export const RAM: RamSpec = { mib: 16, seed: 0x5eed };

/** How long a destination gets to reject a bad channel before the verdict is `timeout`. */
export const REJECT_WAIT_MS = 6_000;
/** How long a full migration may take (16 MiB over loopback takes well under a second). */
export const MIGRATION_WAIT_MS = 15_000;

/** TLS options with one of the committed PKI sets. */
export function tlsWith(set: "good" | "other-ca" | "wrong-name" = "good"): TlsOptions {
  return { dir: pkiDir(set), hostname: "localhost" };
}

function info(impl: ImplementationInfo): ImplementationInfo {
  return { name: impl.name, version: impl.version };
}

/** How a destination-under-test case runs. */
export interface DestinationRun {
  readonly script?: SourceScript;
  /** The destination's `-uuid`; {@linkcode VM_UUID} by default, `null` for none. */
  readonly uuid?: string | null;
  /** The source's UUID when it differs from the destination's; `null` for none. */
  readonly sourceUuid?: string | null;
  /** TLS of the destination (`true`: the good PKI). */
  readonly tls?: TlsOptions | boolean;
  /** TLS of the source, when it differs from the destination's. */
  readonly sourceTls?: TlsOptions;
  /** Full migration judged by the RAM digest (accept cases) or a bounded wait for a rejection. */
  readonly full?: boolean;
  /**
   * Bound of the wait for the destination's outcome. Without it the bound is
   * {@linkcode MIGRATION_WAIT_MS} or {@linkcode REJECT_WAIT_MS}, and at most
   * {@linkcode REJECT_WAIT_MS} once the source has ended.
   */
  readonly waitMs?: number;
}

function uuidOf(value: string | null | undefined, fallback?: string): string | undefined {
  if (value === null) return undefined;
  return value ?? fallback;
}

/**
 * Runs the destination under test (`ctx.subject`) against the scripted TypeScript source.
 *
 * @example
 * ```ts ignore
 * import { driveDestination } from "./drive.ts";
 * const observation = await driveDestination(ctx, spec, { script: { inits: { 0: { magic: 0 } } } });
 * ```
 */
export async function driveDestination(
  ctx: CaseContext,
  spec: CaseSpec,
  run: DestinationRun,
): Promise<Observation> {
  const uuid = uuidOf(run.uuid, VM_UUID);
  const sourceUuid = run.sourceUuid === undefined ? uuid : uuidOf(run.sourceUuid);
  const tls = run.tls === true ? tlsWith() : run.tls === false ? undefined : run.tls;
  const sourceTls = run.sourceTls ?? tls;
  await using dst = await ctx.subject.destination({
    channels: spec.channels,
    ram: RAM,
    peer: ctx.harness.info,
    signal: ctx.signal,
    ...(uuid ? { uuid } : {}),
    ...(tls ? { tls } : {}),
  });
  await using src = await ctx.harness.scriptedSource({
    channels: spec.channels,
    ram: RAM,
    connect: dst.endpoint,
    // A destination under test that stops answering handshakes (a QEMU whose main loop is blocked)
    // must be seen stuck: the scripted source outwaits the case rather than end the stall itself.
    handshakeTimeoutMs: DEFAULT_TIMEOUT_MS,
    peer: info(ctx.subject),
    signal: ctx.signal,
    ...(sourceUuid ? { uuid: sourceUuid } : {}),
    ...(sourceTls ? { tls: sourceTls } : {}),
    ...(run.script ? { script: run.script } : {}),
  });
  const waitMs = run.waitMs ?? (run.full ? MIGRATION_WAIT_MS : REJECT_WAIT_MS);
  const sourceOutcome = boundedOutcome(src, ctx.signal, waitMs);
  // Once the source has ended the destination has all its input: unless the case chose its own
  // bound, it then gets what a rejection gets.
  const settle = run.waitMs === undefined
    ? { after: sourceOutcome, ms: REJECT_WAIT_MS }
    : undefined;
  const [destination, source] = await Promise.all([
    boundedOutcome(dst, ctx.signal, waitMs, settle),
    sourceOutcome,
  ]);
  const observation = observeOutcome(
    destination,
    run.full ? await expectedRamSha256(RAM) : undefined,
  );
  return {
    ...observation,
    evidence: { destination: observation.evidence, source: outcomeEvidence(source) },
  };
}

/** How a source-under-test case runs. */
export interface SourceRun {
  /** `-uuid` of both sides; {@linkcode VM_UUID} by default, `null` for none. */
  readonly uuid?: string | null;
  /** TLS of the source (`true`: the good PKI). */
  readonly tls?: TlsOptions | boolean;
  /** TLS of the observing destination when it differs (wrong CA, wrong name). */
  readonly destinationTls?: TlsOptions;
  /** Bound of the wait for both outcomes. */
  readonly waitMs?: number;
  /**
   * The observing destination accepts every connection and never answers its ClientHello, for as
   * long as the case waits.
   */
  readonly stallTlsHandshakes?: boolean;
}

/** What a source-under-test run gives the case's checks. */
export interface SourceRunResult {
  readonly transcript: DestinationTranscript;
  readonly source: Outcome;
  readonly destination: Outcome;
}

/**
 * Runs the source under test (`ctx.subject`) into the TypeScript observing destination and returns
 * the transcript and both outcomes for the case's own checks.
 */
export async function driveSource(
  ctx: CaseContext,
  spec: CaseSpec,
  run: SourceRun = {},
): Promise<SourceRunResult> {
  const uuid = uuidOf(run.uuid, VM_UUID);
  const tls = run.tls === true ? tlsWith() : run.tls === false ? undefined : run.tls;
  const destinationTls = run.destinationTls ?? tls;
  await using observer = await ctx.harness.observer({
    channels: spec.channels,
    ram: RAM,
    peer: info(ctx.subject),
    signal: ctx.signal,
    ...(uuid ? { uuid } : {}),
    ...(destinationTls ? { tls: destinationTls } : {}),
    ...(run.stallTlsHandshakes
      ? { stallTlsHandshakes: true, acceptTimeoutMs: (run.waitMs ?? MIGRATION_WAIT_MS) * 2 }
      : {}),
  });
  await using src = await ctx.subject.source({
    channels: spec.channels,
    ram: RAM,
    connect: observer.endpoint,
    peer: ctx.harness.info,
    signal: ctx.signal,
    ...(uuid ? { uuid } : {}),
    ...(tls ? { tls } : {}),
  });
  const waitMs = run.waitMs ?? MIGRATION_WAIT_MS;
  const [source, destination] = await Promise.all([
    boundedOutcome(src, ctx.signal, waitMs),
    boundedOutcome(observer, ctx.signal, waitMs),
  ]);
  return { transcript: observer.transcript(), source, destination };
}

/**
 * Judges a source-under-test run by the case's checks of the transcript: a crash of the source is
 * `crashed`; otherwise each failed check is a violation.
 */
export function judgeSource(
  result: SourceRunResult,
  check: (transcript: DestinationTranscript, result: SourceRunResult) => string[],
): Observation {
  const evidence = {
    source: outcomeEvidence(result.source),
    destination: outcomeEvidence(result.destination),
  };
  if (result.source.exit?.signal || result.source.status === "crashed") {
    return { ...observeOutcome(result.source), evidence, transcript: result.transcript };
  }
  return {
    outcome: "accepted",
    violations: check(result.transcript, result),
    evidence,
    transcript: result.transcript,
  };
}

/**
 * Runs one full migration between `ctx.subject` (source) and `ctx.peer` (destination), judged by
 * the destination's RAM digest.
 */
export async function drivePair(
  ctx: CaseContext,
  spec: CaseSpec,
  options: { readonly uuid?: string } = {},
): Promise<Observation> {
  if (!ctx.peer) throw new Error(`${spec.id}: a pair case needs a destination implementation`);
  let result;
  try {
    result = await runInterop({
      src: ctx.subject,
      dst: ctx.peer,
      channels: spec.channels,
      tls: spec.transport === "tls",
      ram: RAM,
      uuid: options.uuid ?? VM_UUID,
      timeoutMs: MIGRATION_WAIT_MS,
      signal: ctx.signal,
    });
  } catch (error) {
    if (classOf(error) !== "E_TIMEOUT") throw error;
    return { outcome: "timeout", message: (error as Error).message };
  }
  const evidence = {
    source: outcomeEvidence(result.source),
    destination: outcomeEvidence(result.destination),
    knobs: result.knobs,
    seconds: result.seconds,
    bytes: result.bytes,
  };
  for (const side of [result.source, result.destination]) {
    if (side.exit?.signal || side.status === "crashed") {
      return { ...observeOutcome(side), evidence };
    }
  }
  for (const side of [result.destination, result.source]) {
    if (side.status === "frozen" || side.status === "timeout") {
      return { ...observeOutcome(side), evidence };
    }
  }
  if (result.status === "completed") {
    return { outcome: "accepted", note: `RAM digest matches (${result.seconds} s)`, evidence };
  }
  const failed = result.destination.status === "failed" ? result.destination : result.source;
  if (failed.status === "completed") {
    // Both completed but the digest differs.
    return { outcome: "accepted", violations: [result.reason ?? "RAM digest differs"], evidence };
  }
  return {
    outcome: "rejected",
    errorClass: failed.errorClass,
    message: result.reason ?? failed.message,
    evidence,
  };
}
