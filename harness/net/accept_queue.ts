/**
 * What the listeners share: accepted items queued in arrival order and handed out to one bounded
 * wait at a time.
 *
 * @module
 */

import { WireError } from "../wire/errors.ts";
import { Deadline, Serial, type WaitOptions } from "./wait.ts";

/** Names and bounds of an {@linkcode AcceptQueue}. */
export interface AcceptQueueOptions {
  /** Name in error messages, e.g. `tls server`. */
  readonly name: string;
  /** What a wait is for when the call does not say, e.g. `a connection`. */
  readonly what: string;
  /** Bound of a wait when the call gives none. */
  readonly timeoutMs: number;
}

/**
 * Items (connections, or promises of them) in arrival order. Concurrent waits are served one at
 * a time in call order; a wait that times out takes nothing, so an item that arrives later goes
 * to the next wait. Once closed, a wait on an empty queue fails with `E_IO`.
 *
 * @example
 * ```ts
 * import { AcceptQueue } from "./accept_queue.ts";
 * const queue = new AcceptQueue<string>({ name: "listener", what: "a connection", timeoutMs: 1000 });
 * queue.push("first");
 * console.log(await queue.next(undefined, (item) => item.toUpperCase())); // FIRST
 * ```
 */
export class AcceptQueue<T> {
  readonly #options: AcceptQueueOptions;
  readonly #items: T[] = [];
  readonly #serial = new Serial();
  #waiter: (() => void) | null = null;
  #closed = false;

  constructor(options: AcceptQueueOptions) {
    this.#options = options;
  }

  /** Whether {@linkcode AcceptQueue.close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Queues an item and wakes the wait in progress. */
  push(item: T): void {
    this.#items.push(item);
    this.#wake();
  }

  /**
   * Waits within the bound for the next item and returns what `use` makes of it; the item leaves
   * the queue only once `use` has returned (a `use` that throws, e.g. on the deadline, leaves it
   * for the next wait). `E_TIMEOUT` past the bound, `E_IO` once closed and empty.
   */
  async next<R>(
    options: WaitOptions | undefined,
    use: (item: T, deadline: Deadline) => R | Promise<R>,
  ): Promise<R> {
    const { name, what, timeoutMs } = this.#options;
    const deadline = new Deadline(
      { ...options, what: `${options?.what ?? what} on ${name}` },
      timeoutMs,
    );
    deadline.throwIfAborted();
    let release: (() => void) | undefined;
    try {
      release = await this.#serial.acquire(deadline);
      while (this.#items.length === 0) {
        if (this.#closed) throw new WireError("E_IO", `${name} is closed`, { field: name });
        await deadline.race(new Promise<void>((resolve) => this.#waiter = resolve));
      }
      const result = await use(this.#items[0], deadline);
      this.#items.shift();
      return result;
    } finally {
      release?.();
      deadline.clear();
    }
  }

  /** Closes the queue: items still queued are handed out, then waits fail. */
  close(): void {
    this.#closed = true;
    this.#wake();
  }

  /** Removes and returns every queued item. */
  drain(): T[] {
    return this.#items.splice(0);
  }

  #wake(): void {
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter?.();
  }
}
