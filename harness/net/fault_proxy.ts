/**
 * A fault-injecting TCP proxy. Bytes pass through unchanged (TLS is not terminated); on request it
 * follows TLS record framing, so it can strip a close_notify from the end of a direction. Per
 * connection (by accept index) or for all, it can delay the upstream connection, reorder
 * connections, stall or cut (FIN) a direction after k bytes, and reset (RST) a connection.
 *
 * @module
 */

import type { Endpoint } from "../implementation.ts";
import { NodeConn, NodeListener } from "./node_conn.ts";
import { ProxyConnections } from "./proxy_connections.ts";
import { MAX_RECORD_BODY, mayBeCloseNotify, TlsRecordTracker } from "./tls_record.ts";
import { DEFAULT_TIMEOUT_MS, type WaitOptions } from "./wait.ts";

/** A direction of a proxied connection: source → destination, or back. */
export type Direction = "toUpstream" | "fromUpstream";

/** Faults for the connections it names (accept order, 0-based), or for all. */
export interface Fault {
  /** Connection indexes this fault applies to; every connection when absent. */
  readonly connections?: readonly number[];
  /** Connect upstream this many ms after the source's connection was accepted. */
  readonly delayMs?: number;
  /**
   * Drop the direction's last TLS record before FIN when it may be a close_notify (a TLS 1.2
   * alert, or a TLS 1.3 record of an encrypted alert's 19 bytes), so the end looks abrupt. Such
   * a record is held until the next byte (then forwarded) or FIN (then dropped).
   */
  readonly dropCloseNotify?: Direction;
  /** Forward `afterBytes` of the direction, then nothing more for `ms` (forever when absent). */
  readonly stall?: {
    readonly direction: Direction;
    readonly afterBytes: number;
    readonly ms?: number;
  };
  /** Forward `afterBytes` of the direction, then send FIN; later bytes are read and discarded. */
  readonly cut?: { readonly direction: Direction; readonly afterBytes: number };
  /**
   * Forward `afterBytes` of the direction (0: reset as soon as upstream is connected), then
   * reset (RST) the source side, the destination side, or both (default); a side not reset is
   * closed with FIN.
   */
  readonly reset?: {
    readonly direction: Direction;
    readonly afterBytes: number;
    readonly side?: "both" | "client" | "upstream";
  };
}

/** Options of {@linkcode startFaultProxy}. */
export interface FaultProxyOptions {
  /** Where the destination listens. */
  readonly upstream: Endpoint;
  readonly faults?: readonly Fault[];
  /**
   * Hold the first `order.length` connections and connect them upstream in this order of accept
   * indexes (a permutation of 0..n-1), each once the one before it is connected; later
   * connections follow in accept order.
   */
  readonly reorder?: readonly number[];
  /** Follow TLS record framing in both directions and report record counts. */
  readonly tlsRecords?: boolean;
  /** Bound of each upstream connect and of waiting for held connections, default 30 s. */
  readonly timeoutMs?: number;
  /** Name in error messages, default `fault proxy`. */
  readonly name?: string;
}

/** How a direction ended: as the sender ended it, or as a fault ended it. */
export type FaultDirectionEnd = "open" | "fin" | "rst" | "error" | "cut" | "reset";

/** What happened to one direction. */
export interface FaultDirectionReport {
  /** Bytes read from the sender. */
  readonly received: number;
  /** Bytes written to the receiver. */
  readonly forwarded: number;
  readonly end: FaultDirectionEnd;
  /** Whole TLS records seen (with `tlsRecords` or `dropCloseNotify`). */
  readonly records?: number;
  /** The record dropped before FIN, if one was. */
  readonly droppedRecord?: { readonly type: number; readonly length: number };
  readonly error?: string;
}

/** What happened to one connection. Times are ms since the proxy started. */
export interface FaultConnectionReport {
  readonly index: number;
  readonly acceptedMs: number;
  readonly upstreamConnectedMs?: number;
  /** The faults that took effect, in order, e.g. `stall toUpstream after 64 bytes`. */
  readonly applied: readonly string[];
  readonly toUpstream: FaultDirectionReport;
  readonly fromUpstream: FaultDirectionReport;
  readonly error?: string;
}

