/**
 * The messages between the destination and a Worker that receives one multifd channel
 * (`dst_channel_worker.ts`), and how a `WireError` crosses between them unchanged.
 *
 * @module
 */

import type { PacketLayout } from "../wire/packet.ts";
import { type ErrorClass, WireError } from "../wire/errors.ts";
import type { ChannelEnd } from "./dst_multifd.ts";
import type { ObservedConnection } from "./dst_transcript.ts";

/** A RAM block as the Worker lays it out. */
export interface BlockEntry {
  readonly name: string;
  readonly length: number;
}

/** Destination → Worker. */
export type ToChannelWorker =
  | {
    readonly type: "start";
    readonly fd: number;
    readonly leftover: Uint8Array;
    readonly id: number;
    readonly name: string;
    readonly layout: PacketLayout;
    /** The RAM image's memory. */
    readonly ram: SharedArrayBuffer;
    /** The block list, when the main stream has announced it already. */
    readonly blocks: readonly BlockEntry[] | null;
    readonly readTimeoutMs: number;
    readonly cleanEnd: "fin" | "close_notify";
    readonly relaxedEof: boolean;
    /** Index 0 non-zero: stop (read between calls, so a blocked call needs a shutdown too). */
    readonly abort: SharedArrayBuffer;
  }
  | { readonly type: "blocks"; readonly blocks: readonly BlockEntry[] }
  | { readonly type: "released" }
  | { readonly type: "abort"; readonly reason: string };

/** A `WireError` as plain data. */
export interface SerializedError {
  readonly errorClass: ErrorClass;
  readonly message: string;
  readonly field?: string;
  readonly received?: string | number;
  readonly expected?: string | number;
}

/** Worker → destination. */
export type FromChannelWorker =
  | { readonly type: "ready" }
  | { readonly type: "progress"; readonly bytes: number }
  | { readonly type: "synced" }
  | {
    readonly type: "done";
    readonly end: ChannelEnd;
    readonly observed: ObservedConnection;
    /** Bytes the Worker read, the lent leftover included. */
    readonly bytesRead: number;
  }
  | {
    readonly type: "failed";
    readonly error: SerializedError;
    readonly observed: ObservedConnection;
    readonly bytesRead: number;
  };

/**
 * A `WireError` (any other error becomes `E_IO`) as plain data for `postMessage`.
 *
 * @example
 * ```ts
 * import { deserializeError, serializeError } from "./dst_worker_messages.ts";
 * import { WireError } from "../wire/errors.ts";
 * const copy = deserializeError(serializeError(new WireError("E_PACKET", "bad", { field: "x" })));
 * console.log(copy.message); // E_PACKET: bad; field x
 * ```
 */
export function serializeError(error: unknown): SerializedError {
  const wire = error instanceof WireError
    ? error
    : new WireError("E_IO", `channel worker failed: ${error}`);
  const plain = (value: unknown) =>
    typeof value === "bigint" ? value.toString() : value as string | number | undefined;
  return {
    errorClass: wire.errorClass,
    message: wire.message,
    ...(wire.field === undefined ? {} : { field: wire.field }),
    ...(wire.received === undefined ? {} : { received: plain(wire.received) }),
    ...(wire.expected === undefined ? {} : { expected: plain(wire.expected) }),
  };
}

/**
 * The `WireError` that {@linkcode serializeError} described, with the same class and message.
 *
 * @example
 * ```ts
 * import { deserializeError } from "./dst_worker_messages.ts";
 * console.log(deserializeError({ errorClass: "E_TIMEOUT", message: "E_TIMEOUT: slow" }).errorClass);
 * ```
 */
export function deserializeError(data: SerializedError): WireError {
  const error = new WireError(data.errorClass, "", {
    field: data.field,
    received: data.received,
    expected: data.expected,
  });
  error.message = data.message;
  return error;
}
