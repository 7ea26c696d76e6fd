/**
 * Test helpers of the source: a loopback listener that records every connection's bytes until
 * the source closes it, standing in for a destination that accepts anything.
 *
 * @module
 */

import { closeQuietly, listen, type TcpListener } from "../net/listen.ts";
import type { Endpoint } from "../implementation.ts";

/** The bytes of one recorded connection, in arrival order. */
export interface RecordedConnection {
  readonly index: number;
  readonly bytes: Uint8Array;
}

/**
 * Records every connection to a loopback port until disposed.
 *
 * @example
 * ```ts ignore
 * import { Recorder } from "./src_testing.ts";
 * await using recorder = new Recorder();
 * // … run a source against recorder.endpoint …
 * const connections = await recorder.connections(3);
 * ```
 */
export class Recorder implements AsyncDisposable {
  readonly #listener: TcpListener;
  readonly #recorded: Promise<RecordedConnection>[] = [];
  readonly #conns: Deno.Conn[] = [];
  readonly #accepting: Promise<void>;

  constructor() {
    this.#listener = listen({ name: "recorder" });
    this.#accepting = this.#accept();
  }

  /** Where the source connects to. */
  get endpoint(): Endpoint {
    return this.#listener.endpoint;
  }

  /** The first `count` connections, each once the source has closed it. */
  async connections(count: number, signal?: AbortSignal): Promise<RecordedConnection[]> {
    while (this.#recorded.length < count) {
      if (signal?.aborted) throw signal.reason;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return await Promise.all(this.#recorded.slice(0, count));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#listener.close();
    for (const conn of this.#conns) closeQuietly(conn);
    await this.#accepting;
    await Promise.allSettled(this.#recorded);
  }

  async #accept(): Promise<void> {
    for (let index = 0;; index++) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept({ timeoutMs: Infinity });
      } catch {
        return;
      }
      this.#conns.push(conn);
      this.#recorded.push(record(index, conn));
    }
  }
}

async function record(index: number, conn: Deno.Conn): Promise<RecordedConnection> {
  const parts: Uint8Array[] = [];
  const buffer = new Uint8Array(64 * 1024);
  try {
    for (;;) {
      const n = await conn.read(buffer);
      if (n === null) break;
      parts.push(buffer.slice(0, n));
    }
  } catch {
    // Closed by the recorder's dispose, or reset by the source: keep what arrived.
  }
  closeQuietly(conn);
  const bytes = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return { index, bytes };
}
