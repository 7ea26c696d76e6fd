/**
 * One outgoing channel of the source (main or multifd): a TCP connection, TLS optional, with a
 * bounded writer, a background reader that drains what the destination sends (TLS session
 * tickets) and notices when it closes, and a close that sends close_notify (`clean`) or drops the
 * TCP connection without it (`abrupt`).
 *
 * @module
 */

import type { Endpoint, TlsOptions } from "../implementation.ts";
import { connect, connectThreaded, type PlainConn } from "../net/listen.ts";
import {
  clientHandshake,
  type CloseMode,
  readTlsClientCredentials,
  type TlsClientCredentials,
  type TlsConnection,
} from "../net/tls.ts";
import { ByteReader } from "../net/read.ts";
import { Deadline, type WaitOptions } from "../net/wait.ts";
import { ByteWriter } from "../net/write.ts";
import { classOf, WireError } from "../wire/errors.ts";

export type { CloseMode } from "../net/tls.ts";

/**
 * Reads the client side of a QEMU-style PKI directory (`ca-cert.pem`, `client-cert.pem`,
 * `client-key.pem`); the client pair is optional (a destination without verify-peer). The
 * destination's certificate is checked against `tls.hostname`, else the connect host.
 *
 * @example
 * ```ts ignore
 * import { readTlsClientMaterial } from "./src_connection.ts";
 * const tls = await readTlsClientMaterial({ dir: "fixtures/pki/good" }, "127.0.0.1");
 * ```
 */
export async function readTlsClientMaterial(
  tls: TlsOptions,
  connectHost: string,
): Promise<TlsClientCredentials> {
  const file = (name: string) => `${tls.dir}/${name}`;
  const hasCert = await Deno.stat(file("client-cert.pem")).then(() => true, () => false);
  try {
    return await readTlsClientCredentials({
      caFile: file("ca-cert.pem"),
      certFile: hasCert ? file("client-cert.pem") : undefined,
      keyFile: hasCert ? file("client-key.pem") : undefined,
      serverName: tls.hostname ?? connectHost,
    });
  } catch (error) {
    throw new WireError("E_TLS", `cannot read the TLS directory: ${error}`, {
      field: "tls.dir",
      received: tls.dir,
      cause: error,
    });
  }
}

/** Options of {@linkcode SourceConnection.open}. */
export interface OpenOptions extends WaitOptions {
  /** Name in errors and events, e.g. `main channel` or `multifd channel 1`. */
  readonly name: string;
  readonly tls?: TlsClientCredentials;
  /** Bound of each write. */
  readonly writeTimeoutMs: number;
  /** Bound of the TLS handshake; default `DEFAULT_HANDSHAKE_TIMEOUT_MS` of `harness/net/tls.ts`. */
  readonly handshakeTimeoutMs?: number;
  /** How the channel ends when it is disposed of without {@linkcode SourceConnection.close}. */
  readonly closeMode?: CloseMode;
}

const DRAIN_BUFFER = 16 * 1024;

/**
 * An open channel of the source.
 *
 * @example
 * ```ts ignore
 * import { SourceConnection } from "./src_connection.ts";
 * await using channel = await SourceConnection.open({ hostname: "127.0.0.1", port: 4444 }, {
 *   name: "main channel",
 *   writeTimeoutMs: 10_000,
 * });
 * await channel.writer.write(new Uint8Array([0x51, 0x45, 0x56, 0x4d]));
 * await channel.close("clean", { timeoutMs: 5_000 });
 * ```
 */
export class SourceConnection implements AsyncDisposable {
  readonly name: string;
  readonly writer: ByteWriter;
  readonly tls: boolean;
  /** Resolves when the destination closed its side (EOF or error); never rejects. */
  readonly peerClosed: Promise<{ readonly error?: WireError }>;
  readonly #tcp: PlainConn;
  readonly #secure: TlsConnection | null;
  readonly #closeMode: CloseMode;
  #peerDone = false;
  #closed = false;
  #closing = false;
  #discarded: WireError | undefined;
  #lentBytes = 0;

  private constructor(tcp: PlainConn, secure: TlsConnection | null, options: OpenOptions) {
    this.name = options.name;
    this.#tcp = tcp;
    this.#secure = secure;
    this.tls = secure !== null;
    this.#closeMode = options.closeMode ?? "clean";
    this.writer = new ByteWriter(secure ?? tcp, {
      name: options.name,
      timeoutMs: options.writeTimeoutMs,
    });
    this.peerClosed = this.#drain();
  }

