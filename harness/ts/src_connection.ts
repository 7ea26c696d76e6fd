/**
 * One outgoing channel of the source (main or multifd): a TCP connection, TLS optional, with a
 * bounded writer, a background reader that drains what the destination sends (TLS session
 * tickets) and notices when it closes, and a close that sends close_notify (`clean`) or drops the
 * TCP connection without it (`abrupt`).
 *
 * @module
 */

import type { Endpoint, TlsOptions } from "../implementation.ts";
import { connect } from "../net/listen.ts";
import { Deadline, type WaitOptions } from "../net/wait.ts";
import { ByteWriter } from "../net/write.ts";
import { TlsAbruptRelay } from "./src_tls_relay.ts";
import { classOf, WireError } from "../wire/errors.ts";

/** How a channel ends: TLS close_notify (or TCP FIN) first, or a bare TCP close. */
export type CloseMode = "clean" | "abrupt";

/** PEM material a TLS source needs, read once per source. */
export interface TlsClientMaterial {
  readonly caCert: string;
  readonly cert?: string;
  readonly key?: string;
  /** Name the destination's certificate is checked against. */
  readonly hostname: string;
}

/**
 * Reads the client side of a QEMU-style PKI directory (`ca-cert.pem`, `client-cert.pem`,
 * `client-key.pem`); the client pair is optional (a destination without verify-peer).
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
): Promise<TlsClientMaterial> {
  const read = async (name: string, optional: boolean): Promise<string | undefined> => {
    try {
      return await Deno.readTextFile(`${tls.dir}/${name}`);
    } catch (error) {
      if (optional && error instanceof Deno.errors.NotFound) return undefined;
      throw new WireError("E_TLS", `cannot read ${name} from the TLS directory`, {
        field: "tls.dir",
        received: tls.dir,
        cause: error,
      });
    }
  };
  const caCert = (await read("ca-cert.pem", false))!;
  const cert = await read("client-cert.pem", true);
  const key = cert === undefined ? undefined : await read("client-key.pem", false);
  return { caCert, cert, key, hostname: tls.hostname ?? connectHost };
}

/** Options of {@linkcode SourceConnection.open}. */
export interface OpenOptions extends WaitOptions {
  /** Name in errors and events, e.g. `main channel` or `multifd channel 1`. */
  readonly name: string;
  readonly tls?: TlsClientMaterial;
  /** Bound of each write. */
  readonly writeTimeoutMs: number;
  /** How the channel will be closed; `abrupt` TLS needs a relay from the start. */
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
  readonly conn: Deno.Conn;
  readonly writer: ByteWriter;
  readonly tls: boolean;
  /** Resolves when the destination closed its side (EOF or error); never rejects. */
  readonly peerClosed: Promise<{ readonly error?: WireError }>;
  readonly #relay: TlsAbruptRelay | null;
  #peerDone = false;
  #closed = false;

  private constructor(
    name: string,
    conn: Deno.Conn,
    tls: boolean,
    relay: TlsAbruptRelay | null,
    writeTimeoutMs: number,
  ) {
    this.name = name;
    this.conn = conn;
    this.tls = tls;
    this.#relay = relay;
    this.writer = new ByteWriter(conn, { name, timeoutMs: writeTimeoutMs });
    this.peerClosed = this.#drain();
  }

  /**
   * Connects (and completes the TLS handshake) within the bound. A TLS channel that is to end
   * abruptly runs over a {@linkcode TlsAbruptRelay}.
   */
  static async open(endpoint: Endpoint, options: OpenOptions): Promise<SourceConnection> {
    if (!options.tls) {
      const tcp = await connect(endpoint, { ...options, what: options.name });
      tcp.setNoDelay(true);
      return new SourceConnection(options.name, tcp, false, null, options.writeTimeoutMs);
    }
    const material = options.tls;
    const hostname = verifyName(material.hostname, endpoint.hostname);
    const relay = options.closeMode === "abrupt"
      ? await TlsAbruptRelay.open(endpoint, { ...options, what: options.name })
      : null;
    const deadline = new Deadline({ ...options, what: `TLS handshake of ${options.name}` }, 30_000);
    const connecting = Deno.connectTls({
      hostname,
      port: relay ? relay.port : endpoint.port,
      caCerts: [material.caCert],
      ...(material.cert && material.key ? { cert: material.cert, key: material.key } : {}),
    });
    try {
      const tls = await deadline.race(connecting);
      try {
        await deadline.race(tls.handshake());
      } catch (error) {
        tls.close();
        throw error;
      }
      return new SourceConnection(options.name, tls, true, relay, options.writeTimeoutMs);
    } catch (error) {
      connecting.then((tls) => tls.close(), () => {});
      await relay?.[Symbol.asyncDispose]();
      if (error instanceof WireError) throw error;
      const errorClass = classOf(error);
      throw new WireError(
        errorClass === "E_IO" ? "E_TLS" : errorClass,
        `TLS handshake of ${options.name} failed: ${error}`,
        { field: "tls", cause: error },
      );
    } finally {
      deadline.clear();
    }
  }

  /** Whether the destination closed its side (before this side closed the connection). */
  get peerDone(): boolean {
    return this.#peerDone;
  }

  /** Whether this side has closed the connection. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Ends the channel. `clean` sends close_notify (TLS) or FIN (TCP), then waits within the bound
   * for the destination to close so that unread data never turns the close into a reset;
   * `abrupt` ends a TLS channel without close_notify (the channel must have been opened with
   * `closeMode: "abrupt"`) and closes a TCP one at once.
   */
  async close(mode: CloseMode, options?: WaitOptions): Promise<void> {
    if (this.#closed) return;
    const deadline = new Deadline({ ...options, what: `close of ${this.name}` }, 5_000);
    try {
      if (mode === "clean") {
        await deadline.race(this.conn.closeWrite());
        await deadline.race(this.peerClosed);
      } else if (this.#relay) {
        this.#relay.arm();
        this.#closeNow();
        await deadline.race(this.#relay.done);
      }
    } catch {
      // The peer may already be gone or slow to close: the bytes are sent either way.
    } finally {
      deadline.clear();
      this.#closeNow();
      await this.#relay?.[Symbol.asyncDispose]();
    }
  }

  /** Closes at once (a TLS channel sends close_notify unless it runs over the relay). */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#closeNow();
    await this.#relay?.[Symbol.asyncDispose]();
    await this.peerClosed;
  }

  #closeNow(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }

  async #drain(): Promise<{ error?: WireError }> {
    const buffer = new Uint8Array(DRAIN_BUFFER);
    try {
      while ((await this.conn.read(buffer)) !== null) {
        // Whatever the destination sends (TLS session tickets) is read and dropped.
      }
      return {};
    } catch (error) {
      // Reads fail once this side closed the connection: that is not the peer closing.
      if (this.#closed) return {};
      return {
        error: new WireError(classOf(error), `${this.name} closed by the destination: ${error}`, {
          field: this.name,
          cause: error,
        }),
      };
    } finally {
      this.#peerDone = !this.#closed;
    }
  }
}

/**
 * The name the destination's certificate is checked against; Deno connects to it, so it must be
 * the connect address itself or `localhost` for a loopback address.
 */
function verifyName(wanted: string, connectHost: string): string {
  if (wanted === connectHost) return wanted;
  if (wanted === "localhost" && /^127\./.test(connectHost)) return wanted;
  throw new WireError("E_TLS", "tls.hostname must be the connect address or localhost", {
    field: "tls.hostname",
    received: wanted,
    expected: `${connectHost} or localhost`,
  });
}
