/**
 * TCP listening, accepting and connecting on loopback, each wait bounded.
 *
 * @module
 */

import type { Endpoint } from "../implementation.ts";
import { classOf, WireError } from "../wire/errors.ts";
import { connectNative, listenNative, nativeTcpServes } from "./native_tcp.ts";
import { Deadline, DEFAULT_TIMEOUT_MS, Serial, type WaitOptions } from "./wait.ts";

/** The only address the harness listens on or connects to. */
export const LOOPBACK = "127.0.0.1";

/** Options of {@linkcode listen}. */
export interface ListenOptions {
  /** Address to listen on. Default {@linkcode LOOPBACK}. */
  readonly hostname?: string;
  /** Port; default 0 (the kernel picks one). */
  readonly port?: number;
  /** Bound of each accept when the call gives none. Default {@linkcode DEFAULT_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  /** Name in error messages, e.g. `destination`. */
  readonly name?: string;
}

/**
 * A plain TCP connection as the harness uses it: `Deno.TcpConn`, or a
 * {@linkcode NativeTcpConn} whose calls run on threads of their own (see {@linkcode listenThreaded}).
 */
export interface PlainConn {
  readonly localAddr: Deno.NetAddr;
  readonly remoteAddr: Deno.NetAddr;
  read(buffer: Uint8Array): Promise<number | null>;
  write(buffer: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  setNoDelay(noDelay?: boolean): void;
  close(): void;
}

/** What a {@linkcode TcpListener} accepts from: `Deno.TcpListener` has this shape. */
export interface PlainListener<C extends PlainConn> {
  readonly addr: Deno.Addr;
  accept(): Promise<C>;
  close(): void;
}

/**
 * A TCP listener whose accepts are bounded. A timed-out accept stays pending, so a connection that
 * arrives later is returned by the next call instead of being lost. Concurrent accepts are served
 * in call order, one connection each. Disposing it closes the
 * listener and any connection accepted but never handed out.
 *
 * @example
 * ```ts
 * import { connect, listen } from "./listen.ts";
 * await using server = listen();
 * const client = await connect(server.endpoint, { timeoutMs: 1000 });
 * const accepted = await server.accept({ timeoutMs: 1000, what: "main channel" });
 * client.close();
 * accepted.close();
 * ```
 */
export class TcpListener<C extends PlainConn = Deno.TcpConn> implements AsyncDisposable {
  /** The underlying listener. */
  readonly listener: PlainListener<C>;
  readonly #timeoutMs: number;
  readonly #name: string;
  #pending: Promise<C | WireError> | null = null;
  #closed = false;
  readonly #serial = new Serial();

  constructor(listener: PlainListener<C>, options: ListenOptions = {}) {
    this.listener = listener;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#name = options.name ?? "listener";
  }

  /** Where peers connect to. */
  get endpoint(): Endpoint {
    const addr = this.listener.addr as Deno.NetAddr;
    return { hostname: addr.hostname, port: addr.port };
  }

  /** The port the kernel picked. */
  get port(): number {
    return (this.listener.addr as Deno.NetAddr).port;
  }

  /** Accepts the next connection, `E_TIMEOUT` if none arrives within the bound. */
  async accept(options?: WaitOptions): Promise<C> {
    const deadline = new Deadline(
      { ...options, what: `${options?.what ?? "a connection"} on ${this.#name} :${this.port}` },
      this.#timeoutMs,
    );
    deadline.throwIfAborted();
    let release: (() => void) | undefined;
    try {
      release = await this.#serial.acquire(deadline);
      this.#pending ??= this.listener.accept().then(
        (conn) => conn,
        (error) =>
          new WireError(classOf(error), `accept failed on ${this.#name}: ${error}`, {
            field: this.#name,
            cause: error,
          }),
      );
      const result = await deadline.race(this.#pending);
      this.#pending = null;
      if (result instanceof WireError) throw result;
      return result;
    } finally {
      release?.();
      deadline.clear();
    }
  }

