/**
 * TCP through `node:net`, for the proxies. Unlike `Deno.Conn`, a node socket can be reset
 * (`resetAndDestroy()` sets SO_LINGER 0, so the kernel sends RST instead of FIN) and tells a
 * peer's RST (`ECONNRESET`) apart from its FIN even after reading stopped; `Deno.Conn.close()`
 * always sends FIN first, and `conn.readable` closes the whole socket at end of stream.
 *
 * @module
 */

import net from "node:net";
import type { Endpoint } from "../implementation.ts";
import { WireError } from "../wire/errors.ts";
import { LOOPBACK } from "./listen.ts";
import type { RawEnd, RawTransport } from "./raw_tap.ts";
import { AcceptQueue } from "./accept_queue.ts";
import { Deadline, DEFAULT_TIMEOUT_MS, type WaitOptions } from "./wait.ts";

/** Received bytes a connection queues before it stops reading (backpressure). */
const QUEUE_LIMIT = 4 << 20;

/**
 * One TCP connection over a node socket, read by pulling chunks. Reads end with `null` at FIN and
 * throw `Deno.errors.ConnectionReset` at RST, like `Deno.Conn`.
 *
 * @example
 * ```ts ignore
 * import { NodeConn } from "./node_conn.ts";
 * await using conn = await NodeConn.connect({ hostname: "127.0.0.1", port: 4444 });
 * await conn.write(new Uint8Array([1, 2, 3]));
 * conn.reset(); // the peer sees RST
 * ```
 */
export class NodeConn implements RawTransport, AsyncDisposable {
  /** The node socket. */
  readonly socket: net.Socket;
  readonly localAddr: Deno.NetAddr;
  readonly remoteAddr: Deno.NetAddr;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #head = 0;
  #end: RawEnd | null = null;
  #error: Error | null = null;
  #wake: (() => void) | null = null;
  #writeError: Error | null = null;