  /**
   * Connects and, with `tls`, completes the TLS 1.2 handshake within the bound (`harness/net/tls.ts`,
   * which can end a channel with or without close_notify).
   */
  static async open(endpoint: Endpoint, options: OpenOptions): Promise<SourceConnection> {
    if (!options.tls) {
      // Plain channels on native sockets when possible: their writes can then leave this thread.
      const plain = await connectThreaded(endpoint, { ...options, what: options.name });
      plain.setNoDelay(true);
      return new SourceConnection(plain, null, options);
    }
    const tcp = await connect(endpoint, { ...options, what: options.name });
    tcp.setNoDelay(true);
    // On failure the handshake closes the connection and throws E_TLS (E_TIMEOUT past the bound).
    const secure = await clientHandshake(tcp, options.tls, {
      name: options.name,
      signal: options.signal,
      timeoutMs: options.timeoutMs,
      handshakeTimeoutMs: options.handshakeTimeoutMs,
    });
    return new SourceConnection(tcp, secure, options);
  }

  /** Bytes written: by {@linkcode SourceConnection.writer}, and by a thread it was lent to. */
  get bytesWritten(): number {
    return this.writer.bytesWritten + this.#lentBytes;
  }

  /**
   * Lends the socket's descriptor to a Worker that writes it (plain native TCP only), until
   * {@linkcode SourceConnection.giveBack}. The writer must be idle meanwhile; a close wakes the
   * Worker's blocked calls.
   *
   * @throws {TypeError} when the channel is TLS or not on a native socket.
   */
  lend(): number {
    const tcp = this.#tcp as PlainConn & { lend?: (use: "write") => number };
    if (this.#secure || !tcp.lend) {
      throw new TypeError(`${this.name} cannot be lent: not a plain native TCP connection`);
    }
    return tcp.lend("write");
  }

  /** Ends a loan made with {@linkcode SourceConnection.lend}. */
  giveBack(): void {
    (this.#tcp as PlainConn & { giveBack(use: "write"): void }).giveBack("write");
  }

  /** Counts bytes that the thread the socket is lent to has written. */
  countWritten(bytes: number): void {
    this.#lentBytes += bytes;
  }

  /** Whether the destination closed its side (before this side closed the connection). */
  get peerDone(): boolean {
    return this.#peerDone;
  }

  /**
   * Set when the destination reset the connection, so that bytes this side sent were never read:
   * on TCP at any time, on TLS only before this side's close_notify (a QEMU that has finished
   * closes without reading it).
   */
  get discarded(): WireError | undefined {
    return this.#discarded;
  }

  /** Whether this side has closed the connection. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Ends the channel. `clean` sends close_notify (TLS) or FIN (TCP), then waits within the bound
   * for the destination to close so that unread data never turns the close into a reset;
   * `abrupt` ends a TLS channel with FIN but without close_notify, and closes a TCP one at once.
   */
  async close(mode: CloseMode, options?: WaitOptions): Promise<void> {
    if (this.#closed) return;
    this.#closing = true;
    const deadline = new Deadline({ ...options, what: `close of ${this.name}` }, 5_000);
    try {
      if (this.#secure) {
        await deadline.race(this.#secure.close(mode, options));
        await deadline.race(this.peerClosed);
      } else if (mode === "clean") {
        await deadline.race(this.#tcp.closeWrite());
        await deadline.race(this.peerClosed);
      }
    } catch {
      // The peer may already be gone or slow to close: the bytes are sent either way.
    } finally {
      deadline.clear();
      this.#closeNow();
    }
  }

  /** Closes at once; a TLS channel ends as `closeMode` says (close_notify unless `abrupt`). */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#closeNow();
    await this.peerClosed;
  }

  #closeNow(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#secure) {
      // A close already under way keeps its mode; disposal then frees the socket.
      const secure = this.#secure;
      void secure.close(this.#closeMode).catch(() => {}).finally(() =>
        secure[Symbol.asyncDispose]()
      );
      return;
    }
    try {
      this.#tcp.close();
    } catch {
      // Already closed.
    }
  }

  async #drain(): Promise<{ error?: WireError }> {
    // Runs as long as the connection: closing this side ends it.
    const reader = new ByteReader(this.#secure?.readable ?? this.#tcp, {
      name: this.name,
      bufferSize: DRAIN_BUFFER,
      timeoutMs: Infinity,
    });
    const buffer = new Uint8Array(DRAIN_BUFFER);
    try {
      while ((await reader.read(buffer, { what: "the destination's end" })) !== null) {
        // Whatever the destination sends is read and dropped.
      }
      return {};
    } catch (error) {
      // Reads fail once this side closed the connection: that is not the peer closing.
      if (this.#closed) return {};
      const closedBy = new WireError(
        classOf(error),
        `${this.name} closed by the destination: ${error}`,
        { field: this.name, cause: error },
      );
      if (isReset(error) && !(this.#secure && this.#closing)) {
        this.#discarded = new WireError(
          "E_IO",
          `${this.name} reset by the destination with bytes this source sent unread: ${error}`,
          { field: this.name, cause: error },
        );
      }
      return { error: closedBy };
    } finally {
      this.#peerDone = !this.#closed;
    }
  }
}

/** Whether `error`, or an error it was caused by, is a connection reset. */
function isReset(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) {
    if (e instanceof Deno.errors.ConnectionReset) return true;
  }
  return false;
}
