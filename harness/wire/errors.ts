/**
 * Canonical error classes shared by the codec, the TypeScript implementation, the QEMU driver and
 * the conformance expectations.
 *
 * @module
 */

/** Every canonical class a rejection or failure is reported with. */
export const ERROR_CLASSES = [
  "E_MAGIC",
  "E_VERSION",
  "E_UUID",
  "E_CHANNEL_ID",
  "E_DUPLICATE_ID",
  "E_TRUNCATED",
  "E_UNKNOWN_CHANNEL",
  "E_PACKET",
  "E_TLS_PREMATURE_EOF",
  "E_TIMEOUT",
  "E_STREAM",
  "E_TLS",
  "E_IO",
] as const;

/**
 * A canonical error class. `E_STREAM` covers main-stream (QEVM) decoding errors, `E_TLS` handshake and
 * certificate failures, `E_IO` transport failures that are none of the others (reset, refused).
 */
export type ErrorClass = typeof ERROR_CLASSES[number];

/** What a {@linkcode WireError} says about the offending field. */
export interface WireErrorDetail {
  /** Dotted name of the field, e.g. `init.magic` or `packet.offset[3]`. */
  readonly field?: string;
  /** The value received, already formatted for people (hex for magics). */
  readonly received?: string | number | bigint;
  /** The value expected, or the limit exceeded. */
  readonly expected?: string | number | bigint;
  /** The underlying error, if this one translates another (kept as `Error.cause`). */
  readonly cause?: unknown;
}

/**
 * An error with a canonical class. Its message names the field, the value received and the value
 * expected, so a report can show it as it is.
 *
 * @example Throw and classify
 * ```ts
 * import { WireError } from "./errors.ts";
 * const error = new WireError("E_MAGIC", "init magic mismatch", {
 *   field: "init.magic",
 *   received: "0xdeadbeef",
 *   expected: "0x11223344",
 * });
 * console.log(error.errorClass, error.message);
 * ```
 */
export class WireError extends Error {
  /** The canonical class. */
  readonly errorClass: ErrorClass;
  /** The offending field, if one field is to blame. */
  readonly field?: string;
  /** The value received. */
  readonly received?: string | number | bigint;
  /** The value expected. */
  readonly expected?: string | number | bigint;

  constructor(errorClass: ErrorClass, summary: string, detail: WireErrorDetail = {}) {
    super(
      formatMessage(errorClass, summary, detail),
      detail.cause === undefined ? undefined : { cause: detail.cause },
    );
    this.name = "WireError";
    this.errorClass = errorClass;
    this.field = detail.field;
    this.received = detail.received;
    this.expected = detail.expected;
  }
}

function formatMessage(errorClass: ErrorClass, summary: string, detail: WireErrorDetail): string {
  const parts = [`${errorClass}: ${summary}`];
  if (detail.field !== undefined) parts.push(`field ${detail.field}`);
  if (detail.received !== undefined) parts.push(`received ${String(detail.received)}`);
  if (detail.expected !== undefined) parts.push(`expected ${String(detail.expected)}`);
  return parts.join("; ");
}

/**
 * Returns the canonical class of any thrown value: a {@linkcode WireError}'s own class, `E_TIMEOUT`
 * for aborts and timeouts, `E_TLS_PREMATURE_EOF` for rustls' missing close_notify, `E_IO` otherwise.
 *
 * @example
 * ```ts
 * import { classOf } from "./errors.ts";
 * console.log(classOf(new DOMException("late", "TimeoutError"))); // "E_TIMEOUT"
 * ```
 */
export function classOf(error: unknown): ErrorClass {
  if (error instanceof WireError) return error.errorClass;
  if (error instanceof DOMException) {
    if (error.name === "TimeoutError" || error.name === "AbortError") return "E_TIMEOUT";
  }
  if (error instanceof Deno.errors.TimedOut) return "E_TIMEOUT";
  if (error instanceof Deno.errors.UnexpectedEof) {
    return /close_notify/i.test(error.message) ? "E_TLS_PREMATURE_EOF" : "E_TRUNCATED";
  }
  if (
    error instanceof Deno.errors.InvalidData && /certificate|handshake|tls/i.test(error.message)
  ) {
    return "E_TLS";
  }
  return "E_IO";
}

/** Hex formatting for magics and flags in error messages, e.g. `0x11223344`. */
export function hex(value: number | bigint, width = 8): string {
  return `0x${value.toString(16).padStart(width, "0")}`;
}

/** A `WireError` as plain data, to cross between threads with `postMessage`. */
export interface WireErrorData {
  readonly errorClass: ErrorClass;
  /** The whole message, as the error had it. */
  readonly message: string;
  readonly field?: string;
  readonly received?: string | number;
  readonly expected?: string | number;
}

/**
 * A thrown value as plain data: a `WireError`'s class, message and fields; anything else `E_IO`.
 *
 * @example
 * ```ts
 * import { WireError, wireErrorFromData, wireErrorToData } from "./errors.ts";
 * const copy = wireErrorFromData(wireErrorToData(new WireError("E_PACKET", "bad", { field: "x" })));
 * console.log(copy.message); // E_PACKET: bad; field x
 * ```
 */
export function wireErrorToData(error: unknown): WireErrorData {
  const wire = error instanceof WireError ? error : new WireError("E_IO", String(error));
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
 * The `WireError` that {@linkcode wireErrorToData} described: same class, fields and message.
 *
 * @example
 * ```ts
 * import { wireErrorFromData } from "./errors.ts";
 * console.log(wireErrorFromData({ errorClass: "E_TIMEOUT", message: "E_TIMEOUT: slow" }).message);
 * ```
 */
export function wireErrorFromData(data: WireErrorData): WireError {
  const error = new WireError(data.errorClass, "", {
    field: data.field,
    received: data.received,
    expected: data.expected,
  });
  error.message = data.message;
  return error;
}
