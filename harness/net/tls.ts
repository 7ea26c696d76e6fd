/**
 * TLS that interoperates with QEMU on both ends of a migration channel.
 *
 * Why this shape (measured on loopback with Deno 2.9.6, QEMU 7.2.22 and 10.0.2):
 * - `Deno.listenTls` speaks TLS 1.3 and sends NewSessionTicket records after the handshake. A QEMU
 *   source never reads its main channel, so its close() with those records unread makes the kernel
 *   send RST and drop the source's unsent tail. It also cannot request or verify a client
 *   certificate (QEMU's verify-peer).
 * - `node:tls` with `maxVersion: "TLSv1.2"` puts the tickets inside the handshake, verifies client
 *   certificates against a CA, and moves several hundred MB/s. But it reports a peer's end the same
 *   way for a close_notify and for a bare FIN, and its `end()` never sends FIN.
 * - So the TLS socket runs over a {@linkcode RawTap}: a duplex over the raw `Deno.TcpConn` that
 *   follows the record framing (content types are in the clear with TLS 1.2). A peer's end is a
 *   close_notify iff its last record before the end was an alert; the tap also sends FIN itself,
 *   after forwarding (clean) or dropping (abrupt) our own close_notify.
 *
 * @module
 */

import { isIP } from "node:net";
import tls from "node:tls";
import { classOf, WireError } from "../wire/errors.ts";
import type { Endpoint } from "../implementation.ts";
import { AcceptQueue } from "./accept_queue.ts";
import { closeQuietly, connect, LOOPBACK } from "./listen.ts";
import { type CloseMode, type RawEnd, RawTap, type RawTransport } from "./raw_tap.ts";
import type { TlsRecordTracker } from "./tls_record.ts";
import { Deadline, DEFAULT_TIMEOUT_MS, type WaitOptions } from "./wait.ts";

export type { CloseMode, RawEnd } from "./raw_tap.ts";

/**
 * Decrypted bytes a connection queues unread before it stops reading its peer. The raw tap stops
 * reading, never node's TLS socket: Deno's TLS layer (2.9) goes on decrypting into a buffer of its
 * own while its socket is paused, and when it hands that buffer over on resume it can drop the
 * peer's end (close_notify or FIN) it held with it. The socket would then never emit `'end'` and
 * a reader would wait for ever at the end of the stream.
 */
const READ_QUEUE_LIMIT = 4 << 20;

/** How a TLS peer ended its direction. */
export type CloseKind = "close_notify" | "abrupt";

/** What the handshake established about the peer. */
export interface TlsPeer {
  /** Whether the peer's certificate chains to the trusted CA (and, for a server, matches the name). */
  readonly authorized: boolean;
  /** Why it did not, as the TLS stack put it. */
  readonly authorizationError?: string;
  /** Common name of the peer certificate's subject, if it sent one. */
  readonly subject?: string;
  /** Common name of the peer certificate's issuer. */
  readonly issuer?: string;
  /** Negotiated protocol, e.g. `TLSv1.2`. */
  readonly protocol?: string;
}

/** Bounds and names shared by connections. */
interface ConnectionSettings {
  readonly name: string;
  readonly timeoutMs: number;
  readonly localAddr: Deno.NetAddr;
  readonly remoteAddr: Deno.NetAddr;
  readonly acceptIndex?: number;
  readonly handshakeIndex?: number;
}

/**
 * One TLS connection: plaintext streams, the peer's verification result, and how the peer ended.
 * Reading past the peer's end: a close_notify closes {@linkcode TlsConnection.readable}; a FIN
 * without it errors it with `E_TLS_PREMATURE_EOF`, a RST with `E_IO`, after all data received
 * before it has been delivered.
 *
 * @example Read a multifd init packet over TLS
 * ```ts ignore
 * import { ByteReader } from "./read.ts";
 * await using conn = await server.accept({ timeoutMs: 5000 });
 * const reader = new ByteReader(conn.readable, { name: conn.name });
 * await reader.readExactly(new Uint8Array(64), { what: "init packet" });
 * ```
 */
