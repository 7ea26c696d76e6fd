/**
 * Exact blocking reads of one multifd channel for a channel Worker: the bytes the destination
 * had received before it lent the socket, then the socket itself.
 *
 * @module
 */

import type { SyncSocket } from "../net/native_sync.ts";
import { WireError } from "../wire/errors.ts";

/** Small reads take up to this much of what the socket has; larger ones go straight to RAM. */
const STAGE_SIZE = 8192;

/**
 * A channel's input. Words its errors as `ByteReader` does, so both paths report alike.
 *
 * @example
 * ```ts ignore
 * import { ChannelInput } from "./dst_channel_input.ts";
 * const input = new ChannelInput(socket, leftover, "multifd channel 0");
 * const header = new Uint8Array(12);
 * if (!input.read(header, "packet header", true, 0)) console.log("clean end");
 * ```
 */
export class ChannelInput {
  readonly #socket: SyncSocket;
  readonly #name: string;
  /** Bytes received and not consumed: the lent leftover, then what a small read brought. */
  #staged: Uint8Array;
  #stagedAt = 0;
  #stagedEnd: number;
  readonly #stage = new Uint8Array(STAGE_SIZE);
  /** Bytes consumed so far. */
  bytesRead = 0;

  constructor(socket: SyncSocket, leftover: Uint8Array, name: string) {
    this.#socket = socket;
    this.#staged = leftover;
    this.#stagedEnd = leftover.length;
    this.#name = name;
  }

  /**
   * Fills `into`; `false` at a clean end before its first byte when `endOk`. A small read takes
   * what the socket has, up to `readAhead` bytes more, so a packet's header and body cost one
   * call; a large one (a payload) goes straight into place. Staged bytes are copied again, and
   * into shared RAM slowly (V8 copies into a `SharedArrayBuffer` with relaxed atomics), so
   * header reads do not reach into the payload.
   *
   * @throws {WireError} `E_TRUNCATED` when the stream ends inside `into`, and what the socket
   * throws (`E_IO`, `E_TIMEOUT`).
   */
  read(into: Uint8Array, what: string, endOk: boolean, readAhead: number): boolean {
    // Offsets rather than views into the buffers: no typed array is made per packet.
    let got = this.#fromStage(into, 0);
    while (got < into.length) {
      const want = into.length - got;
      if (want >= STAGE_SIZE / 2) {
        got += this.#socket.readFull(got === 0 ? into : into.subarray(got), what);
        break;
      }
      const n = this.#socket.read(this.#stage, what, Math.min(STAGE_SIZE, want + readAhead));
      if (n === 0) break;
      this.#staged = this.#stage;
      this.#stagedAt = 0;
      this.#stagedEnd = n;
      got += this.#fromStage(into, got);
    }
    this.bytesRead += got;
    if (got === into.length) return true;
    if (got === 0 && endOk) return false;
    throw new WireError(
      "E_TRUNCATED",
      `end of stream on ${this.#name} after ${got} of ${into.length} bytes of ${what}`,
      { field: what, received: got, expected: into.length },
    );
  }

  /** Copies staged bytes into `into` from `at`; returns how many. */
  #fromStage(into: Uint8Array, at: number): number {
    const n = Math.min(into.length - at, this.#stagedEnd - this.#stagedAt);
    if (n === 0) return 0;
    into.set(this.#staged.subarray(this.#stagedAt, this.#stagedAt + n), at);
    this.#stagedAt += n;
    return n;
  }
}
