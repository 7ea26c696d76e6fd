/**
 * TLS for the destination: every accepted socket completes an x509 server handshake before it is
 * classified (by order of completed handshakes, as in QEMU).
 *
 * @module
 */

import type { TlsOptions } from "../implementation.ts";
import type { TcpListener } from "../net/listen.ts";
import type { ConnAcceptor } from "./dst_conn.ts";

/**
 * Builds a TLS acceptor over `listener` from the PKI in `tls.dir`.
 *
 * @example
 * ```ts ignore
 * const acceptor = await tlsAcceptor(listen(), { dir: "fixtures/pki/good" }, 30_000);
 * ```
 */
export function tlsAcceptor(
  _listener: TcpListener,
  _tls: TlsOptions,
  _handshakeTimeoutMs: number,
): Promise<ConnAcceptor> {
  return Promise.reject(new Error("TLS destination not available yet"));
}
