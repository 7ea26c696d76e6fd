/**
 * Accepted connections of the destination, whatever the transport: a byte reader over the
 * (decrypted) stream and a close that frees it. TLS connections come out of
 * `harness/net/tls.ts` in the order their handshakes complete, which is the order a QEMU
 * destination maps TLS channels in (they cannot be peeked).
 *
 * @module
 */

import type { Endpoint, TlsOptions } from "../implementation.ts";
import { type ListenOptions, listenThreaded } from "../net/listen.ts";
import { NativeTcpConn } from "../net/native_tcp.ts";
import { ByteReader } from "../net/read.ts";
import { listenTlsServer } from "../net/tls.ts";
import type { WaitOptions } from "../net/wait.ts";

/**
 * A connection's descriptor lent to a Worker (plain TCP on native sockets only): the bytes the
 * reader had already received, and the way to end the loan.
 */
export interface ChannelLoan {
  readonly fd: number;
  /** Bytes received before the loan and not consumed: the Worker reads them first. */
  readonly leftover: Uint8Array;
  /** Ends the loan; the connection's `close` then closes the descriptor. */
  giveBack(): void;
}

/** One accepted connection. */
export interface AcceptedConn {
  readonly transport: "tcp" | "tls";
  /** Reads the connection's bytes (after TLS). */
  readonly reader: ByteReader;
  /**
   * Lends the descriptor to a Worker that reads it with `SyncSocket`; the reader must not be
   * used meanwhile. Absent unless the connection is a native one.
   */
  lend?(): ChannelLoan;
  /** Closes the connection; safe to call twice. */
  close(): void;
}

/** Hands out accepted connections. */
export interface ConnAcceptor {
  /** Where sources connect to. */
  readonly endpoint: Endpoint;
  accept(options: WaitOptions): Promise<AcceptedConn>;
  /** Stops accepting and closes every connection it made. */
  close(): void;
}

/**
 * Size of each connection's read buffer. A main stream of multifd migration carries little (its
 * pages go over the channels) and reads of a payload go straight into RAM; a multifd channel's
 * buffer holds no more than its magic and init packet before its socket is lent to a Worker. A
 * buffer of 1 MiB per connection cost the destination's thread page faults while the channels
 * connected, when every channel waits for it.
 */
export const CHANNEL_BUFFER_SIZE = 64 * 1024;

/** Reads of at least this many bytes (page payloads) go straight into the RAM image. */
export const DIRECT_READ_MIN = 16 * 1024;

/**
 * Plain TCP: every accepted socket is read directly (its `read`, which keeps a half-closed socket
 * usable and reports FIN as end of stream), on a thread of its own where native TCP is available
 * (`listenThreaded`), so that channels are copied into RAM by more than one core.
 *
 * @example
 * ```ts ignore
 * import { tcpAcceptor } from "./dst_conn.ts";
 * const acceptor = tcpAcceptor({ name: "ts destination" });
 * const conn = await acceptor.accept({ timeoutMs: 1000 });
 * ```
 */
export function tcpAcceptor(options: ListenOptions): ConnAcceptor {
  const listener = listenThreaded(options);
  return {
    endpoint: listener.endpoint,
    async accept(wait: WaitOptions): Promise<AcceptedConn> {
      const conn = await listener.accept(wait);
      let closed = false;
      const reader = new ByteReader(conn, {
        name: `connection from ${conn.remoteAddr.hostname}:${conn.remoteAddr.port}`,
        bufferSize: CHANNEL_BUFFER_SIZE,
        directReadMin: DIRECT_READ_MIN,
      });
      return {
        transport: "tcp",
        reader,
        ...(conn instanceof NativeTcpConn
          ? {
            lend(): ChannelLoan {
              const leftover = reader.takeBuffered();
              const fd = conn.lend("read");
              let lent = true;
              return {
                fd,
                leftover,
                giveBack() {
                  if (lent) conn.giveBack("read");
                  lent = false;
                },
              };
            },
          }
          : {}),
        close() {
          if (closed) return;
          closed = true;
          try {
            conn.close();
          } catch {
            // Already closed.
          }
        },
      };
    },
    close() {
      listener.close();
    },
  };
}

/**
 * TLS with the x509 PKI in `tls.dir` (QEMU's file names: `server-cert.pem`, `server-key.pem`, and
 * `ca-cert.pem` to verify client certificates). Client certificates are required and verified
 * when `tls.verifyPeer` is true, which is the default when `ca-cert.pem` exists. Connections are
 * handed out in the order their handshakes complete; a failed handshake is thrown by `accept` as
 * `E_TLS` (`E_TIMEOUT` past `handshakeTimeoutMs`). Each connection's end is told apart: close_notify ends its reader, a bare end is
 * `E_TLS_PREMATURE_EOF`.
 *
 * @example
 * ```ts ignore
 * import { tlsAcceptor } from "./dst_conn.ts";
 * const acceptor = await tlsAcceptor({ name: "ts destination" }, { dir: "fixtures/pki/good" });
 * ```
 */
export async function tlsAcceptor(
  options: ListenOptions,
  tls: TlsOptions,
  handshakeTimeoutMs?: number,
  stallHandshakes = false,
): Promise<ConnAcceptor> {
  const file = (name: string) => `${tls.dir}/${name}`;
  const hasCa = await Deno.stat(file("ca-cert.pem")).then(() => true, (error) => {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  });
  const verifyPeer = tls.verifyPeer ?? hasCa;
  if (verifyPeer && !hasCa) throw new Error(`tls.verifyPeer needs ${file("ca-cert.pem")}`);
  const server = await listenTlsServer({
    certFile: file("server-cert.pem"),
    keyFile: file("server-key.pem"),
    caFile: hasCa ? file("ca-cert.pem") : undefined,
    verifyPeer,
    hostname: options.hostname,
    port: options.port,
    timeoutMs: options.timeoutMs,
    handshakeTimeoutMs,
    order: "handshake",
    name: options.name,
    stallHandshakes,
  });
  return {
    endpoint: server.endpoint,
    async accept(wait: WaitOptions): Promise<AcceptedConn> {
      const conn = await server.accept(wait);
      return {
        transport: "tls",
        reader: new ByteReader(conn.readable, { name: conn.name }),
        close() {
          void conn[Symbol.asyncDispose]();
        },
      };
    },
    close() {
      server.close();
    },
  };
}
