/**
 * A QMP client over a unix socket: greeting and capabilities negotiation, commands with ids,
 * typed errors, and events as async streams. Every wait has a timeout.
 *
 * @module
 */

import { delay, withSignal } from "./abort.ts";

/** Version block of the QMP greeting. */
export interface QmpGreeting {
  /** QEMU's version and Debian-style package note. */
  readonly version: {
    readonly qemu: { readonly major: number; readonly minor: number; readonly micro: number };
    readonly package: string;
  };
  /** Optional QMP capabilities offered (e.g. `oob`); none is enabled. */
  readonly capabilities: readonly string[];
}

/** One asynchronous event, e.g. `MIGRATION` with `data.status`. */
export interface QmpEvent {
  /** Event name, e.g. `MIGRATION`. */
  readonly event: string;
  /** Event payload, e.g. `{status: "completed"}`. */
  readonly data?: Record<string, unknown>;
  /** When QEMU emitted it. */
  readonly timestamp?: { readonly seconds: number; readonly microseconds: number };
}

/**
 * An error reply from QEMU: its class (`GenericError`, `CommandNotFound`, …) and description.
 *
 * @example
 * ```ts
 * import { QmpError } from "./qmp.ts";
 * const error = new QmpError("nope", "CommandNotFound", "The command nope has not been found");
 * console.log(error.errorClass, error.desc);
 * ```
 */
export class QmpError extends Error {
  /** The command that failed. */
  readonly command: string;
  /** QMP's error class. */
  readonly errorClass: string;
  /** QMP's human-readable description. */
  readonly desc: string;

  /** Records the failed command with QEMU's class and description. */
  constructor(command: string, errorClass: string, desc: string) {
    super(`QMP ${command}: ${errorClass}: ${desc}`);
    this.name = "QmpError";
    this.command = command;
    this.errorClass = errorClass;
    this.desc = desc;
  }
}

/**
 * The QMP connection closed (QEMU exited or crashed) while something waited on it.
 *
 * @example
 * ```ts
 * import { QmpClosedError } from "./qmp.ts";
 * console.log(new QmpClosedError("query-status").message);
 * ```
 */
export class QmpClosedError extends Error {
  /** `what` names the command or event that was awaited. */
  constructor(what: string) {
    super(`QMP connection closed while waiting for ${what}`);
    this.name = "QmpClosedError";
  }
}

/** Timeout of a command when the caller gives none. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 10_000;
/** A QMP message longer than this is refused rather than buffered. */
const MAX_LINE_BYTES = 16 * 1024 * 1024;
/** Events kept for evidence. */
const EVENT_LOG_LIMIT = 1000;

interface Pending {
  readonly command: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
}

/** A queue of events for one subscriber. */
interface Subscriber {
  readonly queue: QmpEvent[];
  wake?: () => void;
}

/**
 * A connected QMP session in command mode.
 *
 * @example Query a QEMU's status
 * ```ts ignore
 * import { QmpClient } from "./qmp.ts";
 * await using qmp = await QmpClient.connect("/tmp/qmp.sock", AbortSignal.timeout(5000));
 * console.log(await qmp.execute("query-status"));
 * ```
 */
export class QmpClient implements AsyncDisposable {
  /** The greeting QEMU sent. */
  readonly greeting: QmpGreeting;
  /** Every event received so far, oldest first (at most the last 1000). */
  readonly events: QmpEvent[] = [];
  /** Resolves when the connection has closed, for whatever reason. */
  readonly closed: Promise<void>;

  #conn: Deno.UnixConn;
  #nextId = 1;
  #pending = new Map<string, Pending>();
  #subscribers = new Set<Subscriber>();
  #lines: AsyncIterator<string>;
  #isClosed = false;
  #encoder = new TextEncoder();

  private constructor(conn: Deno.UnixConn, greeting: QmpGreeting, lines: AsyncIterator<string>) {
    this.#conn = conn;
    this.greeting = greeting;
    this.#lines = lines;
    this.closed = this.#readLoop();
  }

  /**
   * Connects to the QMP socket at `path`, retrying while it does not exist yet, reads the greeting
   * and negotiates capabilities. `signal` bounds the whole attempt.
   */
  static async connect(path: string, signal: AbortSignal): Promise<QmpClient> {
    let conn: Deno.UnixConn | undefined;
    while (!conn) {
      signal.throwIfAborted();
      try {
        conn = await Deno.connect({ transport: "unix", path });
      } catch (error) {
        const retry = error instanceof Deno.errors.NotFound ||
          error instanceof Deno.errors.ConnectionRefused;
        if (!retry) throw error;
        await delay(10, signal);
      }
    }
    try {
      const lines = readLines(conn);
      const greeting = await withSignal(lines.next(), signal, "the QMP greeting");
      if (greeting.done) throw new QmpClosedError("the QMP greeting");
      const parsed = JSON.parse(greeting.value) as { QMP?: QmpGreeting };
      if (!parsed.QMP) throw new Error(`not a QMP greeting: ${greeting.value.slice(0, 200)}`);
      const client = new QmpClient(conn, parsed.QMP, lines);
      await client.execute("qmp_capabilities", undefined, signal);
      return client;
    } catch (error) {
      conn.close();
      throw error;
    }
  }