export class TlsConnection implements AsyncDisposable {
  /** Decrypted bytes from the peer. */
  readonly readable: ReadableStream<Uint8Array>;
  /** Bytes to encrypt to the peer; `close()` sends close_notify then FIN. */
  readonly writable: WritableStream<Uint8Array>;
  /** The handshake's verdict on the peer. */
  readonly peer: TlsPeer;
  /** Name in error messages, e.g. `tls connection 2`. */
  readonly name: string;
  readonly localAddr: Deno.NetAddr;
  readonly remoteAddr: Deno.NetAddr;
  /** Server side: order in which the TCP connection was accepted (0-based). */
  readonly acceptIndex?: number;
  /** Server side: order in which the handshake completed (0-based). */
  readonly handshakeIndex?: number;
  readonly #socket: tls.TLSSocket;
  readonly #tap: RawTap;
  readonly #timeoutMs: number;
  readonly #peerEnd = Promise.withResolvers<CloseKind>();
  #closeKind: CloseKind | null = null;
  #closing: Promise<void> | null = null;
  /** Why writes can no longer reach the peer (the socket failed or closed). */
  #broken: WireError | null = null;
  #plaintextIn = 0;

  /** Wraps an established TLS socket; use {@linkcode listenTlsServer} or {@linkcode connectTls}. */
  constructor(socket: tls.TLSSocket, tap: RawTap, settings: ConnectionSettings) {
    this.#socket = socket;
    this.#tap = tap;
    this.#timeoutMs = settings.timeoutMs;
    this.name = settings.name;
    this.localAddr = settings.localAddr;
    this.remoteAddr = settings.remoteAddr;
    this.acceptIndex = settings.acceptIndex;
    this.handshakeIndex = settings.handshakeIndex;
    this.peer = peerOf(socket);
    this.#peerEnd.promise.catch(() => {});
    this.readable = this.#makeReadable();
    this.writable = new WritableStream<Uint8Array>({
      write: async (chunk) => {
        await this.write(chunk);
      },
      close: () => this.close("clean"),
      abort: () => this.close("abrupt").catch(() => {}),
    });
  }

  /** How the peer ended: `null` while its direction is open. */
  closeKind(): CloseKind | null {
    return this.#closeKind;
  }

  /** How the raw TCP inbound direction ended (FIN, RST), `null` while open. */
  get rawEnd(): RawEnd | null {
    return this.#tap.inboundEnd;
  }

  /** The TLS records received (`inbound`) and sent (`outbound`) so far. */
  get records(): { readonly inbound: TlsRecordTracker; readonly outbound: TlsRecordTracker } {
    return { inbound: this.#tap.inbound, outbound: this.#tap.outbound };
  }

  /** Plaintext bytes received so far. */
  get bytesReceived(): number {
    return this.#plaintextIn;
  }

  /**
   * Waits until the peer has ended its direction and says how. Plaintext not yet read stays
   * readable. `E_TIMEOUT` if the peer keeps it open past the bound.
   */
  async peerEnded(options?: WaitOptions): Promise<CloseKind> {
    const deadline = new Deadline(
      { ...options, what: `${options?.what ?? "end of stream"} on ${this.name}` },
      this.#timeoutMs,
    );
    try {
      return await deadline.race(this.#peerEnd.promise);
    } finally {
      deadline.clear();
    }
  }

  /**
   * Encrypts and sends `data`; resolves with its length once the TLS layer has taken it. Rejects
   * once the socket has failed or closed (the TLS layer takes data it can no longer send).
   */
  write(data: Uint8Array): Promise<number> {
    if (this.#broken) return Promise.reject(this.#broken);
    return new Promise((resolve, reject) => {
      this.#socket.write(data, (error?: Error | null) => {
        const failure = error ? this.#wireError(error, "write") : this.#broken;
        if (failure) reject(failure);
        else resolve(data.length);
      });
    });
  }

  /**
   * Ends the outbound direction: `clean` sends close_notify then FIN, `abrupt` sends FIN only
   * (everything written before is still delivered). The inbound direction stays readable.
   */
  close(mode: CloseMode = "clean", options?: WaitOptions): Promise<void> {
    this.#closing ??= this.#close(mode, options);
    return this.#closing;
  }

  /** Ends the connection at once with RST where the transport can (`NodeConn`), else FIN. */
  reset(): void {
    this.#closing ??= Promise.resolve();
    this.#tap.reset();
    this.#socket.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      await this.close("clean", { timeoutMs: 2000 });
    } catch {
      // Disposal must not throw; the socket goes away below anyway.
    }
    this.#socket.destroy();
    this.#tap.close();
  }

