/**
 * The TypeScript multifd destination: a complete incoming peer of a QEMU (or TypeScript) source.
 * It listens, classifies each connection (main or multifd), validates every init packet in
 * QEMU's order, receives the multifd packets into its guest-RAM image, consumes the main stream to
 * `QEMU_VM_EOF`, honours every sync point, and reports the RAM digests and a transcript of
 * everything it saw. Any failure fails the migration with its canonical class and closes every
 * socket and the listener.
 *
 * @module
 */

import { ownCpuSeconds } from "../cpu_time.ts";
import type { Outcome } from "../implementation.ts";
import { LOOPBACK } from "../net/listen.ts";
import { nativeTcpServes } from "../net/native_tcp.ts";
import { Deadline } from "../net/wait.ts";
import { classifyChannel } from "../wire/classify.ts";
import { toHex } from "../wire/bytes.ts";
import { classOf, type ErrorClass, WireError } from "../wire/errors.ts";
import { decodeInitPacket, INIT_PACKET_SIZE, validateInitPacket } from "../wire/init_packet.ts";
import { formatUuid } from "../wire/uuid.ts";
import { consumeMainStream } from "./dst_main_stream.ts";
import {
  type ChannelEnd,
  type MultifdChannelContext,
  receiveMultifdChannel,
} from "./dst_multifd.ts";
import {
  ChannelWorkerPool,
  receiveMultifdChannelInWorker,
  type WorkerChannelResult,
} from "./dst_multifd_worker.ts";
import {
  type DestinationEvent,
  failedOutcome,
  type ResolvedDestinationOptions,
  resolveDestinationOptions,
  type TsDestinationOptions,
  type TsRunningDestination,
} from "./dst_options.ts";
import { RamImage } from "./dst_ram_image.ts";
import { SyncBarrier } from "./dst_sync.ts";
import { warmUpPackets } from "./warm_up_packets.ts";
import type { DestinationTranscript, ObservedConnection } from "./dst_transcript.ts";
import { type AcceptedConn, type ConnAcceptor, tcpAcceptor, tlsAcceptor } from "./dst_conn.ts";

export type {
  DestinationEvent,
  DestinationPolicy,
  TsDestinationOptions,
  TsRunningDestination,
} from "./dst_options.ts";
export type * from "./dst_transcript.ts";

/**
 * Starts a TypeScript destination listening on loopback. Await `outcome()` for the result and
 * dispose it (`await using`) to free everything. With `ram.prealloc` every page of the RAM image
 * is made resident before it listens.
 *
 * @example Receive one migration
 * ```ts ignore
 * import { startTsDestination } from "./destination.ts";
 * await using dst = await startTsDestination({ channels: 2, ram: { mib: 16, seed: 1 } });
 * // ... start a source towards dst.endpoint ...
 * const outcome = await dst.outcome(AbortSignal.timeout(60_000));
 * console.log(outcome.status, outcome.ramSha256);
 * ```
 */
export async function startTsDestination(
  options: TsDestinationOptions,
): Promise<TsRunningDestination> {
  const resolved = resolveDestinationOptions(options);
  // Plain channels on native sockets are received by Workers, which write into shared memory.
  const threaded = !options.tls && nativeTcpServes(options.listen?.hostname ?? LOOPBACK);
  const ram = new RamImage(options.ram.mib, threaded ? "shared" : "private");
  // Before listening, so that the page faults stay outside the timed transfer, as they do with
  // QEMU's prealloc=on.
  if (options.ram.prealloc) ram.prefault();
  // Workers too are ready before listening: starting one takes longer than a small migration,
  // and their receivers are warmed for the packets to come.
  const workers = threaded
    ? await ChannelWorkerPool.start(resolved.channels, { signal: options.signal }, {
      layout: resolved.layout,
      packets: warmUpPackets(options.ram.mib, resolved.channels),
      // As many as one channel carrying every packet gets: with eight channels a Worker's share
      // left the decoder to reach V8's optimising compiler during the transfer in half of them.
      decodes: warmUpPackets(options.ram.mib, 1),
    })
    : null;
  const listen = {
    hostname: options.listen?.hostname,
    port: options.listen?.port,
    name: "ts destination",
    timeoutMs: resolved.acceptTimeoutMs,
  };
  let acceptor: ConnAcceptor;
  try {
    acceptor = options.tls
      ? await tlsAcceptor(
        listen,
        options.tls,
        resolved.handshakeTimeoutMs,
        options.stallTlsHandshakes,
      )
      : tcpAcceptor(listen);
  } catch (error) {
    workers?.[Symbol.dispose]();
    throw error;
  }
  const run = new DestinationRun(options, resolved, ram, acceptor, workers);
  run.start();
  return run.handle();
}

