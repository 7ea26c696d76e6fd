/**
 * Networking for the harness: exact reads and whole writes with a bound on every wait, loopback
 * listeners, TLS that interoperates with QEMU, the capture proxy and the fault proxy.
 *
 * - `read.ts`, `write.ts`, `wait.ts`, `listen.ts`: `ByteReader` (exact reads into caller buffers,
 *   `peek`), `ByteWriter`, `Deadline`/`withTimeout`, `listen()`/`connect()` on loopback.
 * - `tls.ts`: `listenTlsServer()`, `connectTls()`, `serverHandshake()`/`clientHandshake()` and
 *   `TlsConnection` (plaintext streams, peer verification, `closeKind()`, `close("clean" |
 *   "abrupt")`). `node:tls` pinned to TLS 1.2 over `raw_tap.ts`, which follows the record
 *   framing (`tls_record.ts`) to tell close_notify from a bare FIN or RST.
 * - `node_conn.ts`: `node:net` connections that can send RST, for the proxies.
 * - `native_tcp.ts`, `native_sync.ts`, `libc.ts`: plain TCP through libc (FFI) whose calls run on
 *   threads of their own, `listenThreaded()`/`connectThreaded()`, and `SyncSocket` for a Worker
 *   that a connection's descriptor is lent to: how several channels are copied by several cores.
 * - `capture_proxy.ts`: records every connection between a real source and destination (plaintext
 *   when it terminates TLS), forwarding each upstream at once in accept order.
 * - `fault_proxy.ts`: delays, reorders, stalls, cuts, resets, and strips close_notify.
 *
 * Every wait takes an `AbortSignal` and a timeout and fails with a `WireError` of a canonical
 * class (`E_TIMEOUT`, `E_TRUNCATED`, `E_TLS_PREMATURE_EOF`, `E_TLS`, `E_IO`); everything that
 * starts something is an `AsyncDisposable`.
 *
 * @example Read an init packet within a second
 * ```ts
 * import { ByteReader, connect, listen } from "./mod.ts";
 * await using listener = listen();
 * const client = await connect(listener.endpoint, { timeoutMs: 1000 });
 * const server = await listener.accept({ timeoutMs: 1000 });
 * await client.write(new Uint8Array(64));
 * const reader = new ByteReader(server, { name: "multifd channel 0" });
 * await reader.readExactly(new Uint8Array(64), { timeoutMs: 1000, what: "init packet" });
 * client.close();
 * server.close();
 * ```
 *
 * @module
 */

export * from "./wait.ts";
export * from "./read.ts";
export * from "./write.ts";
export * from "./listen.ts";
export * from "./tls_record.ts";
export * from "./raw_tap.ts";
export * from "./tls.ts";
export * from "./node_conn.ts";
export * from "./native_tcp.ts";
export * from "./native_sync.ts";
export * from "./capture_proxy.ts";
export * from "./fault_proxy.ts";
