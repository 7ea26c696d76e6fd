/**
 * Migration steps over QMP shared by both roles: capabilities and parameters, waiting for a
 * migration to end (events plus polling, bounded by a signal), turned into evidence, and the
 * incoming side's transfer time from its MIGRATION events.
 *
 * @module
 */

import type { QemuExit, QemuProcess } from "./process.ts";
import { delay } from "./abort.ts";
import { QmpClosedError, QmpError, type QmpEvent } from "./qmp.ts";

/** The part of `query-migrate`'s answer the harness reads. */
export interface MigrationInfo {
  /** Migration status; absent on a 7.2 destination before its migration starts. */
  readonly status?: string;
  /** The first error, unprefixed. */
  readonly "error-desc"?: string;
  /** Source: milliseconds from start to end. */
  readonly "total-time"?: number;
  /** Source: bytes sent, all channels and multifd only. */
  readonly ram?: { readonly transferred?: number; readonly "multifd-bytes"?: number };
  /** Destination: where it listens. */
  readonly "socket-address"?: ReadonlyArray<
    { readonly type: string; readonly host?: string; readonly port?: string }
  >;
}

/** Statuses after which a migration does not move on by itself. */
export const FINAL_STATUSES: ReadonlySet<string> = new Set(["completed", "failed", "cancelled"]);

/** How a wait for the end of a migration ended. */
export type MigrationEnd =
  /** `query-migrate` reported a final status. */
  | { readonly kind: "status"; readonly info: MigrationInfo }
  /** The process exited (or QMP closed with it) first. */
  | { readonly kind: "exited"; readonly exit: QemuExit; readonly info?: MigrationInfo }
  /** The signal fired first; `info` is the last answer, if any. */
  | { readonly kind: "aborted"; readonly info?: MigrationInfo };

const POLL_MS = 100;
const EXIT_AFTER_CLOSE_MS = 2_000;

/**
 * Turns on multifd (and migration events) and sets parameters on one side.
 *
 * @example
 * ```ts ignore
 * import { configureMigration } from "./migration.ts";
 * await configureMigration(qemu, { "multifd-channels": 4 }, AbortSignal.timeout(5000));
 * ```
 */
export async function configureMigration(
  qemu: QemuProcess,
  parameters: Record<string, unknown>,
  signal?: AbortSignal,
): Promise<void> {
  await qemu.qmp.execute("migrate-set-capabilities", {
    capabilities: [
      { capability: "events", state: true },
      { capability: "multifd", state: true },
    ],
  }, signal);
  await qemu.qmp.execute("migrate-set-parameters", parameters, signal);
}

/**
 * Waits until `query-migrate` shows a final status, the process exits, or `signal` fires. Wakes
 * on every MIGRATION event and polls every 100 ms in between; never throws for QEMU's sake.
 *
 * @example
 * ```ts ignore
 * import { waitForMigrationEnd } from "./migration.ts";
 * const end = await waitForMigrationEnd(qemu, AbortSignal.timeout(30_000));
 * if (end.kind === "status") console.log(end.info.status);
 * ```
 */
export async function waitForMigrationEnd(
  qemu: QemuProcess,
  signal: AbortSignal,
): Promise<MigrationEnd> {
  const done = new AbortController();
  const scope = AbortSignal.any([signal, done.signal]);
  const events = qemu.qmp.subscribe(scope);
  let nextEvent: Promise<unknown> | undefined;
  let info: MigrationInfo | undefined;
  try {
    while (true) {
      if (qemu.exit) return { kind: "exited", exit: qemu.exit, info };
      if (signal.aborted) return { kind: "aborted", info };
      try {
        info = await qemu.qmp.execute<MigrationInfo>("query-migrate", undefined, signal);
      } catch (error) {
        if (error instanceof QmpClosedError || error instanceof QmpError) {
          const exit = await qemu.waitExit(AbortSignal.timeout(EXIT_AFTER_CLOSE_MS))
            .catch(() => undefined);
          if (exit) return { kind: "exited", exit, info };
          return { kind: "aborted", info };
        }
        // The signal fired or the command timed out (a frozen main loop): look again.
        continue;
      }
      if (info.status !== undefined && FINAL_STATUSES.has(info.status)) {
        return { kind: "status", info };
      }
      nextEvent ??= events.next().then(() => nextEvent = undefined, () => {});
      await Promise.race([nextEvent, qemu.exited, delay(POLL_MS, scope).catch(() => {})]);
    }
  } finally {
    done.abort();
  }
}

/**
 * Seconds an incoming migration took by QEMU's own clock, from the timestamps of the
 * destination's MIGRATION events: from `active` to `completed`. QEMU 7.2 and 10.0 alike emit
 * `active` when `process_incoming_migration_co` starts loading (every channel connected: for
 * multifd, `migration_ioc_process_incoming` starts it only then) and `completed` at the end of
 * `process_incoming_migration_bh`; the `setup` event `migrate-incoming` emits comes before, so
 * the wait for the source stays outside. Undefined when either event is missing or has no
 * timestamp (e.g. the `events` capability was off).
 *
 * @example
 * ```ts
 * import { incomingTransferSeconds } from "./migration.ts";
 * const at = (seconds: number, microseconds: number) => ({ seconds, microseconds });
 * console.log(incomingTransferSeconds([
 *   { event: "MIGRATION", data: { status: "setup" }, timestamp: at(100, 0) },
 *   { event: "MIGRATION", data: { status: "active" }, timestamp: at(105, 250_000) },
 *   { event: "MIGRATION", data: { status: "completed" }, timestamp: at(106, 0) },
 * ])); // 0.75
 * ```
 */
export function incomingTransferSeconds(events: readonly QmpEvent[]): number | undefined {
  const migration = events.filter((event) => event.event === "MIGRATION" && event.timestamp);
  const active = migration.findIndex((event) => event.data?.status === "active");
  if (active < 0) return undefined;
  const completed = migration.slice(active).find((event) => event.data?.status === "completed");
  if (!completed) return undefined;
  const from = migration[active].timestamp!;
  const to = completed.timestamp!;
  return (to.seconds - from.seconds) + (to.microseconds - from.microseconds) / 1e6;
}