interface Connection {
  readonly accepted: AcceptedConn;
  readonly observed: ObservedConnection;
  /** Bytes read by a Worker the connection was lent to. */
  lentBytes: number;
}

class DestinationRun {
  readonly #options: TsDestinationOptions;
  readonly #r: ResolvedDestinationOptions;
  readonly #ram: RamImage;
  readonly #acceptor: ConnAcceptor;
  readonly #workers: ChannelWorkerPool | null;
  readonly #barrier: SyncBarrier;
  readonly #abort = new AbortController();
  readonly #transcript: DestinationTranscript;
  readonly #connections: Connection[] = [];
  readonly #channelIds = new Set<number>();
  readonly #channelDone: (Promise<void> | undefined)[];
  readonly #channelsReady = Promise.withResolvers<void>();
  readonly #done = Promise.withResolvers<Outcome>();
  readonly #startedAt = performance.now();
  /** When the first connection arrived, and this process's CPU seconds then: the transfer's start. */
  #firstAccept: { readonly at: number; readonly cpu: number } | undefined;
  /**
   * When the main stream was loaded to its end, and this process's CPU seconds then: the
   * transfer's end, where QEMU's destination sets `completed`.
   */
  #loaded: { readonly at: number; readonly cpu: number } | undefined;
  #mainSeen = false;
  #multifdSeen = 0;
  #failure: WireError | null = null;
  #bytes = 0;
  #finished = false;