/**
 * Passes a TLS stream through, holding back any record that may be a close_notify until the
 * stream shows it was not the last one. Non-held bytes go out as views of the input chunks.
 */
export class CloseNotifyDropper {
  readonly #header = new Uint8Array(5);
  #headerFill = 0;
  #bodyLeft = 0;
  #inRecord = false;
  #holding = false;
  #held: Uint8Array[] = [];
  #heldRecord: { type: number; length: number } | null = null;
  #heldComplete = false;
  #records = 0;
  #invalid = false;
  /** The record dropped by {@linkcode CloseNotifyDropper.finish}, if any. */
  dropped: { readonly type: number; readonly length: number } | null = null;

  /** Whole records seen. */
  get records(): number {
    return this.#records;
  }

  /** The parts of `chunk`, and of bytes held before, that can be sent now, in order. */
  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    if (this.#invalid) return [chunk];
    let runStart = -1;
    let runEnd = -1;
    const flushRun = () => {
      if (runStart >= 0 && runEnd > runStart) out.push(chunk.subarray(runStart, runEnd));
      runStart = runEnd = -1;
    };
    const emit = (a: number, b: number) => {
      if (runStart >= 0 && runEnd === a) runEnd = b;
      else {
        flushRun();
        runStart = a;
        runEnd = b;
      }
    };
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (!this.#inRecord) {
        if (this.#headerFill === 0 && this.#held.length > 0) {
          // Another record starts: the held one was not the last.
          flushRun();
          out.push(...this.#held);
          this.#held = [];
          this.#holding = false;
          this.#heldRecord = null;
        }
        const from = i;
        const filled = this.#headerFill;
        const take = Math.min(5 - filled, n - i);
        this.#header.set(chunk.subarray(i, i + take), filled);
        this.#headerFill += take;
        i += take;
        if (this.#headerFill < 5) break;
        this.#headerFill = 0;
        const type = this.#header[0];
        const length = (this.#header[3] << 8) | this.#header[4];
        if (type < 20 || type > 24 || this.#header[1] !== 3 || length > MAX_RECORD_BODY + 1024) {
          // Not TLS: pass everything through from here on.
          this.#invalid = true;
          flushRun();
          out.push(this.#header.slice(0, 5), chunk.subarray(i));
          return out;
        }
        this.#inRecord = true;
        this.#bodyLeft = length;
        this.#holding = mayBeCloseNotify({ type, length, version: 0, offset: 0 });
        const whole = filled === 0;
        if (this.#holding) {
          this.#heldRecord = { type, length };
          this.#heldComplete = false;
          this.#held.push(this.#header.slice(0, 5));
        } else if (whole) {
          emit(from, i);
        } else {
          flushRun();
          out.push(this.#header.slice(0, 5));
        }
      }
      const take = Math.min(this.#bodyLeft, n - i);
      if (this.#holding) this.#held.push(chunk.slice(i, i + take));
      else if (take > 0) emit(i, i + take);
      i += take;
      this.#bodyLeft -= take;
      if (this.#bodyLeft === 0) {
        this.#inRecord = false;
        this.#records++;
        if (this.#holding) this.#heldComplete = true;
      }
    }
    flushRun();
    return out;
  }

  /** At FIN: drops a held whole close_notify candidate; returns any bytes still to send. */
  finish(): Uint8Array[] {
    if (this.#heldRecord && this.#heldComplete && !this.#inRecord && this.#headerFill === 0) {
      this.dropped = this.#heldRecord;
      this.#held = [];
      this.#heldRecord = null;
      return [];
    }
    const out = this.#held;
    this.#held = [];
    if (this.#headerFill > 0) out.push(this.#header.slice(0, this.#headerFill));
    return out;
  }
}

/** The faults that apply to one connection, merged. */
interface ConnectionFaults {
  delayMs?: number;
  dropCloseNotify: Set<Direction>;
  stall: Map<Direction, { afterBytes: number; ms?: number }>;
  cut: Map<Direction, number>;
  reset: Map<Direction, { afterBytes: number; side: "both" | "client" | "upstream" }>;
}

class DirectionState {
  received = 0;
  forwarded = 0;
  end: FaultDirectionEnd = "open";
  error?: string;
  dropper?: CloseNotifyDropper;
  tracker?: { records: number; feed(chunk: Uint8Array): void };
  release = Promise.withResolvers<void>();

  report(): FaultDirectionReport {
    const records = this.dropper?.records ?? this.tracker?.records;
    return {
      received: this.received,
      forwarded: this.forwarded,
      end: this.end,
      ...(records === undefined ? {} : { records }),
      ...(this.dropper?.dropped ? { droppedRecord: { ...this.dropper.dropped } } : {}),
      ...(this.error ? { error: this.error } : {}),
    };
  }
}

class ConnectionState {
  readonly index: number;
  readonly acceptedMs: number;
  upstreamConnectedMs?: number;
  readonly applied: string[] = [];
  readonly toUpstream = new DirectionState();
  readonly fromUpstream = new DirectionState();
  error?: string;
  readonly sockets: NodeConn[] = [];

  constructor(index: number, acceptedMs: number) {
    this.index = index;
    this.acceptedMs = acceptedMs;
  }

  report(): FaultConnectionReport {
    return {
      index: this.index,
      acceptedMs: this.acceptedMs,
      upstreamConnectedMs: this.upstreamConnectedMs,
      applied: [...this.applied],
      toUpstream: this.toUpstream.report(),
      fromUpstream: this.fromUpstream.report(),
      ...(this.error ? { error: this.error } : {}),
    };
  }
}

/**
 * The running fault proxy. Dispose it to close everything.
 *
 * @example Make QEMU 10.0's multifd channels end without close_notify
 * ```ts ignore
 * import { startFaultProxy } from "./fault_proxy.ts";
 * await using proxy = await startFaultProxy({
 *   upstream: destination.endpoint,
 *   faults: [{ connections: [1, 2], dropCloseNotify: "toUpstream" }],
 * });
 * // … source migrates to proxy.endpoint …
 * console.log((await proxy.finished({ connections: 3 })).map((c) => c.toUpstream.droppedRecord));
 * ```
 */
export class FaultProxy implements AsyncDisposable {
  readonly #listener: NodeListener;
  readonly #options: FaultProxyOptions;
  readonly #t0 = performance.now();
  readonly #connections: ProxyConnections<ConnectionState>;
  /** Resolves when the connection at each admission position has connected (or given up). */
  readonly #admitted = new Map<number, PromiseWithResolvers<void>>();
  readonly #closing = new AbortController();

  /** Use {@linkcode startFaultProxy}. */
  constructor(listener: NodeListener, options: FaultProxyOptions) {
    const order = options.reorder ?? [];
    const sorted = [...order].sort((a, b) => a - b);
    if (!sorted.every((v, i) => v === i)) {
      throw new RangeError(
        `reorder must be a permutation of 0..${order.length - 1}, got [${order.join(", ")}]`,
      );
    }
    this.#listener = listener;
    this.#options = options;
    this.#connections = new ProxyConnections(listener, this.#name);
    this.#connections.acceptFrom({
      open: (client, index) => {
        const connection = new ConnectionState(index, this.#now());
        connection.sockets.push(client);
        return connection;
      },
      handle: (client, connection) =>
        this.#handle(client, connection).catch((error) => {
          connection.error ??= String(error);
        }),
    });
  }

  /** Where the source connects to. */
  get endpoint(): Endpoint {
    return this.#listener.endpoint;
  }

  /** The port. */
  get port(): number {
    return this.#listener.port;
  }

  /** What happened so far, per connection in accept order. */
  report(): FaultConnectionReport[] {
    return this.#connections.accepted.map((c) => c.report());
  }

  /** Ends a stall that has no `ms` (or ends it early) on one connection. */
  release(index: number, direction: Direction): void {
    const connection = this.#connections.accepted[index];
    connection?.[direction].release.resolve();
  }

  /**
   * Waits until at least `connections` (default 1) were accepted and all accepted ones have
   * ended both directions; returns the report. `E_TIMEOUT` past the bound.
   */
  async finished(
    options?: WaitOptions & { readonly connections?: number },
  ): Promise<FaultConnectionReport[]> {
    await this.#connections.ended(options);
    return this.report();
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    if (this.#closing.signal.aborted) return;
    this.#closing.abort(new Error(`${this.#name} closed`));
    this.#connections.close();
    for (const connection of this.#connections.accepted) {
      for (const socket of connection.sockets) socket.close();
      connection.toUpstream.release.resolve();
      connection.fromUpstream.release.resolve();
    }
    await this.#connections.settled();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  get #name(): string {
    return this.#options.name ?? "fault proxy";
  }

  #now(): number {
    return Math.round((performance.now() - this.#t0) * 1000) / 1000;
  }

  #admission(position: number): PromiseWithResolvers<void> {
    let entry = this.#admitted.get(position);
    if (!entry) {
      entry = Promise.withResolvers<void>();
      this.#admitted.set(position, entry);
    }
    return entry;
  }

  #faultsFor(index: number): ConnectionFaults {
    const merged: ConnectionFaults = {
      dropCloseNotify: new Set(),
      stall: new Map(),
      cut: new Map(),
      reset: new Map(),
    };
    for (const fault of this.#options.faults ?? []) {
      if (fault.connections && !fault.connections.includes(index)) continue;
      if (fault.delayMs !== undefined) merged.delayMs = fault.delayMs;
      if (fault.dropCloseNotify) merged.dropCloseNotify.add(fault.dropCloseNotify);
      if (fault.stall) merged.stall.set(fault.stall.direction, fault.stall);
      if (fault.cut) merged.cut.set(fault.cut.direction, fault.cut.afterBytes);
      if (fault.reset) {
        merged.reset.set(fault.reset.direction, {
          afterBytes: fault.reset.afterBytes,
          side: fault.reset.side ?? "both",
        });
      }
    }
    return merged;
  }

  async #handle(client: NodeConn, connection: ConnectionState): Promise<void> {
    const index = connection.index;
    const faults = this.#faultsFor(index);
    const timeoutMs = this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const order = this.#options.reorder ?? [];
    const position = index < order.length ? order.indexOf(index) : index;
    const mine = this.#admission(position);
    try {
      if (faults.delayMs !== undefined) {
        // A delayed connection does not hold up the ones after it.
        mine.resolve();
        connection.applied.push(`delay ${faults.delayMs} ms`);
        await abortableDelay(faults.delayMs, this.#closing.signal);
      } else if (position > 0) {
        const previous = this.#admission(position - 1).promise;
        const waited = await Promise.race([
          previous.then(() => true),
          abortableDelay(timeoutMs, this.#closing.signal).then(() => false),
        ]);
        if (index < order.length) {
          connection.applied.push(
            waited
              ? `reorder: upstream #${position}`
              : `reorder: gave up waiting after ${timeoutMs} ms`,
          );
        }
      }
      const upstream = await NodeConn.connect(this.#options.upstream, {
        timeoutMs,
        signal: this.#closing.signal,
        what: `connection ${index}`,
      });
      connection.sockets.push(upstream);
      connection.upstreamConnectedMs = this.#now();
      mine.resolve();
      const ctx = { client, upstream, connection, faults };
      const immediate = [...faults.reset].find(([, r]) => r.afterBytes === 0);
      if (immediate) {
        this.#reset(ctx, immediate[0], immediate[1].side);
        return;
      }
      await Promise.all([
        this.#pump(ctx, "toUpstream", client, upstream),
        this.#pump(ctx, "fromUpstream", upstream, client),
      ]);
    } catch (error) {
      mine.resolve();
      connection.error ??= error instanceof Error ? error.message : String(error);
      for (const d of ["toUpstream", "fromUpstream"] as const) {
        if (connection[d].end === "open") connection[d].end = "error";
      }
      client.reset();
    }
  }

  #reset(
    ctx: { client: NodeConn; upstream: NodeConn; connection: ConnectionState },
    direction: Direction,
    side: "both" | "client" | "upstream",
  ): void {
    const state = ctx.connection[direction];
    ctx.connection.applied.push(`reset ${side} after ${state.received} bytes ${direction}`);
    // The side not reset is closed with FIN, so it is not left waiting.
    if (side === "upstream") ctx.client.close();
    else ctx.client.reset();
    if (side === "client") ctx.upstream.close();
    else ctx.upstream.reset();
    for (const d of ["toUpstream", "fromUpstream"] as const) {
      if (ctx.connection[d].end === "open") ctx.connection[d].end = "reset";
    }
  }

  async #pump(
    ctx: {
      client: NodeConn;
      upstream: NodeConn;
      connection: ConnectionState;
      faults: ConnectionFaults;
    },
    direction: Direction,
    from: NodeConn,
    to: NodeConn,
  ): Promise<void> {
    const state = ctx.connection[direction];
    const { faults, connection } = ctx;
    if (faults.dropCloseNotify.has(direction)) state.dropper = new CloseNotifyDropper();
    else if (this.#options.tlsRecords) state.tracker = new TlsRecordTracker();
    const stall = faults.stall.get(direction);
    const cut = faults.cut.get(direction);
    const reset = faults.reset.get(direction);
    let stalled = false;
    let cutDone = false;
    const forward = async (data: Uint8Array) => {
      if (data.length === 0 || cutDone) return;
      const parts = state.dropper ? state.dropper.push(data) : [data];
      state.tracker?.feed(data);
      for (const part of parts) {
        try {
          await to.write(part);
          state.forwarded += part.length;
        } catch (error) {
          state.error ??= error instanceof Error ? error.message : String(error);
        }
      }
    };
    for (;;) {
      let chunk: Uint8Array | null;
      try {
        chunk = await from.readChunk();
      } catch (error) {
        if (state.end !== "open") return;
        const reset = error instanceof Deno.errors.ConnectionReset;
        state.end = reset ? "rst" : "error";
        if (!reset) state.error = error instanceof Error ? error.message : String(error);
        if (reset) to.reset();
        else to.close();
        return;
      }
      if (chunk === null) {
        if (state.end === "open") state.end = cutDone ? "cut" : "fin";
        if (!cutDone) {
          for (const part of state.dropper?.finish() ?? []) await forward(part);
          if (state.dropper?.dropped) {
            const { type, length } = state.dropper.dropped;
            connection.applied.push(
              `dropped final record ${direction} (type ${type}, ${length} bytes)`,
            );
          }
          await to.closeWrite().catch(() => {});
        }
        return;
      }
      if (state.end === "reset") return;
      let data = chunk;
      const before = state.received;
      state.received += data.length;
      if (cutDone) continue;
      // Byte-count faults, in order of where they trigger.
      const limits = [
        stall && !stalled ? { at: stall.afterBytes, kind: "stall" as const } : undefined,
        cut !== undefined ? { at: cut, kind: "cut" as const } : undefined,
        reset ? { at: reset.afterBytes, kind: "reset" as const } : undefined,
      ].filter((l): l is { at: number; kind: "stall" | "cut" | "reset" } =>
        l !== undefined && l.at >= before && l.at < state.received
      ).sort((a, b) => a.at - b.at);
      let consumed = before;
      for (const limit of limits) {
        await forward(data.subarray(0, limit.at - consumed));
        data = data.subarray(limit.at - consumed);
        consumed = limit.at;
        if (limit.kind === "stall") {
          stalled = true;
          connection.applied.push(`stall ${direction} after ${limit.at} bytes`);
          const ends = [state.release.promise];
          if (stall!.ms !== undefined) ends.push(abortableDelay(stall!.ms, this.#closing.signal));
          await Promise.race(ends);
          connection.applied.push(`resume ${direction}`);
        } else if (limit.kind === "cut") {
          connection.applied.push(`cut ${direction} after ${limit.at} bytes`);
          cutDone = true;
          state.end = "cut";
          await to.closeWrite().catch(() => {});
          break;
        } else {
          this.#reset(ctx, direction, reset!.side);
          return;
        }
      }
      if (!cutDone) await forward(data);
    }
  }
}

/** Resolves after `ms`, or at once when `signal` aborts; never rejects. */
function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * Starts a fault proxy on loopback toward `options.upstream`.
 *
 * @example Cut the main channel after its first 100 bytes
 * ```ts ignore
 * import { startFaultProxy } from "./fault_proxy.ts";
 * await using proxy = await startFaultProxy({
 *   upstream: { hostname: "127.0.0.1", port: 4444 },
 *   faults: [{ connections: [0], cut: { direction: "toUpstream", afterBytes: 100 } }],
 * });
 * ```
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const listener = await NodeListener.listen({ name: options.name ?? "fault proxy" });
  try {
    return new FaultProxy(listener, options);
  } catch (error) {
    listener.close();
    throw error;
  }
}
