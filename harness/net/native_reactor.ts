/**
 * Readiness for the non-blocking sockets of `native_tcp.ts`: one `poll(2)` over every socket that
 * has a waiter, run on Deno's blocking pool, woken through an `eventfd` when the set changes.
 * However many sockets wait, the reactor holds one pool thread, and none when nothing waits: the
 * pool has 32 threads, and a blocking call per idle socket would starve Deno's file I/O.
 *
 * @module
 */

import { type Libc, O_NONBLOCK, POLLERR, POLLHUP, POLLIN, POLLNVAL } from "./libc.ts";

const POLLFD_SIZE = 8;

interface Waiter {
  readonly events: number;
  readonly resolve: () => void;
}

/**
 * Waits for sockets to become readable or writable.
 *
 * @example
 * ```ts ignore
 * const reactor = new Reactor(lib);
 * await reactor.wait(fd, POLLIN); // then recv(MSG_DONTWAIT) has data, an end, or an error
 * ```
 */
export class Reactor {
  readonly #lib: Libc;
  readonly #waiters = new Map<number, Waiter[]>();
  #wakeFd = -1;
  #polling = false;

  constructor(lib: Libc) {
    this.#lib = lib;
  }

  /**
   * Resolves once `fd` is ready for `events` (POLLIN, POLLOUT), or has been hung up, failed, or
   * released with {@linkcode Reactor.release}. The caller retries its call and looks at its result.
   */
  wait(fd: number, events: number): Promise<void> {
    const { promise, resolve } = Promise.withResolvers<void>();
    const list = this.#waiters.get(fd) ?? [];
    list.push({ events, resolve });
    this.#waiters.set(fd, list);
    if (this.#polling) this.#wake();
    else void this.#loop();
    return promise;
  }

  /** Resolves every waiter of `fd` now (it is being closed); they see the socket's state. */
  release(fd: number): void {
    const list = this.#waiters.get(fd);
    if (!list) return;
    this.#waiters.delete(fd);
    for (const waiter of list) waiter.resolve();
    if (this.#polling) this.#wake();
  }

  #wake(): void {
    const one = new BigUint64Array([1n]);
    this.#lib.write(this.#wakeFd, new Uint8Array(one.buffer), 8n);
  }

  async #loop(): Promise<void> {
    if (this.#wakeFd < 0) {
      this.#wakeFd = this.#lib.eventfd(0, O_NONBLOCK | 0o2000000);
      if (this.#wakeFd < 0) throw new Deno.errors.NotSupported("eventfd() failed");
    }
    this.#polling = true;
    try {
      while (this.#waiters.size > 0) {
        const fds = [...this.#waiters.keys()];
        const set = new Uint8Array((fds.length + 1) * POLLFD_SIZE);
        const view = new DataView(set.buffer);
        view.setInt32(0, this.#wakeFd, true);
        view.setInt16(4, POLLIN, true);
        fds.forEach((fd, i) => {
          const events = this.#waiters.get(fd)!.reduce((all, w) => all | w.events, 0);
          view.setInt32((i + 1) * POLLFD_SIZE, fd, true);
          view.setInt16((i + 1) * POLLFD_SIZE + 4, events, true);
        });
        const ready = await this.#lib.pollWait(set, BigInt(fds.length + 1), -1);
        if (ready < 0) continue; // Interrupted: poll again.
        if (view.getInt16(6, true) !== 0) {
          this.#lib.read(this.#wakeFd, new Uint8Array(8), 8n);
        }
        fds.forEach((fd, i) => {
          const revents = view.getInt16((i + 1) * POLLFD_SIZE + 6, true);
          if (revents === 0) return;
          const list = this.#waiters.get(fd);
          if (!list) return;
          const done = (revents & (POLLERR | POLLHUP | POLLNVAL)) !== 0;
          const keep = list.filter((w) => !(done || (w.events & revents) !== 0));
          for (const waiter of list) if (!keep.includes(waiter)) waiter.resolve();
          if (keep.length > 0) this.#waiters.set(fd, keep);
          else this.#waiters.delete(fd);
        });
      }
    } finally {
      this.#polling = false;
    }
  }
}
