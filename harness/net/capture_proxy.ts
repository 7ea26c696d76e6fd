/**
 * A recording TCP proxy between a real source and a real destination. Every accepted connection is
 * forwarded upstream at once, in accept order, and both directions are recorded in memory with
 * timestamps and how they ended. With TLS it terminates TLS on both sides (test PKI server
 * certificate toward the source, client certificate toward the destination) and records the
 * plaintext.
 *
 * @module
 */

import type { Endpoint } from "../implementation.ts";
import { WireError } from "../wire/errors.ts";
import { NodeConn, NodeListener } from "./node_conn.ts";
import { ProxyConnections } from "./proxy_connections.ts";
import {
  clientHandshake,
  readTlsClientCredentials,
  readTlsServerCredentials,
  serverHandshake,
  type TlsClientCredentials,
  type TlsConnection,
  type TlsPeer,
  type TlsServerCredentials,
  type VerifyPeer,
} from "./tls.ts";
import { DEFAULT_TIMEOUT_MS, type WaitOptions } from "./wait.ts";

/** How one direction of a connection ended. */
export type DirectionEnd = "open" | "fin" | "rst" | "close_notify" | "abrupt" | "error";

/** One recorded direction. Times are milliseconds since the proxy started. */
export interface CapturedDirection {
  /** Every byte that passed (plaintext with TLS). */
  readonly bytes: Uint8Array;
  readonly firstByteMs?: number;
  readonly endMs?: number;
  readonly end: DirectionEnd;
  /** The error that ended it, if any. */
  readonly error?: string;
}

/** One recorded connection. Times are milliseconds since the proxy started. */
export interface CapturedConnection {
  /** Accept order, 0-based. */
  readonly index: number;
  readonly acceptedMs: number;
  /** When the upstream TCP connection was established. */
  readonly upstreamConnectedMs?: number;
  /** TLS: when each handshake completed, and what it established. */
  readonly tls?: {
    readonly clientHandshakeMs?: number;
    readonly upstreamHandshakeMs?: number;
    readonly client?: TlsPeer;
    readonly upstream?: TlsPeer;
  };
  /** Source → destination. */
  readonly toUpstream: CapturedDirection;
  /** Destination → source. */
  readonly fromUpstream: CapturedDirection;
  /** Why the connection could not be set up or forwarded, if it could not. */
  readonly error?: string;
}

/** Everything the proxy saw. */
export interface Capture {
  /** Wall-clock start, ISO 8601; every `…Ms` is relative to it. */
  readonly startedAt: string;
  readonly upstream: Endpoint;
  readonly tls: boolean;
  /** In accept order. */
  readonly connections: readonly CapturedConnection[];
  /** Bytes recorded over all connections and directions. */
  readonly bytes: number;
  /** Whether the cap was hit (the recording then misses bytes; forwarding went on). */
  readonly overflowed: boolean;
}

/** Options of {@linkcode startCaptureProxy}. */
export interface CaptureProxyOptions {
  /** Where the destination listens. */
  readonly upstream: Endpoint;
  /**
   * Terminate TLS with the PKI in `dir` (QEMU's file names): `server-cert.pem`/`server-key.pem`
   * toward the source (verifying its client certificate against `ca-cert.pem` unless
   * `verifyPeer` is false), `client-cert.pem`/`client-key.pem` toward the destination, whose
   * certificate must match `serverName` (default `localhost`).
   */
  readonly tls?: {
    readonly dir: string;
    readonly verifyPeer?: VerifyPeer;
    readonly serverName?: string;
  };
  /** Cap on recorded bytes over everything, default 256 MiB. */
  readonly maxBytes?: number;
  /** Bound of each upstream connect and handshake, default 30 s. */
  readonly timeoutMs?: number;
  /** Name in error messages, default `capture proxy`. */
  readonly name?: string;
}

class DirectionRecorder {
  readonly #proxy: CaptureProxy;
  readonly #chunks: Uint8Array[] = [];
  #length = 0;
  firstByteMs?: number;
  endMs?: number;
  end: DirectionEnd = "open";
  error?: string;