  async #close(mode: CloseMode, options?: WaitOptions): Promise<void> {
    if (this.#socket.destroyed || this.#tap.outboundClosed) {
      await this.#tap.closeWriteNow();
      return;
    }
    const deadline = new Deadline(
      { ...options, what: `close_notify on ${this.name}` },
      this.#timeoutMs,
    );
    const finSent = this.#tap.closeAfterAlert(mode);
    this.#socket.end();
    try {
      await deadline.race(finSent);
    } catch (error) {
      // The TLS layer wrote no alert: end the direction without it.
      await this.#tap.closeWriteNow();
      if (mode === "clean") throw error;
    } finally {
      deadline.clear();
    }
  }

  #makeReadable(): ReadableStream<Uint8Array> {
    const socket = this.#socket;
    // Own queue, handed out one chunk per read: a stream error must not discard chunks still
    // queued (controller.error() would), so the end is reported only once the queue is empty.
    const queue: Uint8Array[] = [];
    let queued = 0;
    let ending: { error?: WireError } | null = null;
    let cancelled = false;
    let wake: (() => void) | null = null;
    const signal = () => {
      const resume = wake;
      wake = null;
      resume?.();
    };
    const end = (error?: WireError) => {
      ending ??= { error };
      signal();
    };
    socket.on("data", (chunk: Uint8Array) => {
      if (cancelled) return;
      this.#plaintextIn += chunk.length;
      queue.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      queued += chunk.length;
      if (queued >= READ_QUEUE_LIMIT) this.#tap.pause();
      signal();
    });
    // An 'end' or 'error' handler is deciding how the peer ended.
    let settling = false;
    socket.on("end", async () => {
      settling = true;
      // 'end' can come before the tap has seen FIN only if a close_notify came first.
      if (!this.#tap.peerSentCloseNotify) await this.#tap.inboundDone;
      const kind = this.#tap.peerSentCloseNotify ? "close_notify" : "abrupt";
      this.#closeKind = kind;
      this.#peerEnd.resolve(kind);
      end(kind === "close_notify" ? undefined : this.#endError());
    });
    socket.on("error", async (error: Error) => {
      settling = true;
      this.#broken ??= this.#wireError(error, "write");
      if (this.#tap.inboundEnd === null) await Promise.race([this.#tap.inboundDone, tick()]);
      const wire = this.#tap.inboundEnd !== null && !this.#tap.peerSentCloseNotify
        ? this.#endError()
        : this.#wireError(error, "read");
      if (this.#tap.inboundEnd !== null) {
        this.#closeKind ??= this.#tap.peerSentCloseNotify ? "close_notify" : "abrupt";
        this.#peerEnd.resolve(this.#closeKind);
      } else {
        this.#peerEnd.reject(wire);
      }
      end(wire);
    });
    // A socket closed without 'end' or 'error' (disposed here, or its transport closed under it)
    // ends the stream too, or a reader would wait for ever.
    socket.on("close", () => {
      const gone = new WireError(
        "E_IO",
        `${this.name} closed before its peer ended it, after ${this.#plaintextIn} plaintext bytes`,
        { field: this.name, received: this.#tap.inboundEnd ?? "open" },
      );
      this.#broken ??= gone;
      if (settling || ending !== null) return;
      this.#peerEnd.reject(gone);
      end(gone);
    });
    return new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        while (queue.length === 0 && ending === null) {
          await new Promise<void>((resolve) => wake = resolve);
        }
        const chunk = queue.shift();
        if (chunk) {
          queued -= chunk.length;
          if (queued < READ_QUEUE_LIMIT / 2) this.#tap.resume();
          controller.enqueue(chunk);
        } else if (ending?.error) {
          controller.error(ending.error);
        } else {
          controller.close();
        }
      },
      cancel: () => {
        cancelled = true;
        queue.length = 0;
        queued = 0;
        this.#tap.resume();
      },
    }, { highWaterMark: 0 });
  }

  #endError(): WireError {
    if (this.#tap.inboundEnd === "rst") {
      return new WireError(
        "E_IO",
        `connection reset by peer on ${this.name} after ${this.#plaintextIn} plaintext bytes`,
        { field: this.name, received: "RST", cause: this.#tap.inboundError },
      );
    }
    return new WireError(
      "E_TLS_PREMATURE_EOF",
      `peer closed ${this.name} without TLS close_notify after ${this.#plaintextIn} plaintext ` +
        `bytes`,
      { field: this.name, received: this.#tap.inboundEnd ?? "end", expected: "close_notify" },
    );
  }

  #wireError(error: Error, op: string): WireError {
    if (error instanceof WireError) return error;
    const errorClass = /certificate|handshake|alert|decrypt|tls|ssl/i.test(error.message)
      ? "E_TLS"
      : classOf(error);
    return new WireError(errorClass, `${op} failed on ${this.name}: ${error.message}`, {
      field: this.name,
      cause: error,
    });
  }
}

