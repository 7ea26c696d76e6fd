/**
 * What the `destination` and `source` commands share as standalone migration peers: the
 * `--tls-dir` option, the QEMU wire version they speak, running until done or interrupted (SIGINT)
 * within an optional bound, one JSON object per line on stdout and the final `result` line with
 * its exit code.
 *
 * @module
 */

import { EXIT_FAILED, EXIT_OK, type OptionSpec, UsageError } from "./command.ts";
import type { Outcome } from "../harness/implementation.ts";
import { versionInfo } from "../harness/wire/versions.ts";

/**
 * `--tls-dir D`: TLS with the x509 PKI in D, in QEMU's file names (`files` lists them for help).
 *
 * @example
 * ```ts
 * import { tlsDirOption } from "./peer.ts";
 * console.log(tlsDirOption("ca-cert.pem, client-cert.pem, client-key.pem").value); // "D"
 * ```
 */
export function tlsDirOption(files: string): OptionSpec {
  return { type: "string", value: "D", help: `TLS with the x509 PKI in D (${files}).` };
}

/**
 * Checks that `version` is a QEMU version the wire table knows, naming option `name` if not.
 *
 * @throws {UsageError} `--name: …` with the table's reason.
 * @example
 * ```ts
 * import { wireVersionOption } from "./peer.ts";
 * console.log(wireVersionOption("source-version", "7.2")); // "7.2"
 * ```
 */
export function wireVersionOption(name: string, version: string): string {
  try {
    versionInfo(version);
  } catch (error) {
    throw new UsageError(`--${name}: ${error instanceof Error ? error.message : error}`);
  }
  return version;
}

/**
 * Prints one event as a JSON line on stdout.
 *
 * @example
 * ```ts
 * import { printEvent } from "./peer.ts";
 * printEvent({ event: "listening", port: 4444 }); // {"event":"listening","port":4444}
 * ```
 */
export function printEvent(event: Readonly<Record<string, unknown>>): void {
  console.log(JSON.stringify(event));
}

/**
 * Runs `run` with a signal that aborts on SIGINT or after `timeoutMs` (when given).
 *
 * @example
 * ```ts ignore
 * import { untilInterrupted } from "./peer.ts";
 * const code = await untilInterrupted(60_000, async (signal) => await migrate(signal));
 * ```
 */
export async function untilInterrupted<T>(
  timeoutMs: number | undefined,
  run: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const stop = () => controller.abort(new Error("interrupted"));
  Deno.addSignalListener("SIGINT", stop);
  try {
    const signal = timeoutMs === undefined
      ? controller.signal
      : AbortSignal.any([controller.signal, AbortSignal.timeout(timeoutMs)]);
    return await run(signal);
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
  }
}

/**
 * Prints the final `result` line of a migration (`extra` fields before the counts) and returns the
 * exit code: 0 when it completed, 1 otherwise.
 *
 * @example
 * ```ts
 * import { printResult } from "./peer.ts";
 * console.log(printResult({ status: "failed", errorClass: "E_UUID", message: "uuid" })); // 1
 * ```
 */
export function printResult(
  outcome: Outcome,
  extra: Readonly<Record<string, unknown>> = {},
): number {
  printEvent({
    event: "result",
    status: outcome.status,
    ...(outcome.errorClass ? { class: outcome.errorClass } : {}),
    ...(outcome.message ? { message: outcome.message } : {}),
    ramSha256: outcome.ramSha256 ?? null,
    ...(typeof outcome.evidence?.transferCpuSeconds === "number"
      ? { transferCpuSeconds: outcome.evidence.transferCpuSeconds }
      : {}),
    ...extra,
    bytes: outcome.bytes ?? 0,
    seconds: outcome.seconds ?? 0,
  });
  return outcome.status === "completed" ? EXIT_OK : EXIT_FAILED;
}