  /** Wraps a connected socket (paused or flowing). */
  constructor(socket: net.Socket) {
    this.socket = socket;
    this.localAddr = netAddr(socket.localAddress, socket.localPort);
    this.remoteAddr = netAddr(socket.remoteAddress, socket.remotePort);
    socket.on("data", (chunk: Uint8Array) => {
      this.#queue.push(chunk);
      this.#queued += chunk.length;
      if (this.#queued >= QUEUE_LIMIT) socket.pause();
      this.#signal();
    });
    socket.on("end", () => {
      this.#end ??= "fin";
      this.#signal();
    });
    socket.on("error", (error: Error & { code?: string }) => {
      this.#writeError = error;
      if (this.#end === null) {
        this.#end = error.code === "ECONNRESET" ? "rst" : "error";
        this.#error = error;
      }
      this.#signal();
    });
    socket.on("close", () => {
      this.#end ??= "error";
      this.#error ??= new Deno.errors.BadResource("socket closed");
      this.#signal();
    });
    socket.resume();
  }

  /** Connects to `endpoint` within the bound. */
  static async connect(endpoint: Endpoint, options?: WaitOptions): Promise<NodeConn> {
    const what = `${options?.what ?? "connect"} to ${endpoint.hostname}:${endpoint.port}`;
    const deadline = new Deadline({ ...options, what }, DEFAULT_TIMEOUT_MS);
    deadline.throwIfAborted();
    const socket = net.connect({
      host: endpoint.hostname,
      port: endpoint.port,
      allowHalfOpen: true,
    });
    socket.pause();
    try {
      await deadline.race(
        new Promise<void>((resolve, reject) => {
          socket.once("connect", resolve);
          socket.once("error", reject);
        }),
      );
      return new NodeConn(socket);
    } catch (error) {
      socket.destroy();
      if (error instanceof WireError) throw error;
      throw new WireError("E_IO", `${what} failed: ${error}`, {
        field: "connect",
        received: `${endpoint.hostname}:${endpoint.port}`,
        cause: error,
      });
    } finally {
      deadline.clear();
    }
  }

  /** How the inbound direction ended, `null` while open. */
  get end(): RawEnd | null {
    return this.#queued > 0 ? null : this.#end;
  }

  /**
   * The next received chunk (owned by the caller), `null` at FIN; throws
   * `Deno.errors.ConnectionReset` at RST.
   */
  async readChunk(): Promise<Uint8Array | null> {
    while (this.#queue.length === this.#head) {
      if (this.#end !== null) return this.#finish();
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    const chunk = this.#queue[this.#head];
    this.#queue[this.#head++] = EMPTY;
    this.#taken(chunk.length);
    return chunk;
  }

  /** Copies received bytes into `buffer`: count, or `null` at FIN. */
  async read(buffer: Uint8Array): Promise<number | null> {
    while (this.#queue.length === this.#head) {
      if (this.#end !== null) return this.#finish();
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    const chunk = this.#queue[this.#head];
    const n = Math.min(buffer.length, chunk.length);
    buffer.set(chunk.subarray(0, n));
    if (n === chunk.length) this.#queue[this.#head++] = EMPTY;
    else this.#queue[this.#head] = chunk.subarray(n);
    this.#taken(n);
    return n;
  }

  /** Writes all of `buffer`; resolves once the kernel has it. */
  write(buffer: Uint8Array): Promise<number> {
    if (this.#writeError) return Promise.reject(toDenoError(this.#writeError));
    return new Promise((resolve, reject) => {
      this.socket.write(buffer, (error?: Error | null) => {
        if (error) reject(toDenoError(error));
        else resolve(buffer.length);
      });
    });
  }

  /** Sends FIN after everything written. */
  closeWrite(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed || this.socket.writableEnded) return resolve();
      this.socket.end(() => resolve());
    });
  }

  /** Stops reading: received bytes stay in the kernel (closing then sends RST). */
  pause(): void {
    this.socket.pause();
  }

  /** Resumes reading. */
  resume(): void {
    if (this.#queued < QUEUE_LIMIT) this.socket.resume();
  }

  /** Closes the socket (FIN if still open). */
  close(): void {
    this.socket.destroy();
  }

  /** Closes the socket with RST (SO_LINGER 0). */
  reset(): void {
    if (this.socket.destroyed) return;
    this.socket.resetAndDestroy();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  #taken(n: number): void {
    this.#queued -= n;
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    if (this.#queued < QUEUE_LIMIT / 2 && this.socket.isPaused() && this.#end === null) {
      this.socket.resume();
    }
  }

  #finish(): null {
    if (this.#end === "fin") return null;
    throw toDenoError(this.#error ?? new Error("connection closed"));
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}

const EMPTY = new Uint8Array(0);

/**
 * A `node:net` listener on loopback that hands out {@linkcode NodeConn}s in accept order; a
 * timed-out accept loses no connection.
 *
 * @example
 * ```ts ignore
 * import { NodeListener } from "./node_conn.ts";
 * await using listener = await NodeListener.listen();
 * const conn = await listener.accept({ timeoutMs: 1000 });
 * ```
 */
export class NodeListener implements AsyncDisposable {
  readonly #server: net.Server;
  readonly #pending: AcceptQueue<net.Socket>;
  #accepted = 0;

  private constructor(server: net.Server, name: string) {
    this.#server = server;
    this.#pending = new AcceptQueue({ name, what: "a connection", timeoutMs: DEFAULT_TIMEOUT_MS });
    server.on("connection", (socket: net.Socket) => {
      if (this.#pending.closed) return void socket.destroy();
      this.#accepted++;
      this.#pending.push(socket);
    });
  }

  /** Listens on loopback (port 0 by default); sockets arrive paused, half-open allowed. */
  static async listen(
    options: { hostname?: string; port?: number; name?: string } = {},
  ): Promise<NodeListener> {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port ?? 0, options.hostname ?? LOOPBACK, () => resolve());
    });
    return new NodeListener(server, options.name ?? "listener");
  }

  /** Where peers connect to. */
  get endpoint(): Endpoint {
    const address = this.#server.address() as net.AddressInfo;
    return { hostname: address.address, port: address.port };
  }

  /** The port. */
  get port(): number {
    return this.endpoint.port;
  }

  /** Connections accepted so far. */
  get accepted(): number {
    return this.#accepted;
  }

  /** The next connection in accept order, `E_TIMEOUT` if none arrives within the bound. */
  accept(options?: WaitOptions): Promise<NodeConn> {
    return this.#pending.next(options, (socket) => new NodeConn(socket));
  }

  /** Stops listening; connections not handed out are closed. */
  close(): void {
    if (this.#pending.closed) return;
    this.#pending.close();
    this.#server.close();
    for (const socket of this.#pending.drain()) socket.destroy();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}

function netAddr(hostname: string | undefined, port: number | undefined): Deno.NetAddr {
  return { transport: "tcp", hostname: hostname ?? "", port: port ?? 0 };
}

/** Node socket errors as the `Deno.errors` classes the rest of the layer understands. */
function toDenoError(error: Error & { code?: string }): Error {
  switch (error.code) {
    case "ECONNRESET":
      return new Deno.errors.ConnectionReset(error.message);
    case "EPIPE":
      return new Deno.errors.BrokenPipe(error.message);
    case "ECONNREFUSED":
      return new Deno.errors.ConnectionRefused(error.message);
    default:
      return error;
  }
}
