/**
 * The TypeScript multifd source: a complete peer of a QEMU destination (or of the TypeScript
 * one). It connects the main channel and the multifd channels in the scripted order, sends each
 * channel's init packet, regenerates the RAM section of a captured main stream of the target
 * version around its own RAM, sends the pages over multifd in that version's packet layout, and
 * replays the captured device sections, EOF and VM description.
 *
 * Like QEMU without a return path, it cannot see the destination's load fail, so it completes
 * once every byte is sent and every channel closed; unlike QEMU it fails when the destination
 * reset a channel with bytes still unread (a destination that refused the migration late).
 *
 * @module
 */

import { ownCpuSeconds } from "../cpu_time.ts";
import type { Outcome, RunningSource } from "../implementation.ts";
import { DEFAULT_TIMEOUT_MS } from "../net/wait.ts";
import { classOf, WireError } from "../wire/errors.ts";
import { expandOrder, openChannels, type OpenedChannels } from "./src_connect.ts";
import { type CloseMode, readTlsClientMaterial, type SourceConnection } from "./src_connection.ts";
import { planInit } from "./src_init.ts";
import { ChannelThreads } from "./src_channel_threads.ts";
import { MultifdSender, type PacketSender, ScriptStop } from "./src_multifd.ts";
import { mutationHook } from "./src_mutation.ts";
import { PagePacker } from "./src_packer.ts";
import { type SourceProfile, sourceProfile, targetVersionOf } from "./src_profile.ts";
import { loadSourceRam, type SourceRam } from "./src_ram.ts";
import { sendRamSection } from "./src_ram_section.ts";
import { MainStreamWriter } from "./src_stream.ts";
import { ThreadedSender, useChannelThreads } from "./src_threaded_sender.ts";
import { warmUpPackets } from "./warm_up_packets.ts";
import type { MainTemplate } from "./src_template.ts";
import type { TlsClientCredentials } from "../net/tls.ts";
import { loadMainTemplate } from "./src_template_load.ts";
import type { SourceEvent, TsSourceOptions } from "./source_options.ts";

export type * from "./source_options.ts";

/** How long `stopAfterInit` and stalls hold the channels by default. */
export const DEFAULT_HOLD_MS = 10_000;

/**
 * Starts the TypeScript source: loads RAM and template, then migrates in the background. Errors
 * of the migration itself end up in `outcome()`; only bad options reject here. Its RAM is
 * generated (or read from the file) and digested in full before the first connection, so every
 * page has been touched already: `ram.prealloc` asks for nothing more (see `src_ram.ts`).
 *
 * @example
 * ```ts ignore
 * import { startTsSource } from "./source.ts";
 * await using source = await startTsSource({
 *   connect: { hostname: "127.0.0.1", port: 4444 },
 *   channels: 2,
 *   ram: { mib: 16, seed: 1 },
 *   targetVersion: "10.0",
 * });
 * console.log((await source.outcome()).status);
 * ```
 */
export async function startTsSource(options: TsSourceOptions): Promise<RunningSource> {
  if (!Number.isInteger(options.channels) || options.channels < 1 || options.channels > 255) {
    throw new RangeError(`channels must be an integer in 1..255, got ${options.channels}`);
  }
  for (const name of ["timeoutMs", "handshakeTimeoutMs"] as const) {
    const value = options[name];
    if (value !== undefined && !(typeof value === "number" && value > 0)) {
      throw new RangeError(`${name} must be a positive number of milliseconds, got ${value}`);
    }
  }
  const version = options.targetVersion ?? targetVersionOf(options.peer);
  const profile = sourceProfile(version);
  const script = options.script ?? {};
  const extras = script.extraChannels ?? [];
  const total = options.channels + extras.length;
  const inits = Array.from(
    { length: total },
    (_, slot) =>
      slot < options.channels
        ? planInit(slot, options.uuid, script.inits?.[slot])
        : planInit(slot, options.uuid, { id: slot, ...extras[slot - options.channels] }),
  );
  const order = expandOrder(script.order, total);
  // Workers start first: they load while the RAM is generated, then warm up before it connects.
  const threads = useChannelThreads(options) ? new ChannelThreads(options.channels) : undefined;
  let template: MainTemplate, ram: SourceRam, tls: TlsClientCredentials | undefined;
  try {
    [template, ram, tls] = await Promise.all([
      loadMainTemplate(profile.version, options.mainTemplate),
      loadSourceRam(options.ram, options.ramFile),
      options.tls ? readTlsClientMaterial(options.tls, options.connect.hostname) : undefined,
    ]);
    await threads?.start(
      ram.bytes,
      profile.layout,
      template.ramBlock,
      warmUpPackets(ram.bytes.length / (1024 * 1024), options.channels),
      { timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS, signal: options.signal },
    );
  } catch (error) {
    threads?.[Symbol.dispose]();
    throw error;
  }
  const packer = new PagePacker(ram.bytes, profile.layout, template.ramBlock);
  const mutate = mutationHook(
    profile.layout,
    ram.bytes.length,
    script.mutatePacket,
    script.mutations,
  );

  const stop = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
  const run = migrate({
    options,
    profile,
    template,
    ram,
    packer,
    threads,
    signal,
    mutate,
    connectPlan: {
      endpoint: options.connect,
      order,
      inits,
      mainDelayMs: script.mainDelayMs,
      tls,
      closeMode: options.tls?.close ?? "clean",
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
      signal,
      onEvent: options.onEvent,
    },
  });
  return {
    outcome(outcomeSignal?: AbortSignal): Promise<Outcome> {
      if (!outcomeSignal) return run;
      return new Promise((resolve, reject) => {
        const onAbort = () =>
          reject(new WireError("E_TIMEOUT", `aborted waiting for the source's outcome`));
        if (outcomeSignal.aborted) return onAbort();
        outcomeSignal.addEventListener("abort", onAbort, { once: true });
        run.then(resolve).finally(() => outcomeSignal.removeEventListener("abort", onAbort));
      });
    },
    async [Symbol.asyncDispose](): Promise<void> {
      stop.abort(new Error("source disposed"));
      await run;
    },
  };
}