  /** Closes the listener; a connection accepted but never handed out is closed too. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.listener.close();
    } catch {
      // Already closed.
    }
    this.#pending?.then((conn) => {
      if (!(conn instanceof WireError)) closeQuietly(conn);
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

/**
 * Listens on loopback, port 0 by default.
 *
 * @example
 * ```ts
 * import { listen } from "./listen.ts";
 * await using server = listen({ name: "destination" });
 * console.log(server.endpoint.port > 0);
 * ```
 */
export function listen(options: ListenOptions = {}): TcpListener<Deno.TcpConn> {
  const listener = Deno.listen({
    hostname: options.hostname ?? LOOPBACK,
    port: options.port ?? 0,
    transport: "tcp",
  });
  return new TcpListener(listener, options);
}

/**
 * Like {@linkcode listen}, but on native TCP (`native_tcp.ts`) when it is available, so that
 * every accepted connection is read and written on a thread of its own: the way to take more
 * than one core for several busy channels. Falls back to {@linkcode listen}.
 *
 * @example
 * ```ts
 * import { connectThreaded, listenThreaded } from "./listen.ts";
 * await using server = listenThreaded({ name: "destination" });
 * const client = await connectThreaded(server.endpoint, { timeoutMs: 1000 });
 * const accepted = await server.accept({ timeoutMs: 1000 });
 * client.close();
 * accepted.close();
 * ```
 */
export function listenThreaded(options: ListenOptions = {}): TcpListener<PlainConn> {
  const hostname = options.hostname ?? LOOPBACK;
  if (!nativeTcpServes(hostname)) return listen(options);
  return new TcpListener(listenNative({ hostname, port: options.port ?? 0 }), options);
}

/**
 * Like {@linkcode connect}, on native TCP when it is available (see {@linkcode listenThreaded}).
 *
 * @example
 * ```ts ignore
 * import { connectThreaded } from "./listen.ts";
 * const conn = await connectThreaded({ hostname: "127.0.0.1", port: 4444 }, { timeoutMs: 1000 });
 * conn.close();
 * ```
 */
export function connectThreaded(endpoint: Endpoint, options?: WaitOptions): Promise<PlainConn> {
  if (!nativeTcpServes(endpoint.hostname)) return connect(endpoint, options);
  return connectWith(endpoint, options, () => connectNative(endpoint));
}

/**
 * Connects to `endpoint` within the bound; refused or reset connections are `E_IO`.
 *
 * @example
 * ```ts
 * import { connect, listen } from "./listen.ts";
 * await using server = listen();
 * const conn = await connect(server.endpoint, { timeoutMs: 1000, what: "destination" });
 * conn.close();
 * ```
 */
export function connect(endpoint: Endpoint, options?: WaitOptions): Promise<Deno.TcpConn> {
  return connectWith(
    endpoint,
    options,
    () => Deno.connect({ hostname: endpoint.hostname, port: endpoint.port }),
  );
}

async function connectWith<C extends PlainConn>(
  endpoint: Endpoint,
  options: WaitOptions | undefined,
  open: () => Promise<C>,
): Promise<C> {
  const what = `${options?.what ?? "connect"} to ${endpoint.hostname}:${endpoint.port}`;
  const deadline = new Deadline({ ...options, what }, DEFAULT_TIMEOUT_MS);
  deadline.throwIfAborted();
  const attempt = open();
  try {
    return await deadline.race(attempt);
  } catch (error) {
    // A connection that completes after the deadline must not leak.
    attempt.then(closeQuietly, () => {});
    if (error instanceof WireError) throw error;
    throw new WireError(classOf(error), `${what} failed: ${error}`, {
      field: "connect",
      received: `${endpoint.hostname}:${endpoint.port}`,
      cause: error,
    });
  } finally {
    deadline.clear();
  }
}

/** Closes a connection or listener, ignoring "already closed". */
export function closeQuietly(closer: { close(): void }): void {
  try {
    closer.close();
  } catch {
    // Already closed.
  }
}
