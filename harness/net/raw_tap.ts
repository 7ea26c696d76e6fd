/**
 * A node `Duplex` over a raw TCP connection that watches the TLS records passing in both
 * directions, so a TLS stack layered on top can be told how its peer really ended: close_notify,
 * FIN without it, or RST. It also closes the write side itself, with or without forwarding the
 * local close_notify, which node's TLS socket does not do on its own.
 *
 * @module
 */

import { Duplex } from "node:stream";
import { TlsContentType, TlsRecordTracker } from "./tls_record.ts";

/** A raw byte transport: `Deno.TcpConn` and `NodeConn` have this shape. */
export interface RawTransport {
  read(buffer: Uint8Array): Promise<number | null>;
  write(buffer: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
  /** Closes with RST, where the transport can (`NodeConn`). */
  reset?(): void;
}

/** How the raw inbound direction ended: FIN, RST, or another transport error. */
export type RawEnd = "fin" | "rst" | "error";

/** How to end the outbound direction. */
export type CloseMode = "clean" | "abrupt";

const SLAB = 1 << 20;
const READ_SIZE = 64 * 1024;

/**
 * The tap. Give {@linkcode RawTap.duplex} to `tls.connect({socket})` or a `tls.Server`.
 *
 * @example
 * ```ts ignore
 * import tls from "node:tls";
 * import { RawTap } from "./raw_tap.ts";
 * const tap = new RawTap(await Deno.connect({ hostname: "127.0.0.1", port: 4444 }));
 * const socket = tls.connect({ socket: tap.duplex, ca, servername: "localhost" });
 * ```
 */
export class RawTap {
  /** The duplex the TLS layer reads ciphertext from and writes ciphertext to. */
  readonly duplex: Duplex;
  /** Records received from the peer. */
  readonly inbound: TlsRecordTracker = new TlsRecordTracker();
  /** Records sent to the peer. */
  readonly outbound: TlsRecordTracker = new TlsRecordTracker();
  /** Resolves once the raw inbound direction has ended (never rejects). */
  readonly inboundDone: Promise<void>;
  readonly #transport: RawTransport;
  #inboundEnd: RawEnd | null = null;
  #inboundError: unknown;
  /** Wakes the pump when the duplex wants more, reading is resumed, or the tap closes. */
  #wantMore: (() => void) | null = null;
  #paused = false;
  #closing: CloseMode | null = null;
  #outboundClosed = false;
  #closedWrite = Promise.withResolvers<void>();
  #closed = false;
  #slab = new Uint8Array(SLAB);
  #slabUsed = 0;

  constructor(transport: RawTransport) {
    this.#transport = transport;
    this.#closedWrite.promise.catch(() => {});
    this.duplex = new Duplex({
      allowHalfOpen: true,
      read: () => this.#wake(),
      write: (chunk: Uint8Array, _encoding, callback) => {
        this.#write(chunk).then(() => callback(), (error) => callback(error));
      },
      final: (callback) => {
        this.#endOutbound().then(() => callback(), (error) => callback(error));
      },
      destroy: (error, callback) => {
        this.close();
        callback(error);
      },
    });
    this.inboundDone = this.#pump();
  }

  /** How the raw inbound direction ended, `null` while it is open. */
  get inboundEnd(): RawEnd | null {
    return this.#inboundEnd;
  }

  /** The transport error that ended the inbound direction, if any. */
  get inboundError(): unknown {
    return this.#inboundError;
  }

  /** Whether the peer's last complete record before the end was an alert (its close_notify). */
  get peerSentCloseNotify(): boolean {
    return this.inbound.lastRecord?.type === TlsContentType.alert && this.inbound.atBoundary;
  }

  /** Whether this side has closed its raw write direction (sent FIN). */
  get outboundClosed(): boolean {
    return this.#outboundClosed;
  }

  /**
   * Arms the end of the outbound direction: the next alert record the TLS layer writes (its
   * close_notify, after `end()`) is forwarded (`clean`) or dropped (`abrupt`), then FIN is sent.
   * The returned promise resolves once FIN has been sent.
   */
  closeAfterAlert(mode: CloseMode): Promise<void> {
    this.#closing ??= mode;
    return this.#closedWrite.promise;
  }

  /** Sends FIN now, without waiting for an alert. */
  async closeWriteNow(): Promise<void> {
    await this.#endOutbound();
  }