interface MigrateContext {
  readonly options: TsSourceOptions;
  readonly profile: SourceProfile;
  readonly template: MainTemplate;
  readonly ram: SourceRam;
  readonly packer: PagePacker;
  readonly threads?: ChannelThreads;
  readonly signal: AbortSignal;
  readonly mutate: ReturnType<typeof mutationHook>;
  readonly connectPlan: Parameters<typeof openChannels>[0];
}

/** Runs the migration; never rejects: every failure becomes the outcome. */
async function migrate(context: MigrateContext): Promise<Outcome> {
  const { options, profile, template, ram, packer, signal, threads } = context;
  const started = performance.now();
  const cpuAtStart = ownCpuSeconds();
  const script = options.script ?? {};
  let sender: PacketSender | undefined;
  const closeMode: CloseMode = options.tls?.close ?? "clean";
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const emit = (event: SourceEvent) => options.onEvent?.(event);
  let channels: OpenedChannels | undefined;
  let scriptEnded: string | undefined;
  /** When every byte had been handed to the kernel: the transfer's end, as QEMU's total-time. */
  let transferredAt: number | undefined;
  /** CPU this process used until then: the side's own when it has a process of its own. */
  let transferCpuSeconds: number | undefined;
  const evidence: Record<string, unknown> = {
    targetVersion: profile.version,
    layout: profile.layout,
    channels: options.channels,
    channelThreads: threads !== undefined,
  };
  const finish = (outcome: Omit<Outcome, "bytes" | "seconds" | "ramSha256">): Outcome => {
    const all = channels ? connectionsOf(channels) : [];
    evidence.peerClosed = all.filter((c) => c.peerDone).map((c) => c.name);
    if (scriptEnded) evidence.scriptEnded = scriptEnded;
    if (transferCpuSeconds !== undefined) evidence.transferCpuSeconds = transferCpuSeconds;
    return {
      ...outcome,
      ramSha256: ram.sha256,
      bytes: all.reduce((sum, c) => sum + c.bytesWritten, 0),
      seconds: ((transferredAt ?? performance.now()) - started) / 1000,
      evidence,
    };
  };
  try {
    channels = await openChannels(context.connectPlan);
    const main = channels.main;
    const mainWriter = main
      ? new MainStreamWriter(main.writer, { signal, timeoutMs, what: "main stream" })
      : undefined;
    mainWriter?.bytes(template.prologue);
    const lanes = channels.multifd
      .filter((m) => m.slot < options.channels && m.init.then === "send")
      .map((m) => ({ id: m.slot, connection: m.connection }));
    const held = channels.multifd.some((m) => m.init.then !== "send");
    if (script.stopAfterInit || held || !mainWriter || lanes.length === 0) {
      await mainWriter?.flush();
      scriptEnded = script.stopAfterInit || held
        ? "script stopped after the init packets"
        : "script connected no main channel or no multifd channel to send on";
      await hold(connectionsOf(channels), script.holdMs ?? DEFAULT_HOLD_MS, signal);
      await closeAll(channels, closeMode, signal, closeWaitAfterHold(channels));
      return finish({ status: "failed", message: scriptEnded });
    }
    sender = threads
      ? await ThreadedSender.start(lanes, threads, {
        pureSyncPackets: profile.pureSyncPackets,
        signal,
        timeoutMs,
      })
      : new MultifdSender(lanes, packer, {
        pureSyncPackets: profile.pureSyncPackets,
        mutatePacket: context.mutate,
        signal,
        timeoutMs,
      });
    try {
      const stats = await sendRamSection({
        main: mainWriter,
        sender,
        packer,
        profile,
        template,
        signal,
        onEvent: options.onEvent,
      });
      Object.assign(evidence, stats, { packets: sender.counts.packets });
      if (closeMode === "abrupt") {
        await sender.flush();
        await endMultifdAbruptly(channels, signal);
      }
      mainWriter.bytes(template.epilogue);
      await mainWriter.flush();
      await sender.flush();
      // The Workers are done: the sockets come back for the close.
      await sender[Symbol.asyncDispose]();
      // Waiting for the destination to close its side (below) is not transfer time: QEMU's
      // total-time does not wait for it either.
      transferredAt = performance.now();
      transferCpuSeconds = ownCpuSeconds() - cpuAtStart;
    } catch (error) {
      if (!(error instanceof ScriptStop)) throw error;
      scriptEnded = error.message;
      await mainWriter.flush().catch(() => {});
      await sender.flush().catch(() => {});
      await hold(connectionsOf(channels), script.holdMs ?? DEFAULT_HOLD_MS, signal);
      await closeAll(channels, closeMode, signal, closeWaitAfterHold(channels));
      return finish({ status: "failed", message: scriptEnded });
    }
    await closeAll(channels, closeMode, signal);
    // Without a return path a source cannot see a load fail, but a reset proves bytes went unread.
    const discarded = connectionsOf(channels).find((c) => c.discarded)?.discarded;
    if (discarded) {
      emit({ event: "error", class: discarded.errorClass, message: discarded.message });
      return finish({
        status: "failed",
        errorClass: discarded.errorClass,
        message: discarded.message,
      });
    }
    return finish({ status: "completed" });
  } catch (error) {
    const errorClass = classOf(error);
    const message = error instanceof Error ? error.message : String(error);
    emit({ event: "error", class: errorClass, message });
    threads?.raiseAbort();
    if (channels) await channels[Symbol.asyncDispose]();
    return finish({ status: "failed", errorClass, message });
  } finally {
    if (channels) await channels[Symbol.asyncDispose]();
    // After the close, which woke any Worker still in a call; the sockets are given back last.
    await sender?.[Symbol.asyncDispose]();
    threads?.[Symbol.dispose]();
  }
}

