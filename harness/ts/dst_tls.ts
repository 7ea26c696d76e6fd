/**
 * TLS for the destination. Every accepted socket completes an x509 server handshake before it is
 * classified (by order of completed handshakes, as in QEMU, since TLS channels cannot be peeked).
 *
 * Two facts shape it (spec §9):
 * - Deno's TLS 1.3 listener sends session tickets after the handshake; a QEMU source never reads
 *   its main channel, so closing it with those bytes unread makes its kernel reset the connection
 *   and drop the end of the stream. TLS 1.2 sends nothing after the handshake.
 * - Deno's `node:tls` server (the one with TLS 1.2 and client-certificate verification) ends a
 *   stream the same way with or without close_notify.
 *
 * So each connection runs through a small relay: source ⇄ relay ⇄ an in-process `node:tls`
 * server (TLS 1.2) on another loopback port. The relay reads the source's TLS records as they
 * pass: in TLS 1.2 record types are in clear, so a stream whose last whole record is an alert
 * (type 21) ended with close_notify, anything else ended abruptly. It also drops whatever the
 * server sends once the source has sent application data, so nothing unread is left in the
 * source's socket.
 *
 * @module
 */

import * as nodeTls from "node:tls";
import type { TlsOptions } from "../implementation.ts";
import { closeQuietly, LOOPBACK, type TcpListener } from "../net/listen.ts";
import { ByteReader, type RawReader } from "../net/read.ts";
import { Deadline, type WaitOptions } from "../net/wait.ts";
import { classOf, WireError } from "../wire/errors.ts";
import { type AcceptedConn, CHANNEL_BUFFER_SIZE, type ConnAcceptor } from "./dst_conn.ts";

const RECORD_ALERT = 21;
const RECORD_APPLICATION_DATA = 23;
const RELAY_BUFFER = 256 * 1024;
/** Decrypted bytes a connection may hold unread before its relay stops reading the source. */
const MAX_QUEUED = 4 * 1024 * 1024;

/**
 * Follows TLS record boundaries in one direction of a stream.
 *
 * @example
 * ```ts
 * import { TlsRecordTracker } from "./dst_tls.ts";
 * const tracker = new TlsRecordTracker();
 * tracker.feed(new Uint8Array([21, 3, 3, 0, 2, 1, 0])); // an alert record, whole
 * console.log(tracker.endsWithAlert); // true
 * ```
 */
export class TlsRecordTracker {
  #header = new Uint8Array(5);
  #headerFill = 0;
  #bodyLeft = 0;
  /** Content type of the last whole record, or -1. */
  lastType: number = -1;
  /** Whether an application-data record has passed. */
  sawApplicationData: boolean = false;