  constructor(
    options: TsDestinationOptions,
    resolved: ResolvedDestinationOptions,
    ram: RamImage,
    acceptor: ConnAcceptor,
    workers: ChannelWorkerPool | null,
  ) {
    this.#options = options;
    this.#workers = workers;
    this.#r = resolved;
    this.#ram = ram;
    this.#acceptor = acceptor;
    this.#barrier = new SyncBarrier(resolved.channels);
    this.#channelDone = new Array(resolved.channels);
    this.#transcript = {
      policy: resolved.policy,
      sourceVersion: resolved.sourceVersion,
      layout: resolved.layout,
      flushStyle: resolved.flushStyle,
      channels: resolved.channels,
      uuid: formatUuid(resolved.uuid),
      tls: options.tls !== undefined,
      connections: [],
    };
    this.#channelsReady.promise.catch(() => {});
  }

  start(): void {
    const external = this.#options.signal;
    if (external) {
      const onAbort = () =>
        this.#fail(
          new WireError("E_TIMEOUT", `destination aborted: ${reasonText(external.reason)}`, {
            field: "signal",
            cause: external.reason,
          }),
        );
      if (external.aborted) onAbort();
      else external.addEventListener("abort", onAbort, { once: true });
      this.#done.promise.finally(() => external.removeEventListener("abort", onAbort));
    }
    const { hostname, port } = this.#acceptor.endpoint;
    this.#emit({ event: "listening", hostname, port });
    this.#acceptLoop().catch((error) => this.#fail(error));
  }

  handle(): TsRunningDestination {
    // deno-lint-ignore no-this-alias
    const run = this;
    return {
      endpoint: this.#acceptor.endpoint,
      get bytesReceived() {
        return run.#bytes;
      },
      outcome: (signal?: AbortSignal) => this.#outcome(signal),
      transcript: () => structuredClone(this.#transcript),
      [Symbol.asyncDispose]: async () => {
        this.#fail(new WireError("E_IO", "destination disposed before the migration ended"));
        await this.#done.promise;
      },
    };
  }

  async #outcome(signal?: AbortSignal): Promise<Outcome> {
    if (!signal) return await this.#done.promise;
    const deadline = new Deadline({ signal, timeoutMs: Infinity, what: "the outcome" }, Infinity);
    try {
      return await deadline.race(this.#done.promise);
    } catch (error) {
      return {
        status: "timeout",
        errorClass: "E_TIMEOUT",
        message: error instanceof Error ? error.message : String(error),
        bytes: this.#bytes,
        seconds: this.#seconds(),
        evidence: { transcript: structuredClone(this.#transcript) },
      };
    } finally {
      deadline.clear();
    }
  }

  /** Seconds from the first connection to `at` (0 before it). */
  #seconds(at = performance.now()): number {
    return this.#firstAccept === undefined ? 0 : (at - this.#firstAccept.at) / 1000;
  }

  #emit(event: DestinationEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch {
      // A listener's failure is not the migration's.
    }
  }

  /** Accepts until the migration ends; the first accept waits for the source to start. */
  async #acceptLoop(): Promise<void> {
    const signal = this.#abort.signal;
    for (let index = 0; !this.#finished; index++) {
      let accepted: AcceptedConn;
      try {
        accepted = await this.#acceptor.accept({
          signal,
          timeoutMs: index === 0 ? this.#r.acceptTimeoutMs : Infinity,
          what: index === 0 ? "the first connection" : "a connection",
        });
      } catch (error) {
        if (this.#finished) return;
        throw error;
      }
      const observed: ObservedConnection = {
        index,
        kind: "unknown",
        transport: accepted.transport,
        acceptedAtMs: Math.round(
          (this.#firstAccept ??= { at: performance.now(), cpu: ownCpuSeconds() }).at -
            this.#startedAt,
        ),
        bytes: 0,
        end: "open",
      };
      this.#transcript.connections.push(observed);
      const connection: Connection = { accepted, observed, lentBytes: 0 };
      this.#connections.push(connection);
      // Arrival order is decided here, synchronously, before any other connection is looked at.
      // TLS channels cannot be peeked: they come in the order their handshakes completed, which
      // decides, as in QEMU.
      const byOrder = this.#r.policy === "arrival-order" || accepted.transport === "tls";
      const kind = byOrder ? this.#classify(undefined) : undefined;
      this.#handle(connection, kind).catch((error) => this.#connectionFailed(connection, error));
    }
  }

  #classify(first4: Uint8Array | undefined): "main" | "multifd" {
    const kind = classifyChannel(this.#r.policy, first4, {
      mainSeen: this.#mainSeen,
      multifdSeen: this.#multifdSeen,
      channels: this.#r.channels,
      multifdEnabled: true,
    });
    if (kind === "main") {
      if (this.#mainSeen) {
        throw new WireError("E_UNKNOWN_CHANNEL", "second main channel", {
          field: "channel.magic",
          received: first4 ? `0x${toHex(first4)}` : "arrival order",
          expected: "one main channel per migration",
        });
      }
      this.#mainSeen = true;
      return "main";
    }
    if (kind !== "multifd") {
      throw new WireError("E_UNKNOWN_CHANNEL", `channel taken for ${kind}`, {
        field: "channel",
        received: kind,
        expected: "main or multifd",
      });
    }
    this.#multifdSeen++;
    return "multifd";
  }

  async #handle(connection: Connection, decided: "main" | "multifd" | undefined): Promise<void> {
    const { accepted, observed } = connection;
    const signal = this.#abort.signal;
    let kind = decided;
    if (kind === undefined) {
      const first4 = await accepted.reader.peek(4, {
        signal,
        timeoutMs: this.#r.readTimeoutMs,
        what: "channel magic",
        // A multifd channel's bytes stay in its socket for the Worker it is lent to.
        readAhead: false,
      });
      observed.head = toHex(first4);
      kind = this.#classify(first4);
    }
    observed.kind = kind;
    if (kind === "main") {
      this.#emit({ event: "channel", kind, index: observed.index, transport: accepted.transport });
      await this.#runMain(connection);
    } else {
      await this.#runMultifd(connection);
    }
  }

  async #runMultifd(connection: Connection): Promise<void> {
    const { accepted, observed } = connection;
    const signal = this.#abort.signal;
    const raw = new Uint8Array(INIT_PACKET_SIZE);
    await accepted.reader.readExactly(raw, {
      signal,
      timeoutMs: this.#r.readTimeoutMs,
      what: "init packet",
      readAhead: false,
    });
    observed.head ??= toHex(raw.subarray(0, 8));
    const init = decodeInitPacket(raw);
    observed.init = {
      magic: init.magic,
      version: init.version,
      uuid: formatUuid(init.uuid),
      id: init.id,
      unused1: toHex(init.unused1),
      unused2: toHex(init.unused2),
      reservedNonZero: init.reservedNonZero,
      raw: toHex(raw),
    };
    // QEMU checks `id > channels` and crashes on id == channels (spec §8.1); validateInitPacket
    // checks `id >= channels`.
    const id = validateInitPacket(init, {
      uuid: this.#r.uuid,
      channels: this.#r.channels,
      seen: this.#channelIds,
    });
    observed.channelId = id;
    this.#emit({
      event: "channel",
      kind: "multifd",
      index: observed.index,
      id,
      transport: accepted.transport,
    });
    if (this.#channelIds.size === this.#r.channels) this.#channelsReady.resolve();
    const context: MultifdChannelContext = {
      id,
      reader: accepted.reader,
      layout: this.#r.layout,
      ram: this.#ram,
      barrier: this.#barrier,
      signal,
      readTimeoutMs: this.#r.readTimeoutMs,
      cleanEnd: accepted.transport === "tls" ? "close_notify" : "fin",
      relaxedEof: accepted.transport === "tls" && this.#options.tls?.eof === "relaxed",
      observed,
      onBytes: (n) => {
        this.#bytes += n;
      },
    };
    const received = accepted.lend && this.#workers
      ? this.#receiveInWorker(connection, context)
      : receiveMultifdChannel(context);
    const done = received.then((end) => {
      observed.end = end;
      observed.bytes = bytesRead(connection);
      this.#barrier.channelEnded(id);
    });
    this.#channelDone[id] = done.catch(() => {});
    try {
      await done;
    } finally {
      this.#barrier.channelEnded(id);
    }
  }

  /** The channel on a Worker of its own; the bytes it read count for the connection. */
  async #receiveInWorker(
    connection: Connection,
    context: MultifdChannelContext,
  ): Promise<ChannelEnd> {
    const { accepted } = connection;
    const name = accepted.reader.name ?? `multifd channel ${context.id}`;
    const loan = accepted.lend!();
    let result: WorkerChannelResult | undefined;
    try {
      result = await receiveMultifdChannelInWorker(context, {
        loan,
        close: () => accepted.close(),
        name,
        worker: this.#workers!.take(),
        retire: (worker) => this.#workers!.retire(worker),
        onBytesRead: (n) => {
          connection.lentBytes = n;
        },
      });
      return result.end;
    } finally {
      connection.lentBytes = result?.bytes ?? connection.lentBytes;
    }
  }

  async #runMain(connection: Connection): Promise<void> {
    const { accepted, observed } = connection;
    const signal = this.#abort.signal;
    await consumeMainStream({
      reader: accepted.reader,
      ram: this.#ram,
      barrier: this.#barrier,
      flushStyle: this.#r.flushStyle,
      uuid: this.#r.uuid,
      signal,
      readTimeoutMs: this.#r.readTimeoutMs,
      // QEMU starts loading only once every channel is there (`migration_has_all_channels`).
      afterHeader: () =>
        new Deadline({
          signal,
          timeoutMs: this.#r.readTimeoutMs,
          what: `${this.#r.channels} multifd channels`,
        }, this.#r.readTimeoutMs).race(this.#channelsReady.promise).catch((error) => {
          throw error instanceof WireError && error.errorClass === "E_TIMEOUT"
            ? new WireError(
              "E_TIMEOUT",
              `only ${this.#channelIds.size} of ${this.#r.channels} multifd channels set up`,
              { field: "channels", received: this.#channelIds.size, expected: this.#r.channels },
            )
            : error;
        }),
      observed: (main) => {
        this.#transcript.main = main;
      },
    });
    // Every channel has passed the last sync point: all RAM is in place. QEMU's destination is
    // `completed` here (`process_incoming_migration_co`, then `process_incoming_migration_bh`) and
    // shuts the channels itself; the source's closing them below is not transfer time.
    this.#loaded = { at: performance.now(), cpu: ownCpuSeconds() };
    const mainBytes = accepted.reader.bytesRead;
    observed.bytes = mainBytes;
    this.#bytes += mainBytes;
    // The main stream ends after the VM description: expect its end of stream. QEMU sources
    // never end the main channel with close_notify, so an abrupt TLS end is recorded, not failed.
    try {
      const wait = { signal, timeoutMs: this.#r.readTimeoutMs, what: "main channel end" };
      if (await accepted.reader.ended(wait)) {
        observed.end = accepted.transport === "tls" ? "close_notify" : "fin";
      }
    } catch (error) {
      if (!(error instanceof WireError && error.errorClass === "E_TLS_PREMATURE_EOF")) throw error;
      observed.end = "abrupt";
    }
    await this.#complete();
  }

  /** The main stream is done: let the channels end, then report. */
  async #complete(): Promise<void> {
    const grace = new Deadline(
      { signal: this.#abort.signal, timeoutMs: this.#r.readTimeoutMs, what: "channels to end" },
      this.#r.readTimeoutMs,
    );
    try {
      await grace.race(Promise.all(this.#channelDone));
    } catch {
      // Channels still open after the grace period are closed below and recorded as "open".
    } finally {
      grace.clear();
    }
    if (this.#failure) return;
    this.#finished = true;
    const end = this.#loaded ?? { at: performance.now(), cpu: ownCpuSeconds() };
    const seconds = this.#seconds(end.at);
    const transferCpuSeconds = end.cpu - (this.#firstAccept?.cpu ?? 0);
    for (const c of this.#connections) {
      if (c.observed.kind === "multifd" || c.observed.kind === "main") {
        c.observed.bytes = bytesRead(c);
      }
    }
    // Hashing and the pattern check come after the transfer and are timed apart from it.
    let mark = performance.now();
    const ramSha256 = await this.#ram.digest();
    const blocks = this.#ram.blockDigests(ramSha256);
    const digestSeconds = (performance.now() - mark) / 1000;
    mark = performance.now();
    const pattern = this.#options.verifyPattern === false
      ? undefined
      : this.#ram.compareWithPattern(this.#options.ram, ramSha256);
    const patternSeconds = (performance.now() - mark) / 1000;
    if (this.#options.ramOut) await Deno.writeFile(this.#options.ramOut, this.#ram.bytes);
    this.#transcript.result = { status: "completed", ramSha256 };
    this.#teardown();
    this.#done.resolve({
      status: "completed",
      ramSha256,
      bytes: this.#bytes,
      seconds,
      evidence: {
        blocks,
        pattern,
        // The span under the name every destination's outcome uses (`judgeRun` reads it).
        transferSeconds: seconds,
        timings: { digestSeconds, patternSeconds },
        // This process's CPU over the transfer: the side's own when it has a process of its own.
        transferCpuSeconds,
        syncPoints: this.#barrier.syncPoints,
        // Whether the multifd channels were received on Workers of their own.
        channelThreads: this.#workers !== null,
        transcript: structuredClone(this.#transcript),
      },
    });
  }

  #connectionFailed(connection: Connection, error: unknown): void {
    const wire = asWireError(error);
    if (!this.#failure) {
      connection.observed.end = "error";
      connection.observed.errorClass = wire.errorClass;
      connection.observed.error = wire.message;
    }
    connection.observed.bytes = bytesRead(connection);
    this.#fail(wire);
  }

  #fail(error: unknown): void {
    if (this.#failure || this.#finished) return;
    const wire = asWireError(error);
    this.#failure = wire;
    this.#finished = true;
    this.#emit({ event: "error", class: wire.errorClass, message: wire.message });
    this.#abort.abort(wire);
    this.#barrier.fail(wire);
    this.#transcript.result = { status: "failed", errorClass: wire.errorClass };
    this.#teardown();
    this.#done.resolve(
      failedOutcome(wire.errorClass, wire.message, {
        bytes: this.#bytes,
        seconds: this.#seconds(),
        evidence: { transcript: structuredClone(this.#transcript) },
      }),
    );
  }

  #teardown(): void {
    this.#acceptor.close();
    this.#workers?.[Symbol.dispose]();
    for (const c of this.#connections) c.accepted.close();
  }
}

function asWireError(error: unknown): WireError {
  if (error instanceof WireError) return error;
  const errorClass: ErrorClass = classOf(error);
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new WireError(errorClass, message, { cause: error });
}

function reasonText(reason: unknown): string {
  return reason instanceof Error ? reason.message : String(reason ?? "aborted");
}

/** Bytes read from a connection, by the destination's thread and by a Worker it was lent to. */
function bytesRead(connection: Connection): number {
  return connection.accepted.reader.bytesRead + connection.lentBytes;
}
