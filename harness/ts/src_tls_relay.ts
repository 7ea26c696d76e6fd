/**
 * A loopback relay that lets a TLS client end its connection without close_notify. Deno's TLS
 * (rustls) always sends close_notify when a connection is closed, so a source that must close
 * abruptly (QEMU ≤ 9.2 does, spec §5.1) runs its TLS over this relay: the relay forwards whole
 * TLS records to the destination and, once armed, drops the last record before the client's end
 * of stream — the close_notify alert — and then closes the TCP connection to the destination.
 *
 * @module
 */

import type { Endpoint } from "../implementation.ts";
import { closeQuietly, connect, LOOPBACK } from "../net/listen.ts";
import type { WaitOptions } from "../net/wait.ts";
import { withTimeout } from "../net/wait.ts";

const RECORD_HEADER = 5;
const MAX_RECORD = 16384 + 2048 + RECORD_HEADER;
const PUMP_BUFFER = 64 * 1024;

/**
 * Relays one TLS connection to `upstream`.
 *
 * @example
 * ```ts ignore
 * import { TlsAbruptRelay } from "./src_tls_relay.ts";
 * await using relay = await TlsAbruptRelay.open({ hostname: "127.0.0.1", port: 4444 });
 * const tls = await Deno.connectTls({ hostname: "127.0.0.1", port: relay.port });
 * relay.arm();
 * tls.close(); // the destination sees the TCP end without close_notify
 * ```
 */
export class TlsAbruptRelay implements AsyncDisposable {
  readonly #listener: Deno.TcpListener;
  readonly #upstream: Deno.TcpConn;
  #inner: Deno.TcpConn | null = null;
  #armed = false;
  #done: Promise<void> = Promise.resolve();

  private constructor(listener: Deno.TcpListener, upstream: Deno.TcpConn) {
    this.#listener = listener;
    this.#upstream = upstream;
  }

  /** Connects to `upstream` and listens for the one TLS client on a loopback port. */
  static async open(upstream: Endpoint, options?: WaitOptions): Promise<TlsAbruptRelay> {
    const conn = await connect(upstream, options);
    conn.setNoDelay(true);
    const listener = Deno.listen({ hostname: LOOPBACK, port: 0, transport: "tcp" });
    const relay = new TlsAbruptRelay(listener, conn);
    relay.#done = relay.#run(options);
    return relay;
  }

  /** The loopback port the TLS client connects to. */
  get port(): number {
    return this.#listener.addr.port;
  }

  /** From now on the last record before the client's end of stream is dropped. */
  arm(): void {
    this.#armed = true;
  }

  /** Resolves when both directions have ended. */
  get done(): Promise<void> {
    return this.#done;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    closeQuietly(this.#listener);
    if (this.#inner) closeQuietly(this.#inner);
    closeQuietly(this.#upstream);
    await this.#done;
  }

  async #run(options?: WaitOptions): Promise<void> {
    try {
      this.#inner = await withTimeout(this.#listener.accept(), {
        ...options,
        what: "TLS client on the relay",
      });
      this.#inner.setNoDelay(true);
    } catch {
      closeQuietly(this.#upstream);
      return;
    } finally {
      closeQuietly(this.#listener);
    }
    const inner = this.#inner;
    await Promise.all([
      this.#clientToUpstream(inner).finally(() => closeQuietly(this.#upstream)),
      pump(this.#upstream, inner).finally(() => closeQuietly(inner)),
    ]);
  }

  /** Forwards whole records; once armed, the last complete record waits for the next one. */
  async #clientToUpstream(inner: Deno.TcpConn): Promise<void> {
    const buffer = new Uint8Array(PUMP_BUFFER + MAX_RECORD);
    let filled = 0;
    let held: Uint8Array | null = null;
    try {
      for (;;) {
        const n = await inner.read(buffer.subarray(filled, filled + PUMP_BUFFER));
        if (n === null) break;
        filled += n;
        let complete = 0;
        let last = 0;
        while (filled - complete >= RECORD_HEADER) {
          const length = RECORD_HEADER + ((buffer[complete + 3] << 8) | buffer[complete + 4]);
          if (filled - complete < length) break;
          last = complete;
          complete += length;
        }
        if (complete === 0) continue;
        if (this.#armed) {
          if (held) await writeAll(this.#upstream, held);
          if (last > 0) await writeAll(this.#upstream, buffer.subarray(0, last));
          held = buffer.slice(last, complete);
        } else {
          await writeAll(this.#upstream, buffer.subarray(0, complete));
        }
        buffer.copyWithin(0, complete, filled);
        filled -= complete;
      }
      // End of stream: when armed, the held record is the close_notify and is dropped.
    } catch {
      // Either side went away: the relay ends.
    }
  }
}

async function pump(from: Deno.TcpConn, to: Deno.TcpConn): Promise<void> {
  const buffer = new Uint8Array(PUMP_BUFFER);
  try {
    for (;;) {
      const n = await from.read(buffer);
      if (n === null) return;
      await writeAll(to, buffer.subarray(0, n));
    }
  } catch {
    // Either side went away.
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await conn.write(data.subarray(offset));
}