  /** Feeds the next bytes of the stream. */
  feed(bytes: Uint8Array): void {
    let at = 0;
    while (at < bytes.length) {
      if (this.#bodyLeft > 0) {
        const step = Math.min(this.#bodyLeft, bytes.length - at);
        this.#bodyLeft -= step;
        at += step;
        if (this.#bodyLeft === 0) this.lastType = this.#header[0];
        continue;
      }
      this.#header[this.#headerFill++] = bytes[at++];
      if (this.#headerFill === 5) {
        this.#headerFill = 0;
        this.#bodyLeft = (this.#header[3] << 8) | this.#header[4];
        if (this.#header[0] === RECORD_APPLICATION_DATA) this.sawApplicationData = true;
        if (this.#bodyLeft === 0) this.lastType = this.#header[0];
      }
    }
  }

  /** Whether the stream so far ends with a whole alert record (close_notify at a clean end). */
  get endsWithAlert(): boolean {
    return this.#headerFill === 0 && this.#bodyLeft === 0 && this.lastType === RECORD_ALERT;
  }
}

interface PendingHandshake {
  readonly secured: PromiseWithResolvers<nodeTls.TLSSocket>;
  readonly tracker: TlsRecordTracker;
}

/**
 * Builds a TLS acceptor over `listener` from the PKI in `tls.dir` (QEMU's file names:
 * `server-cert.pem`, `server-key.pem`, and `ca-cert.pem` to verify client certificates).
 * Client certificates are required and verified when `tls.verifyPeer` is true, which is the
 * default when `ca-cert.pem` exists.
 *
 * @example
 * ```ts ignore
 * import { listen } from "../net/listen.ts";
 * import { tlsAcceptor } from "./dst_tls.ts";
 * const acceptor = await tlsAcceptor(listen(), { dir: "fixtures/pki/good" });
 * ```
 */
export async function tlsAcceptor(listener: TcpListener, tls: TlsOptions): Promise<ConnAcceptor> {
  const read = (name: string) => Deno.readTextFile(`${tls.dir}/${name}`);
  const [cert, key] = await Promise.all([read("server-cert.pem"), read("server-key.pem")]);
  const ca = await read("ca-cert.pem").catch((error) => {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  });
  const verifyPeer = tls.verifyPeer ?? ca !== undefined;
  if (verifyPeer && ca === undefined) {
    throw new Error(`tls.verifyPeer needs ${tls.dir}/ca-cert.pem`);
  }
  const pending = new Map<number, PendingHandshake>();
  const server = nodeTls.createServer({
    cert,
    key,
    ...(ca !== undefined ? { ca } : {}),
    requestCert: verifyPeer,
    rejectUnauthorized: verifyPeer,
    minVersion: "TLSv1.2",
    maxVersion: "TLSv1.2",
  });
  server.on("secureConnection", (socket: nodeTls.TLSSocket) => {
    const entry = pending.get(socket.remotePort ?? -1);
    if (entry) entry.secured.resolve(socket);
    else socket.destroy();
  });
  // Deno's node:tls hands tlsClientError a socket already detached from its port, so failures are
  // tied to connections through the plain socket's close instead.
  let lastTlsError = "";
  server.on("tlsClientError", (error: Error) => {
    lastTlsError = error.message;
  });
  server.on("connection", (plain: { remotePort?: number; on(e: string, f: () => void): void }) => {
    const port = plain.remotePort ?? -1;
    plain.on("close", () => {
      const entry = pending.get(port);
      const why = lastTlsError || "connection closed";
      entry?.secured.reject(
        new WireError("E_TLS", `TLS handshake failed: ${why}`, {
          field: "tls.handshake",
          expected: verifyPeer ? "a client certificate of the destination's CA" : undefined,
        }),
      );
    });
  });
  server.on("error", () => {});
  const internalPort = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : 0);
    });
  });
  const open = new Set<{ close(): void }>();

  return {
    async accept(options: WaitOptions): Promise<AcceptedConn> {
      const raw = await listener.accept(options);
      let relay: Deno.TcpConn;
      try {
        relay = await Deno.connect({ hostname: LOOPBACK, port: internalPort });
      } catch (error) {
        closeQuietly(raw);
        throw new WireError(classOf(error), `TLS relay failed: ${error}`, { cause: error });
      }
      const entry: PendingHandshake = {
        secured: Promise.withResolvers<nodeTls.TLSSocket>(),
        tracker: new TlsRecordTracker(),
      };
      entry.secured.promise.catch(() => {});
      const port = relay.localAddr.port;
      pending.set(port, entry);
      const toServer = new TlsRecordTracker();
      let socket: nodeTls.TLSSocket | undefined;
      const source = new NodeTlsSource(entry.secured.promise, entry.tracker);
      pumpToServer(raw, relay, entry.tracker, source).catch(() => {});
      pumpToSource(relay, raw, entry.tracker, toServer).catch(() => {});
      const conn: AcceptedConn = {
        transport: "tls",
        reader: new ByteReader(source, {
          name: `TLS connection from ${raw.remoteAddr.hostname}:${raw.remoteAddr.port}`,
          bufferSize: CHANNEL_BUFFER_SIZE,
        }),
        async handshake(wait: WaitOptions): Promise<void> {
          const deadline = new Deadline(wait, 30_000, "TLS handshake");
          try {
            socket = await deadline.race(entry.secured.promise);
          } finally {
            deadline.clear();
            pending.delete(port);
          }
        },
        close() {
          pending.delete(port);
          open.delete(conn);
          closeQuietly(raw);
          closeQuietly(relay);
          socket?.destroy();
          entry.secured.promise.then((s) => s.destroy(), () => {});
        },
      };
      open.add(conn);
      return conn;
    },
    close() {
      listener.close();
      for (const conn of [...open]) conn.close();
      server.close();
    },
  };
}