/** A raw transport with addresses: `Deno.TcpConn` and `NodeConn` have this shape. */
export type AddressedTransport = RawTransport & {
  readonly localAddr: Deno.NetAddr;
  readonly remoteAddr: Deno.NetAddr;
};

/** QEMU's verify-peer, as a server applies it. */
export type VerifyPeer = boolean | "report";

/** PEM texts a TLS server needs. */
export interface TlsServerCredentials {
  readonly cert: string;
  readonly key: string;
  readonly ca?: string;
  /**
   * `true` requires a client certificate from the CA and rejects the handshake otherwise;
   * `"report"` asks for one and only reports the verdict in `peer`; `false` asks for none.
   */
  readonly verifyPeer: VerifyPeer;
}

/** PEM texts and the expected server name a TLS client needs. */
export interface TlsClientCredentials {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
  /** Name the server certificate must match (QEMU's tls-hostname). */
  readonly serverName: string;
}

/**
 * Default bound of a TLS handshake: a handshake on loopback takes milliseconds (the longest of
 * 18 000 measured under load took 161 ms), so a peer still silent after this has stalled.
 */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Bounds and names of one handshake. */
export interface HandshakeOptions {
  /** Name in error messages, e.g. `multifd channel 1`. */
  readonly name?: string;
  /** Bound of the handshake, default {@linkcode DEFAULT_HANDSHAKE_TIMEOUT_MS}. */
  readonly handshakeTimeoutMs?: number;
  /** Default bound of the connection's later waits (`peerEnded`, `close`), default 30 s. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Server side: the TCP accept order, kept on the connection. */
  readonly acceptIndex?: number;
  /** Server side: called when the handshake completes, returns its completion order. */
  readonly nextHandshakeIndex?: () => number;
}