  constructor(proxy: CaptureProxy) {
    this.#proxy = proxy;
  }

  add(chunk: Uint8Array): void {
    this.firstByteMs ??= this.#proxy.now();
    if (this.#proxy.reserve(chunk.length)) {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
    }
  }

  finish(end: DirectionEnd, error?: unknown): void {
    if (this.end !== "open") return;
    this.end = end;
    this.endMs = this.#proxy.now();
    if (error !== undefined) this.error = error instanceof Error ? error.message : String(error);
  }

  snapshot(): CapturedDirection {
    const bytes = new Uint8Array(this.#length);
    let offset = 0;
    for (const chunk of this.#chunks) {
      bytes.set(chunk, offset);
      offset += chunk.length;
    }
    return {
      bytes,
      firstByteMs: this.firstByteMs,
      endMs: this.endMs,
      end: this.end,
      error: this.error,
    };
  }
}

class ConnectionRecorder {
  readonly index: number;
  readonly acceptedMs: number;
  upstreamConnectedMs?: number;
  clientHandshakeMs?: number;
  upstreamHandshakeMs?: number;
  clientPeer?: TlsPeer;
  upstreamPeer?: TlsPeer;
  readonly toUpstream: DirectionRecorder;
  readonly fromUpstream: DirectionRecorder;
  error?: string;

  constructor(proxy: CaptureProxy, index: number) {
    this.index = index;
    this.acceptedMs = proxy.now();
    this.toUpstream = new DirectionRecorder(proxy);
    this.fromUpstream = new DirectionRecorder(proxy);
  }

  fail(error: unknown): void {
    this.error ??= error instanceof Error ? error.message : String(error);
    this.toUpstream.finish("error", error);
    this.fromUpstream.finish("error", error);
  }

  snapshot(tls: boolean): CapturedConnection {
    return {
      index: this.index,
      acceptedMs: this.acceptedMs,
      upstreamConnectedMs: this.upstreamConnectedMs,
      tls: tls
        ? {
          clientHandshakeMs: this.clientHandshakeMs,
          upstreamHandshakeMs: this.upstreamHandshakeMs,
          client: this.clientPeer,
          upstream: this.upstreamPeer,
        }
        : undefined,
      toUpstream: this.toUpstream.snapshot(),
      fromUpstream: this.fromUpstream.snapshot(),
      error: this.error,
    };
  }
}

interface Credentials {
  readonly server: TlsServerCredentials;
  readonly client: TlsClientCredentials;
}

/**
 * The running proxy. {@linkcode CaptureProxy.finished} waits for the connections to end and
 * returns the recording; disposing it stops everything.
 *
 * @example Record a QEMU migration
 * ```ts ignore
 * import { startCaptureProxy } from "./capture_proxy.ts";
 * await using proxy = await startCaptureProxy({ upstream: destination.endpoint });
 * // … start the source toward proxy.endpoint …
 * const capture = await proxy.finished({ connections: 3, timeoutMs: 60_000 });
 * console.log(capture.connections.map((c) => [c.toUpstream.bytes.length, c.toUpstream.end]));
 * ```
 */
export class CaptureProxy implements AsyncDisposable {
  readonly #listener: NodeListener;
  readonly #options: CaptureProxyOptions;
  readonly #credentials?: Credentials;
  readonly #startedAt = new Date();
  readonly #t0 = performance.now();
  readonly #maxBytes: number;
  readonly #connections: ProxyConnections<ConnectionRecorder>;
  readonly #live = new Set<{ close(): void }>();
  #upstreamTurn: Promise<void> = Promise.resolve();
  #recorded = 0;
  #overflowed = false;