  /** Closes the raw connection with RST where the transport can, else like `close()`. */
  reset(): void {
    if (this.#closed) return;
    if (this.#transport.reset) {
      this.#closed = true;
      this.#transport.reset();
      this.#closedWrite.resolve();
      this.#wake();
    } else {
      this.close();
    }
  }

  /** Closes the raw connection. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#transport.close();
    } catch {
      // Already closed.
    }
    this.#closedWrite.resolve();
    this.#wake();
  }

  /**
   * Stops reading the raw transport after the read in flight: what the peer sends next stays in
   * the kernel, so the peer's writes block. This is how a consumer that falls behind bounds
   * memory; pausing node's TLS socket instead does not stop the reads (Deno's TLS layer keeps
   * decrypting into a buffer of its own) and can lose the peer's end (see `tls.ts`).
   */
  pause(): void {
    this.#paused = true;
  }

  /** Resumes reading the raw transport. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#wake();
  }

  /** Whether reading the raw transport is paused. */
  get paused(): boolean {
    return this.#paused;
  }

  async #write(chunk: Uint8Array): Promise<void> {
    let data = chunk;
    let alertEnded = false;
    if (this.#closing === "abrupt") {
      // Keep everything except alert records; allocate only when something is dropped.
      const kept: [number, number][] = [];
      let dropped = false;
      this.outbound.feed(chunk, (type, start, end) => {
        if (type === TlsContentType.alert) dropped = true;
        else kept.push([start, end]);
      });
      if (dropped) {
        const total = kept.reduce((n, [a, b]) => n + b - a, 0);
        data = new Uint8Array(total);
        let offset = 0;
        for (const [a, b] of kept) {
          data.set(chunk.subarray(a, b), offset);
          offset += b - a;
        }
        alertEnded = this.outbound.lastRecord?.type === TlsContentType.alert &&
          this.outbound.atBoundary;
      }
    } else {
      this.outbound.feed(chunk);
      alertEnded = this.#closing === "clean" &&
        this.outbound.lastRecord?.type === TlsContentType.alert && this.outbound.atBoundary;
    }
    let offset = 0;
    while (offset < data.length) offset += await this.#transport.write(data.subarray(offset));
    if (alertEnded) await this.#endOutbound();
  }

  async #endOutbound(): Promise<void> {
    if (this.#outboundClosed) return this.#closedWrite.promise;
    this.#outboundClosed = true;
    try {
      if (!this.#closed) await this.#transport.closeWrite();
      this.#closedWrite.resolve();
    } catch (error) {
      // The peer may already be gone; FIN is then moot.
      this.#closedWrite.resolve();
      if (!isGone(error)) throw error;
    }
  }

  #sleep(): Promise<void> {
    return new Promise<void>((resolve) => this.#wantMore = resolve);
  }

  #wake(): void {
    const wake = this.#wantMore;
    this.#wantMore = null;
    wake?.();
  }

  async #pump(): Promise<void> {
    try {
      for (;;) {
        while (this.#paused && !this.#closed) await this.#sleep();
        if (this.#closed) {
          this.#inboundEnd ??= "error";
          break;
        }
        if (SLAB - this.#slabUsed < 16 * 1024) {
          // Chunks handed to the duplex keep referring to the old slab.
          this.#slab = new Uint8Array(SLAB);
          this.#slabUsed = 0;
        }
        const end = Math.min(SLAB, this.#slabUsed + READ_SIZE);
        const n = await this.#transport.read(this.#slab.subarray(this.#slabUsed, end));
        if (n === null) {
          this.#inboundEnd = "fin";
          break;
        }
        const chunk = this.#slab.subarray(this.#slabUsed, this.#slabUsed + n);
        this.#slabUsed += n;
        this.inbound.feed(chunk);
        if (!this.duplex.push(chunk) && !this.#closed) await this.#sleep();
        if (this.#closed) {
          this.#inboundEnd ??= "error";
          break;
        }
      }
    } catch (error) {
      this.#inboundEnd = error instanceof Deno.errors.ConnectionReset ? "rst" : "error";
      this.#inboundError = error;
    }
    if (!this.duplex.destroyed) this.duplex.push(null);
  }
}

function isGone(error: unknown): boolean {
  return error instanceof Deno.errors.NotConnected || error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.BrokenPipe || error instanceof Deno.errors.ConnectionReset;
}