/**
 * Reads a server's PEM files (QEMU's names: `server-cert.pem`, `server-key.pem`, `ca-cert.pem`).
 *
 * @example
 * ```ts ignore
 * import { readTlsServerCredentials } from "./tls.ts";
 * const credentials = await readTlsServerCredentials({
 *   certFile: "fixtures/pki/good/server-cert.pem",
 *   keyFile: "fixtures/pki/good/server-key.pem",
 *   caFile: "fixtures/pki/good/ca-cert.pem",
 * });
 * ```
 */
export async function readTlsServerCredentials(
  options: { certFile: string; keyFile: string; caFile?: string; verifyPeer?: VerifyPeer },
): Promise<TlsServerCredentials> {
  const verifyPeer = options.verifyPeer ?? true;
  if (verifyPeer !== false && options.caFile === undefined) {
    throw new WireError("E_TLS", "verifyPeer needs caFile", {
      field: "caFile",
      expected: "a CA certificate file",
    });
  }
  const [cert, key, ca] = await Promise.all([
    Deno.readTextFile(options.certFile),
    Deno.readTextFile(options.keyFile),
    options.caFile === undefined ? undefined : Deno.readTextFile(options.caFile),
  ]);
  return { cert, key, ca, verifyPeer };
}

/**
 * Reads a client's PEM files.
 *
 * @example
 * ```ts ignore
 * import { readTlsClientCredentials } from "./tls.ts";
 * const credentials = await readTlsClientCredentials({ caFile: "fixtures/pki/good/ca-cert.pem" });
 * ```
 */
export async function readTlsClientCredentials(
  options: { caFile: string; certFile?: string; keyFile?: string; serverName?: string },
): Promise<TlsClientCredentials> {
  const [ca, cert, key] = await Promise.all([
    Deno.readTextFile(options.caFile),
    options.certFile === undefined ? undefined : Deno.readTextFile(options.certFile),
    options.keyFile === undefined ? undefined : Deno.readTextFile(options.keyFile),
  ]);
  return { ca, cert, key, serverName: options.serverName ?? "localhost" };
}

/**
 * Runs the server side of a TLS 1.2 handshake over a raw connection. Throws `E_TLS` naming the
 * connection and the reason (`E_TIMEOUT` past the bound); the transport is closed then.
 *
 * @example
 * ```ts ignore
 * import { readTlsServerCredentials, serverHandshake } from "./tls.ts";
 * const conn = await serverHandshake(await listener.accept(), credentials, { name: "channel 0" });
 * ```
 */
export async function serverHandshake(
  transport: AddressedTransport,
  credentials: TlsServerCredentials,
  options: HandshakeOptions = {},
): Promise<TlsConnection> {
  const name = options.name ?? "tls server connection";
  const tap = new RawTap(transport);
  const server = tls.createServer({
    cert: credentials.cert,
    key: credentials.key,
    ca: credentials.ca,
    requestCert: credentials.verifyPeer !== false,
    rejectUnauthorized: credentials.verifyPeer === true,
    // TLS 1.2: session tickets travel inside the handshake and record types stay visible.
    maxVersion: "TLSv1.2",
  });
  const secured = new Promise<tls.TLSSocket>((resolve, reject) => {
    server.once("secureConnection", resolve);
    server.once("tlsClientError", (error: Error) => reject(error));
  });
  return await handshake(
    tap,
    transport,
    name,
    options,
    secured,
    () => server.emit("connection", tap.duplex),
  );
}

/**
 * Runs the client side of a TLS 1.2 handshake over a raw connection. Throws `E_TLS` naming the
 * connection and the reason (`E_TIMEOUT` past the bound); the transport is closed then.
 *
 * @example
 * ```ts ignore
 * import { clientHandshake, readTlsClientCredentials } from "./tls.ts";
 * const conn = await clientHandshake(await connect(endpoint), credentials, { name: "main" });
 * ```
 */