/**
 * Source → server: everything, noting record boundaries; the source's FIN becomes a FIN. It
 * waits while the decrypted bytes are not read, so a channel stopped at a SYNC stops its source.
 */
async function pumpToServer(
  from: Deno.TcpConn,
  to: Deno.TcpConn,
  tracker: TlsRecordTracker,
  consumer: NodeTlsSource,
): Promise<void> {
  const buffer = new Uint8Array(RELAY_BUFFER);
  try {
    for (;;) {
      await consumer.belowLimit();
      const n = await from.read(buffer);
      if (n === null) break;
      const chunk = buffer.subarray(0, n);
      tracker.feed(chunk);
      for (let at = 0; at < n;) at += await to.write(chunk.subarray(at));
    }
    await to.closeWrite();
  } catch {
    closeQuietly(to);
  }
}

/**
 * Server → source: the handshake only. Once the source sends application data, the server has
 * nothing more the source needs, and nothing may be left unread in the source's socket.
 */
async function pumpToSource(
  from: Deno.TcpConn,
  to: Deno.TcpConn,
  sourceRecords: TlsRecordTracker,
  serverRecords: TlsRecordTracker,
): Promise<void> {
  const buffer = new Uint8Array(64 * 1024);
  for (;;) {
    const n = await from.read(buffer);
    if (n === null) return;
    if (sourceRecords.sawApplicationData) continue;
    const chunk = buffer.subarray(0, n);
    serverRecords.feed(chunk);
    for (let at = 0; at < n;) at += await to.write(chunk.subarray(at));
  }
}

/** The decrypted stream of a `node:tls` socket as a `read()` source, ends told apart. */
class NodeTlsSource implements RawReader {
  readonly #secured: Promise<nodeTls.TLSSocket>;
  readonly #tracker: TlsRecordTracker;
  readonly #queue: Uint8Array[] = [];
  #socket?: nodeTls.TLSSocket;
  #queued = 0;
  #drained?: PromiseWithResolvers<void>;
  #ended = false;
  #error: Error | undefined;
  #wake?: () => void;

  constructor(secured: Promise<nodeTls.TLSSocket>, tracker: TlsRecordTracker) {
    this.#secured = secured;
    this.#tracker = tracker;
  }

  /** Resolves while fewer than {@linkcode MAX_QUEUED} decrypted bytes wait to be read. */
  belowLimit(): Promise<void> {
    if (this.#queued < MAX_QUEUED || this.#ended || this.#error) return Promise.resolve();
    this.#drained ??= Promise.withResolvers<void>();
    return this.#drained.promise;
  }

  #attach(socket: nodeTls.TLSSocket): void {
    this.#socket = socket;
    // Never paused: Deno's node:tls can lose the end of a paused stream. The relay holds back
    // the source instead (belowLimit).
    socket.on("data", (chunk: Uint8Array) => {
      this.#queue.push(chunk);
      this.#queued += chunk.length;
      this.#wake?.();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#release();
      this.#wake?.();
    });
    // 'close' without 'end' (destroyed, reset): whatever is still buffered is all there is.
    socket.on("close", () => {
      if (socket.readableLength === 0) this.#ended = true;
      this.#release();
      this.#wake?.();
    });
    socket.on("error", (error: Error) => {
      this.#error = error;
      this.#release();
      this.#wake?.();
    });
  }

  #release(): void {
    const drained = this.#drained;
    this.#drained = undefined;
    drained?.resolve();
  }

  async read(buffer: Uint8Array): Promise<number | null> {
    if (!this.#socket) this.#attach(await this.#secured);
    while (this.#queue.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) {
        if (this.#tracker.endsWithAlert) return null;
        throw new Deno.errors.UnexpectedEof(
          "peer closed connection without sending TLS close_notify",
        );
      }
      await new Promise<void>((resolve) => this.#wake = resolve);
      this.#wake = undefined;
    }
    const head = this.#queue[0];
    const n = Math.min(head.length, buffer.length);
    buffer.set(head.subarray(0, n));
    if (n === head.length) this.#queue.shift();
    else this.#queue[0] = head.subarray(n);
    this.#queued -= n;
    if (this.#queued < MAX_QUEUED) this.#release();
    return n;
  }
}