  /** Use {@linkcode startCaptureProxy}. */
  constructor(listener: NodeListener, options: CaptureProxyOptions, credentials?: Credentials) {
    this.#listener = listener;
    this.#options = options;
    this.#credentials = credentials;
    this.#maxBytes = options.maxBytes ?? 256 << 20;
    this.#connections = new ProxyConnections(listener, this.#name);
    this.#connections.acceptFrom({
      open: (_client, index) => new ConnectionRecorder(this, index),
      handle: (client, recorder) => this.#handle(client, recorder),
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

  /** Milliseconds since the proxy started. */
  now(): number {
    return Math.round((performance.now() - this.#t0) * 1000) / 1000;
  }

  /** Books `n` recorded bytes against the cap; false once it is exceeded. */
  reserve(n: number): boolean {
    if (this.#overflowed || this.#recorded + n > this.#maxBytes) {
      this.#overflowed = true;
      return false;
    }
    this.#recorded += n;
    return true;
  }

  /** A snapshot of the recording so far. */
  recording(): Capture {
    const tls = this.#credentials !== undefined;
    return {
      startedAt: this.#startedAt.toISOString(),
      upstream: this.#options.upstream,
      tls,
      connections: this.#connections.accepted.map((c) => c.snapshot(tls)),
      bytes: this.#recorded,
      overflowed: this.#overflowed,
    };
  }

  /**
   * Waits until at least `connections` (default 1) connections were accepted and every accepted
   * connection has ended in both directions, then returns the recording. `E_TIMEOUT` past the
   * bound; `E_IO` naming the cap if it was exceeded.
   */
  async finished(options?: WaitOptions & { readonly connections?: number }): Promise<Capture> {
    const accepted = this.#connections.accepted;
    await this.#connections.ended(
      options,
      () =>
        ` (${accepted.length} accepted, ${
          accepted.filter((c) => c.toUpstream.end === "open" || c.fromUpstream.end === "open")
            .length
        } open)`,
    );
    const capture = this.recording();
    if (capture.overflowed) {
      throw new WireError("E_IO", `${this.#name} recorded more than ${this.#maxBytes} bytes`, {
        field: "capture.maxBytes",
        expected: this.#maxBytes,
      });
    }
    return capture;
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    if (this.#connections.closed) return;
    this.#connections.close();
    for (const item of this.#live) item.close();
    this.#live.clear();
    // Pumps notice the closed sockets at once; give them a moment to record how they ended.
    await this.#connections.settled();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  get #name(): string {
    return this.#options.name ?? "capture proxy";
  }

  async #handle(client: NodeConn, recorder: ConnectionRecorder): Promise<void> {
    this.#live.add(client);
    const name = `connection ${recorder.index}`;
    const timeoutMs = this.#options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    // Upstream connections are made one after another in accept order: a QEMU destination maps
    // TLS channels (and 7.2 every channel) by the order they reach it.
    const turn = this.#upstreamTurn;
    const next = Promise.withResolvers<void>();
    this.#upstreamTurn = next.promise;
    const credentials = this.#credentials;
    const downstream = credentials
      ? serverHandshake(client, credentials.server, {
        name: `${this.#name} ${name} (source side)`,
        timeoutMs,
        handshakeTimeoutMs: timeoutMs,
      }).then((conn) => {
        recorder.clientHandshakeMs = this.now();
        recorder.clientPeer = conn.peer;
        return conn;
      })
      : Promise.resolve(client);
    downstream.catch(() => {});
    let upstream: NodeConn | TlsConnection;
    try {
      await turn;
      const raw = await NodeConn.connect(this.#options.upstream, { timeoutMs, what: name });
      this.#live.add(raw);
      recorder.upstreamConnectedMs = this.now();
      if (credentials) {
        const conn = await clientHandshake(raw, credentials.client, {
          name: `${this.#name} ${name} (destination side)`,
          timeoutMs,
          handshakeTimeoutMs: timeoutMs,
        });
        recorder.upstreamHandshakeMs = this.now();
        recorder.upstreamPeer = conn.peer;
        upstream = conn;
        this.#live.add({ close: () => conn.reset() });
      } else {
        upstream = raw;
      }
    } catch (error) {
      recorder.fail(error);
      client.reset();
      return;
    } finally {
      next.resolve();
    }
    let down: NodeConn | TlsConnection;
    try {
      down = await downstream;
      if (down !== client) this.#live.add({ close: () => (down as TlsConnection).reset() });
    } catch (error) {
      recorder.fail(error);
      if (upstream instanceof NodeConn) upstream.reset();
      else await upstream.close("abrupt").catch(() => upstream.reset());
      return;
    }
    if (down instanceof NodeConn && upstream instanceof NodeConn) {
      await Promise.all([
        pumpPlain(down, upstream, recorder.toUpstream),
        pumpPlain(upstream, down, recorder.fromUpstream),
      ]);
    } else {
      await Promise.all([
        pumpTls(down as TlsConnection, upstream as TlsConnection, recorder.toUpstream),
        pumpTls(upstream as TlsConnection, down as TlsConnection, recorder.fromUpstream),
      ]);
    }
  }
}

/** Forwards one plain direction; FIN and RST are passed on as they came. */
async function pumpPlain(from: NodeConn, to: NodeConn, recorder: DirectionRecorder): Promise<void> {
  for (;;) {
    let chunk: Uint8Array | null;
    try {
      chunk = await from.readChunk();
    } catch (error) {
      const reset = error instanceof Deno.errors.ConnectionReset;
      recorder.finish(reset ? "rst" : "error", reset ? undefined : error);
      if (reset) to.reset();
      else to.close();
      return;
    }
    if (chunk === null) {
      recorder.finish("fin");
      await to.closeWrite().catch(() => {});
      return;
    }
    recorder.add(chunk);
    try {
      await to.write(chunk);
    } catch (error) {
      // The receiver is gone: keep draining the sender so it is not stuck, record it.
      recorder.error ??= error instanceof Error ? error.message : String(error);
    }
  }
}

/** Forwards one TLS direction as plaintext; close_notify, bare FIN and RST are passed on. */
async function pumpTls(
  from: TlsConnection,
  to: TlsConnection,
  recorder: DirectionRecorder,
): Promise<void> {
  const reader = from.readable.getReader();
  let writeError: unknown;
  for (;;) {
    let result: ReadableStreamReadResult<Uint8Array>;
    try {
      result = await reader.read();
    } catch (error) {
      const wire = error instanceof WireError ? error : undefined;
      if (wire?.errorClass === "E_TLS_PREMATURE_EOF") {
        recorder.finish("abrupt");
        await to.close("abrupt").catch(() => {});
      } else if (from.rawEnd === "rst") {
        recorder.finish("rst");
        to.reset();
      } else {
        recorder.finish("error", error);
        to.reset();
      }
      return;
    }
    if (result.done) {
      recorder.finish("close_notify");
      await to.close("clean").catch(() => {});
      return;
    }
    recorder.add(result.value);
    if (writeError === undefined) {
      try {
        await to.write(result.value);
      } catch (error) {
        writeError = error;
        recorder.error ??= error instanceof Error ? error.message : String(error);
      }
    }
  }
}

/**
 * Starts a capture proxy on loopback toward `options.upstream`.
 *
 * @example
 * ```ts ignore
 * import { startCaptureProxy } from "./capture_proxy.ts";
 * await using proxy = await startCaptureProxy({
 *   upstream: { hostname: "127.0.0.1", port: 4444 },
 *   tls: { dir: "fixtures/pki/good" },
 * });
 * ```
 */
export async function startCaptureProxy(options: CaptureProxyOptions): Promise<CaptureProxy> {
  let credentials: Credentials | undefined;
  if (options.tls) {
    const dir = options.tls.dir;
    credentials = {
      server: await readTlsServerCredentials({
        certFile: `${dir}/server-cert.pem`,
        keyFile: `${dir}/server-key.pem`,
        caFile: `${dir}/ca-cert.pem`,
        verifyPeer: options.tls.verifyPeer ?? true,
      }),
      client: await readTlsClientCredentials({
        caFile: `${dir}/ca-cert.pem`,
        certFile: `${dir}/client-cert.pem`,
        keyFile: `${dir}/client-key.pem`,
        serverName: options.tls.serverName ?? "localhost",
      }),
    };
  }
  const listener = await NodeListener.listen({ name: options.name ?? "capture proxy" });
  return new CaptureProxy(listener, options, credentials);
}