function connectionsOf(channels: OpenedChannels): SourceConnection[] {
  const all = channels.multifd.map((m) => m.connection);
  return channels.main ? [channels.main, ...all] : all;
}

/** How long an abrupt end of the multifd channels waits for the destination to react. */
export const ABRUPT_END_GRACE_MS = 500;

/**
 * Ends the multifd channels without close_notify while the migration is still open: after their
 * last packet, before the main stream's device sections and EOF. A destination that refuses such
 * an end (QEMU ≥ 10.0 by default) closes the channels, and is given until then, at most
 * {@linkcode ABRUPT_END_GRACE_MS}, so the refusal does not race the completion of the migration.
 */
async function endMultifdAbruptly(channels: OpenedChannels, signal: AbortSignal): Promise<void> {
  await Promise.all(
    channels.multifd.map((m) =>
      m.connection.close("abrupt", { signal, timeoutMs: ABRUPT_END_GRACE_MS })
    ),
  );
}

/** Closes every channel the same way, in parallel. */
/**
 * How long each channel's close waits for the destination's own close once the destination closed
 * a channel while the script held them: it has ended the migration then, and a QEMU that failed
 * before loading (10.0, a rejected multifd channel) never reads its main channel again, so the
 * wait would always run to its full bound.
 */
export const CLOSE_WAIT_AFTER_REJECTION_MS = 500;

/** The close wait after a hold: short when the destination has closed a channel already. */
function closeWaitAfterHold(channels: OpenedChannels): number | undefined {
  const rejected = connectionsOf(channels).some((c) => c.peerDone);
  return rejected ? CLOSE_WAIT_AFTER_REJECTION_MS : undefined;
}

/** Closes every channel in `mode`, each waiting at most `timeoutMs` (default: its own bound). */
async function closeAll(
  channels: OpenedChannels,
  mode: CloseMode,
  signal: AbortSignal,
  timeoutMs?: number,
): Promise<void> {
  await Promise.all(connectionsOf(channels).map((c) => c.close(mode, { signal, timeoutMs })));
}

/** Holds the channels until the destination closes one, `ms` pass or `signal` aborts. */
async function hold(
  connections: SourceConnection[],
  ms: number,
  signal: AbortSignal,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: (() => void) | undefined;
  try {
    await Promise.race([
      ...connections.filter((c) => !c.closed).map((c) => c.peerClosed),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
        onAbort = () => resolve();
        if (signal.aborted) resolve();
        else signal.addEventListener("abort", onAbort, { once: true });
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
}