export async function clientHandshake(
  transport: AddressedTransport,
  credentials: TlsClientCredentials,
  options: HandshakeOptions = {},
): Promise<TlsConnection> {
  const name = options.name ?? "tls client";
  const tap = new RawTap(transport);
  let socket: tls.TLSSocket | undefined;
  const secured = new Promise<tls.TLSSocket>((resolve, reject) => {
    socket = tls.connect({
      socket: tap.duplex,
      ca: credentials.ca,
      cert: credentials.cert,
      key: credentials.key,
      // SNI carries host names only; an IP address is checked against the certificate's IP SANs.
      ...(isIP(credentials.serverName) === 0
        ? { servername: credentials.serverName }
        : { host: credentials.serverName }),
      maxVersion: "TLSv1.2",
    });
    socket.once("secureConnect", () => resolve(socket!));
    socket.once("error", reject);
  });
  return await handshake(tap, transport, name, options, secured, () => {});
}

async function handshake(
  tap: RawTap,
  transport: AddressedTransport,
  name: string,
  options: HandshakeOptions,
  secured: Promise<tls.TLSSocket>,
  start: () => void,
): Promise<TlsConnection> {
  secured.catch(() => {});
  const deadline = new Deadline(
    {
      signal: options.signal,
      timeoutMs: options.handshakeTimeoutMs,
      what: `TLS handshake on ${name}`,
    },
    DEFAULT_HANDSHAKE_TIMEOUT_MS,
  );
  try {
    deadline.throwIfAborted();
    start();
    const socket = await deadline.race(secured);
    return new TlsConnection(socket, tap, {
      name,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      localAddr: transport.localAddr,
      remoteAddr: transport.remoteAddr,
      acceptIndex: options.acceptIndex,
      handshakeIndex: options.nextHandshakeIndex?.(),
    });
  } catch (error) {
    tap.close();
    if (error instanceof WireError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new WireError(
      "E_TLS",
      `TLS handshake failed on ${name} (after ${tap.inbound.bytes} bytes in, ` +
        `${tap.outbound.bytes} out): ${reason}`,
      { field: name, cause: error },
    );
  } finally {
    deadline.clear();
  }
}

/** Options of {@linkcode listenTlsServer}. */
export interface TlsServerOptions {
  /** Server certificate (PEM), e.g. `fixtures/pki/good/server-cert.pem`. */
  readonly certFile: string;
  /** Server key (PEM). */
  readonly keyFile: string;
  /** CA (PEM) client certificates must chain to; needed when `verifyPeer` is not `false`. */
  readonly caFile?: string;
  /** QEMU's verify-peer (see {@linkcode TlsServerCredentials}). Default `true`. */
  readonly verifyPeer?: VerifyPeer;
  /** Address to listen on, default loopback. */
  readonly hostname?: string;
  /** Port, default 0 (any). */
  readonly port?: number;
  /** Bound of each wait (accept, `peerEnded`, close), default 30 s. */
  readonly timeoutMs?: number;
  /** Bound of each handshake, default {@linkcode DEFAULT_HANDSHAKE_TIMEOUT_MS}. */
  readonly handshakeTimeoutMs?: number;
  /**
   * Order {@linkcode TlsServer.accept} returns connections in: `handshake` (default; like a QEMU
   * destination, which maps TLS channels by handshake completion) or `accept` (TCP order).
   */
  readonly order?: "handshake" | "accept";
  /** Name in error messages, default `tls server`. */
  readonly name?: string;
  /**
   * Accept TCP connections and never answer them: no handshake, nothing read, each held until the
   * server closes. A destination that stalls its peers' handshakes, for negative cases.
   */
  readonly stallHandshakes?: boolean;
}

type Settled = TlsConnection | WireError;

/**
 * A TLS server on loopback. Each TCP connection is accepted and its handshake started at once, in
 * the background, so a QEMU source is never held up; {@linkcode TlsServer.accept} hands out the
 * results. Dispose it to close the listener and every connection it made.
 *
 * @example
 * ```ts ignore
 * await using server = await listenTlsServer({
 *   certFile: "fixtures/pki/good/server-cert.pem",
 *   keyFile: "fixtures/pki/good/server-key.pem",
 *   caFile: "fixtures/pki/good/ca-cert.pem",
 * });
 * await using conn = await server.accept({ timeoutMs: 5000, what: "main channel" });
 * console.log(conn.peer.authorized, conn.peer.subject);
 * ```
 */
export class TlsServer implements AsyncDisposable {
  readonly #listener: Deno.TcpListener;
  readonly #options: TlsServerOptions;
  readonly #credentials: TlsServerCredentials;
  readonly #timeoutMs: number;
  readonly #name: string;
  readonly #queue: AcceptQueue<Promise<Settled>>;
  readonly #live = new Set<{ close(): void }>();
  #accepted = 0;
  #handshaken = 0;
  #stalled = 0;

  /** Use {@linkcode listenTlsServer}. */
  constructor(
    listener: Deno.TcpListener,
    credentials: TlsServerCredentials,
    options: TlsServerOptions,
  ) {
    this.#listener = listener;
    this.#credentials = credentials;
    this.#options = options;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#name = options.name ?? "tls server";
    this.#queue = new AcceptQueue({
      name: this.#name,
      what: "a TLS connection",
      timeoutMs: this.#timeoutMs,
    });
    this.#acceptLoop();
  }

  /** Where clients connect to. */
  get endpoint(): Endpoint {
    return { hostname: this.#listener.addr.hostname, port: this.#listener.addr.port };
  }

  /** The port. */
  get port(): number {
    return this.#listener.addr.port;
  }

  /** TCP connections accepted so far. */
  get accepted(): number {
    return this.#accepted;
  }

  /** TCP connections held without a handshake (`stallHandshakes`). */
  get stalled(): number {
    return this.#stalled;
  }

  /**
   * The next connection whose handshake completed (or the next accepted, with `order: "accept"`).
   * A failed handshake is thrown as `E_TLS` naming the connection and the reason; the following
   * call continues with the next connection. `E_TIMEOUT` when none comes within the bound.
   */
  async accept(options?: WaitOptions): Promise<TlsConnection> {
    const result = await this.#queue.next(options, (settled, deadline) => deadline.race(settled));
    if (result instanceof WireError) throw result;
    return result;
  }

  /** Closes the listener and every connection, established or in handshake. */
  close(): void {
    if (this.#queue.closed) return;
    this.#queue.close();
    closeQuietly(this.#listener);
    for (const item of this.#live) closeQuietly(item);
    this.#live.clear();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  async #acceptLoop(): Promise<void> {
    while (!this.#queue.closed) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch {
        break;
      }
      if (this.#queue.closed) {
        closeQuietly(conn);
        break;
      }
      const index = this.#accepted++;
      if (this.#options.stallHandshakes) {
        this.#stalled++;
        this.#live.add(conn);
        continue;
      }
      const result = this.#handshake(conn, index);
      if ((this.#options.order ?? "handshake") === "accept") {
        this.#queue.push(result);
      } else {
        result.then((settled) => this.#queue.push(Promise.resolve(settled)));
      }
    }
  }

  /** Never rejects: a failure is returned as a `WireError`. */
  async #handshake(conn: Deno.TcpConn, index: number): Promise<Settled> {
    this.#live.add(conn);
    try {
      const connection = await serverHandshake(conn, this.#credentials, {
        name: `${this.#name} connection ${index}`,
        timeoutMs: this.#timeoutMs,
        handshakeTimeoutMs: this.#options.handshakeTimeoutMs,
        acceptIndex: index,
        nextHandshakeIndex: () => this.#handshaken++,
      });
      this.#live.delete(conn);
      if (this.#queue.closed) {
        await connection[Symbol.asyncDispose]();
      } else {
        this.#live.add({ close: () => void connection[Symbol.asyncDispose]() });
      }
      return connection;
    } catch (error) {
      this.#live.delete(conn);
      return error instanceof WireError
        ? error
        : new WireError("E_TLS", String(error), { field: this.#name, cause: error });
    }
  }
}

/**
 * Listens for TLS on loopback with the given PEM files.
 *
 * @example Receive a QEMU source's channels, verifying its client certificate
 * ```ts ignore
 * import { listenTlsServer } from "./tls.ts";
 * await using server = await listenTlsServer({
 *   certFile: "fixtures/pki/good/server-cert.pem",
 *   keyFile: "fixtures/pki/good/server-key.pem",
 *   caFile: "fixtures/pki/good/ca-cert.pem",
 *   verifyPeer: true,
 * });
 * const main = await server.accept({ what: "main channel" });
 * ```
 */
export async function listenTlsServer(options: TlsServerOptions): Promise<TlsServer> {
  const credentials = await readTlsServerCredentials(options);
  const listener = Deno.listen({
    hostname: options.hostname ?? LOOPBACK,
    port: options.port ?? 0,
    transport: "tcp",
  });
  return new TlsServer(listener, credentials, options);
}

/** Options of {@linkcode connectTls}. */
export interface TlsClientOptions extends WaitOptions {
  /** Address, default loopback. */
  readonly hostname?: string;
  readonly port: number;
  /** CA (PEM) the server certificate must chain to. */
  readonly caFile: string;
  /** Client certificate (PEM), for servers that verify peers (QEMU's default). */
  readonly certFile?: string;
  /** Client key (PEM). */
  readonly keyFile?: string;
  /** Name the server certificate must match (QEMU's tls-hostname), default `localhost`. */
  readonly serverName?: string;
  /** Name in error messages, default `tls client`. */
  readonly name?: string;
}

/**
 * Connects over TLS 1.2 and completes the handshake within the bound. `close("abrupt")` ends the
 * connection with a bare FIN, like a QEMU 7.2 multifd channel; `close("clean")` sends
 * close_notify first, like QEMU 10.0.
 *
 * @example
 * ```ts ignore
 * import { connectTls } from "./tls.ts";
 * await using conn = await connectTls({
 *   port: 4444,
 *   caFile: "fixtures/pki/good/ca-cert.pem",
 *   certFile: "fixtures/pki/good/client-cert.pem",
 *   keyFile: "fixtures/pki/good/client-key.pem",
 *   serverName: "localhost",
 * });
 * await conn.write(new Uint8Array(64));
 * await conn.close("abrupt");
 * ```
 */
export async function connectTls(options: TlsClientOptions): Promise<TlsConnection> {
  const name = options.name ?? "tls client";
  const credentials = await readTlsClientCredentials(options);
  const endpoint = { hostname: options.hostname ?? LOOPBACK, port: options.port };
  const conn = await connect(endpoint, { ...options, what: name });
  return await clientHandshake(conn, credentials, {
    name,
    signal: options.signal,
    timeoutMs: options.timeoutMs,
    handshakeTimeoutMs: options.timeoutMs,
  });
}

function peerOf(socket: tls.TLSSocket): TlsPeer {
  const certificate = socket.getPeerCertificate() as Partial<tls.PeerCertificate> | undefined;
  const cn = (name: unknown): string | undefined => {
    const value = (name as Record<string, unknown> | undefined)?.CN;
    return Array.isArray(value)
      ? String(value[0])
      : value === undefined
      ? undefined
      : String(value);
  };
  const error = socket.authorizationError as unknown;
  return {
    authorized: socket.authorized,
    authorizationError: error ? String(error) : undefined,
    subject: cn(certificate?.subject),
    issuer: cn(certificate?.issuer),
    protocol: socket.getProtocol() ?? undefined,
  };
}

function tick(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
