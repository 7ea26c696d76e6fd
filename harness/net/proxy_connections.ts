/**
 * The connections a proxy accepts: taken from its listener one by one until it closes, kept in
 * accept order while each is handled on its own, with a bounded wait for all of them to end.
 *
 * @module
 */

import type { NodeConn, NodeListener } from "./node_conn.ts";
import { Deadline, DEFAULT_TIMEOUT_MS, type WaitOptions } from "./wait.ts";

/** How long {@linkcode ProxyConnections.settled} waits by default, in milliseconds. */
export const SETTLE_GRACE_MS = 1000;

/** Options of {@linkcode ProxyConnections.ended}. */
export type EndedOptions = WaitOptions & {
  /** How many connections must have been accepted, default 1. */
  readonly connections?: number;
};

/** What a proxy does with each accepted connection. */
export interface ProxyConnectionHandlers<C> {
  /** Makes the record of the connection accepted as `index` (accept order, 0-based). */
  open(client: NodeConn, index: number): C;
  /** Serves the connection until both directions have ended; it must not reject. */
  handle(client: NodeConn, connection: C): Promise<void>;
}

/**
 * Accepts from a listener until {@linkcode ProxyConnections.close}, keeping each connection's
 * record in accept order and knowing when its handling has settled.
 *
 * @example Wait for a connection to a discarding server to end
 * ```ts
 * import { NodeConn, NodeListener } from "./node_conn.ts";
 * import { ProxyConnections } from "./proxy_connections.ts";
 *
 * const listener = await NodeListener.listen({ name: "discard" });
 * const connections = new ProxyConnections<{ index: number }>(listener, "discard");
 * connections.acceptFrom({
 *   open: (_client, index) => ({ index }),
 *   handle: async (client) => {
 *     const next = () => client.readChunk().catch(() => null);
 *     while (await next() !== null) continue;
 *     client.close();
 *   },
 * });
 * const conn = await NodeConn.connect(listener.endpoint, { timeoutMs: 1000 });
 * await conn.closeWrite();
 * await connections.ended({ connections: 1, timeoutMs: 1000 });
 * console.log(connections.accepted.length); // 1
 * conn.close();
 * connections.close();
 * await connections.settled();
 * ```
 */
export class ProxyConnections<C> {
  readonly #listener: NodeListener;
  readonly #name: string;
  readonly #accepted: C[] = [];
  readonly #done: Promise<void>[] = [];
  #closed = false;
  #changed = Promise.withResolvers<void>();

  /** `name` is the proxy's, for error messages. */
  constructor(listener: NodeListener, name: string) {
    this.#listener = listener;
    this.#name = name;
  }

  /** The records of the connections accepted so far, in accept order. */
  get accepted(): readonly C[] {
    return this.#accepted;
  }

  /** Whether {@linkcode ProxyConnections.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Accepts connections until the listener or this closes. Each gets a record from
   * `handlers.open`, kept in accept order, and is then served by `handlers.handle`; it has ended
   * when that settles.
   */
  async acceptFrom(handlers: ProxyConnectionHandlers<C>): Promise<void> {
    while (!this.#closed) {
      let client: NodeConn;
      try {
        client = await this.#listener.accept({ timeoutMs: Infinity });
      } catch {
        break;
      }
      const connection = handlers.open(client, this.#accepted.length);
      const done = Promise.withResolvers<void>();
      this.#accepted.push(connection);
      this.#done.push(done.promise);
      this.#notify();
      handlers.handle(client, connection).finally(() => {
        done.resolve();
        this.#notify();
      });
    }
  }

  /**
   * Waits until at least `options.connections` (default 1) connections were accepted and every
   * accepted one has ended, or this was closed before that many came. `E_TIMEOUT` past the
   * bound, its message ending with `progress()` (default: how many were accepted).
   */
  async ended(options?: EndedOptions, progress?: () => string): Promise<void> {
    const want = options?.connections ?? 1;
    const deadline = new Deadline(
      { ...options, what: `${want} connection(s) to end on ${this.#name}` },
      DEFAULT_TIMEOUT_MS,
    );
    deadline.progress = progress ?? (() => ` (${this.#accepted.length} accepted)`);
    try {
      for (;;) {
        if (this.#accepted.length >= want) {
          const pending = [...this.#done];
          await deadline.race(Promise.all(pending));
          if (this.#done.length === pending.length) break;
          continue;
        }
        if (this.#closed) break;
        await deadline.race(this.#changed.promise);
      }
    } finally {
      deadline.clear();
    }
  }

  /** Stops accepting: closes the listener and wakes {@linkcode ProxyConnections.ended}. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#listener.close();
    this.#notify();
  }

  /**
   * Waits at most `graceMs` for every accepted connection's handling to settle; never rejects.
   * After the caller has closed their sockets, the handlers notice at once and record how the
   * connections ended.
   */
  async settled(graceMs: number = SETTLE_GRACE_MS): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        Promise.all(this.#done),
        new Promise<void>((resolve) => timer = setTimeout(resolve, graceMs)),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  #notify(): void {
    const changed = this.#changed;
    this.#changed = Promise.withResolvers<void>();
    changed.resolve();
  }
}