  /** Whether the connection has closed. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /**
   * Runs a command and resolves with its `return` value; rejects with {@linkcode QmpError} on an
   * error reply, {@linkcode QmpClosedError} if the connection closes, or the abort reason when
   * `signal` fires or {@linkcode DEFAULT_COMMAND_TIMEOUT_MS} passes (a late reply is dropped).
   */
  async execute<T = unknown>(
    command: string,
    args?: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<T> {
    if (this.#isClosed) throw new QmpClosedError(command);
    const id = `migwire-${this.#nextId++}`;
    const timeout = AbortSignal.timeout(DEFAULT_COMMAND_TIMEOUT_MS);
    const bound = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const reply = new Promise<unknown>((resolve, reject) => {
      this.#pending.set(id, { command, resolve, reject });
    });
    // Handled below; this keeps an early close from counting as an unhandled rejection.
    reply.catch(() => {});
    const message = args === undefined
      ? { execute: command, id }
      : { execute: command, arguments: args, id };
    try {
      await this.#conn.write(this.#encoder.encode(JSON.stringify(message) + "\n"));
      return await withSignal(reply, bound, command) as T;
    } catch (error) {
      if (error instanceof Deno.errors.BrokenPipe || error instanceof Deno.errors.ConnectionReset) {
        throw new QmpClosedError(command);
      }
      throw error;
    } finally {
      this.#pending.delete(id);
    }
  }

  /**
   * Streams events received from now on until the connection closes or `signal` aborts (the
   * iteration then ends with the abort reason).
   */
  async *subscribe(signal?: AbortSignal): AsyncGenerator<QmpEvent, void, undefined> {
    const subscriber: Subscriber = { queue: [] };
    this.#subscribers.add(subscriber);
    try {
      while (true) {
        const next = subscriber.queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (this.#isClosed) return;
        const woken = new Promise<void>((resolve) => subscriber.wake = resolve);
        await withSignal(woken, signal, "a QMP event");
      }
    } finally {
      this.#subscribers.delete(subscriber);
    }
  }

  /**
   * Waits for the first event, from now on, for which `match` is true; rejects on close or abort.
   */
  async waitEvent(match: (event: QmpEvent) => boolean, signal: AbortSignal): Promise<QmpEvent> {
    for await (const event of this.subscribe(signal)) {
      if (match(event)) return event;
    }
    throw new QmpClosedError("an event");
  }

  /** Closes the connection; pending commands reject with {@linkcode QmpClosedError}. */
  close(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    try {
      this.#conn.close();
    } catch {
      // Already closed by the peer.
    }
  }

  /** Closes the connection and waits for the reader to finish. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.closed;
  }

  async #readLoop(): Promise<void> {
    try {
      while (true) {
        const line = await this.#lines.next();
        if (line.done) break;
        this.#dispatch(line.value);
      }
    } catch {
      // A reset or a close from our side ends the session like an EOF.
    } finally {
      this.#isClosed = true;
      try {
        this.#conn.close();
      } catch {
        // Already closed.
      }
      for (const pending of this.#pending.values()) {
        pending.reject(new QmpClosedError(pending.command));
      }
      this.#pending.clear();
      for (const subscriber of this.#subscribers) subscriber.wake?.();
    }
  }

  #dispatch(line: string): void {
    const message = JSON.parse(line) as {
      id?: string;
      return?: unknown;
      error?: { class: string; desc: string };
      event?: string;
    };
    if (message.event !== undefined) {
      const event = message as QmpEvent;
      this.events.push(event);
      if (this.events.length > EVENT_LOG_LIMIT) this.events.shift();
      for (const subscriber of this.#subscribers) {
        subscriber.queue.push(event);
        subscriber.wake?.();
      }
      return;
    }
    const pending = message.id === undefined ? undefined : this.#pending.get(message.id);
    if (!pending) return;
    if (message.error) {
      pending.reject(new QmpError(pending.command, message.error.class, message.error.desc));
    } else {
      pending.resolve(message.return);
    }
  }
}

/** Splits a byte stream into lines without holding more than one line plus one read. */
async function* readLines(conn: Deno.Conn): AsyncGenerator<string, void, undefined> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(64 * 1024);
  let pending = "";
  while (true) {
    const n = await conn.read(buffer);
    if (n === null) return;
    pending += decoder.decode(buffer.subarray(0, n), { stream: true });
    let newline: number;
    while ((newline = pending.indexOf("\n")) >= 0) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (line) yield line;
    }
    if (pending.length > MAX_LINE_BYTES) {
      throw new Error(`QMP message longer than ${MAX_LINE_BYTES} bytes`);
    }
  }
}
