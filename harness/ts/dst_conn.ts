/**
 * Accepted connections of the destination, whatever the transport: a byte reader over the
 * (decrypted) stream, an optional handshake still to complete, and a close that frees it.
 *
 * @module
 */

import { closeQuietly, type TcpListener } from "../net/listen.ts";
import { ByteReader } from "../net/read.ts";
import type { WaitOptions } from "../net/wait.ts";

/** One accepted connection. */
export interface AcceptedConn {
  readonly transport: "tcp" | "tls";
  /** Reads the connection's bytes (after TLS). */
  readonly reader: ByteReader;
  /** The TLS handshake, when one has to complete before the first byte. */
  readonly handshake?: (options: WaitOptions) => Promise<void>;
  /** Closes the connection; safe to call twice. */
  close(): void;
}

/** Hands out accepted connections. */
export interface ConnAcceptor {
  accept(options: WaitOptions): Promise<AcceptedConn>;
  /** Stops accepting and frees what is not handed out. */
  close(): void;
}

/** Size of each channel's read buffer: big reads, few wakeups. */
export const CHANNEL_BUFFER_SIZE = 1024 * 1024;

/**
 * Plain TCP: every accepted socket is read directly (`Deno.Conn.read`, which keeps a half-closed
 * socket usable and reports FIN as end of stream).
 *
 * @example
 * ```ts ignore
 * import { listen } from "../net/listen.ts";
 * import { tcpAcceptor } from "./dst_conn.ts";
 * const acceptor = tcpAcceptor(listen());
 * const conn = await acceptor.accept({ timeoutMs: 1000 });
 * ```
 */
export function tcpAcceptor(listener: TcpListener): ConnAcceptor {
  return {
    async accept(options: WaitOptions): Promise<AcceptedConn> {
      const conn = await listener.accept(options);
      let closed = false;
      return {
        transport: "tcp",
        reader: new ByteReader(conn, {
          name: `connection from ${conn.remoteAddr.hostname}:${conn.remoteAddr.port}`,
          bufferSize: CHANNEL_BUFFER_SIZE,
        }),
        close() {
          if (closed) return;
          closed = true;
          closeQuietly(conn);
        },
      };
    },
    close() {
      listener.close();
    },
  };
}
