/**
 * The cross-version knobs a QEMU needs to migrate with a peer of another version (spec §7), derived
 * from the version table in `harness/wire/versions.ts`. `-M none` has no compat properties, so
 * these are set explicitly: `-global` properties and migration parameters.
 *
 * @module
 */

import type { ImplementationInfo } from "../implementation.ts";
import { type QemuReference, versionInfo } from "../wire/versions.ts";

/** One setting, on one side, and why. */
export interface Knob {
  /** The side that needs it. */
  readonly side: "source" | "destination";
  /** A `-global` property or a `migrate-set-parameters` parameter. */
  readonly kind: "global" | "parameter";
  /** `migration.multifd-flush-after-each-section` or `zero-page-detection`. */
  readonly name: string;
  /** The value to set, in QEMU's syntax (`on`, `false`, `legacy`). */
  readonly value: string;
  /** Why, in one line. */
  readonly reason: string;
  /** Where the behaviour that needs it lives in QEMU. */
  readonly reference: QemuReference;
}

/** The QEMU wire version migwire's TypeScript implementation speaks unless it says otherwise. */
export const TS_DEFAULT_WIRE_VERSION = "10.0";

/**
 * The QEMU version whose wire format an implementation speaks: its own version for QEMU, and for
 * `ts*` implementations the QEMU version named in `version` (e.g. `0.1.0+qemu-7.2`), or
 * {@linkcode TS_DEFAULT_WIRE_VERSION}.
 *
 * @example
 * ```ts
 * import { wireVersionOf } from "./knobs.ts";
 * console.log(wireVersionOf({ name: "qemu-7.2", version: "7.2.22" })); // "7.2.22"
 * console.log(wireVersionOf({ name: "ts", version: "0.1.0" })); // "10.0"
 * console.log(wireVersionOf({ name: "ts", version: "0.1.0+qemu-7.2" })); // "7.2"
 * ```
 */
export function wireVersionOf(info: ImplementationInfo): string {
  if (!info.name.startsWith("ts")) return info.version;
  const named = /qemu-?(\d+\.\d+(?:\.\d+)?)/.exec(info.version)?.[1];
  return named ?? TS_DEFAULT_WIRE_VERSION;
}

/**
 * Every knob a migration from a `source` QEMU version to a `destination` version needs; each side
 * applies the knobs for its own side. Versions are strings such as `7.2.22` or `10.0`.
 *
 * @example
 * ```ts
 * import { crossVersionKnobs } from "./knobs.ts";
 * for (const knob of crossVersionKnobs("10.0.2", "7.2.22", { tls: false })) {
 *   console.log(knob.side, knob.name, knob.value);
 * }
 * // source migration.multifd-flush-after-each-section on
 * // source migration.send-switchover-start off
 * // source zero-page-detection legacy
 * ```
 */
export function crossVersionKnobs(
  source: string,
  destination: string,
  options: { readonly tls: boolean },
): Knob[] {
  const src = versionInfo(source);
  const dst = versionInfo(destination);
  const knobs: Knob[] = [];

  if (src.flushStyle.value === "multifd-flush" && dst.flushStyle.value === "eos") {
    knobs.push({
      side: "source",
      kind: "global",
      name: "migration.multifd-flush-after-each-section",
      value: "on",
      reason: `a ${dst.version} destination syncs multifd on every EOS and rejects ` +
        "RAM_SAVE_FLAG_MULTIFD_FLUSH (0x200): 'Unknown combination of migration flags: 0x200'",
      reference: src.flushStyle,
    });
  }
  if (src.flushStyle.value === "eos" && dst.flushStyle.value === "multifd-flush") {
    knobs.push({
      side: "destination",
      kind: "global",
      name: "migration.multifd-flush-after-each-section",
      value: "on",
      reason: `a ${src.version} source sends one SYNC per channel on every EOS and never 0x200; ` +
        "the destination must sync on EOS too",
      reference: dst.flushStyle,
    });
  }
  if (src.switchoverStart.value && !dst.switchoverStart.value) {
    knobs.push({
      side: "source",
      kind: "global",
      name: "migration.send-switchover-start",
      value: "off",
      reason: `a ${dst.version} destination does not know MIG_CMD_SWITCHOVER_START (11)`,
      reference: src.switchoverStart,
    });
  }
  if (src.zeroPagesOnMultifd.value && !dst.zeroPagesOnMultifd.value) {
    knobs.push({
      side: "source",
      kind: "parameter",
      name: "zero-page-detection",
      value: "legacy",
      reason: `a ${dst.version} destination ignores zero_pages in multifd packets; ` +
        "zero pages must travel on the main stream",
      reference: src.zeroPagesOnMultifd,
    });
  }
  if (options.tls && !src.cleanTlsTermination.value && dst.tlsPrematureEof.value === "fails") {
    knobs.push({
      side: "destination",
      kind: "global",
      name: "migration.multifd-clean-tls-termination",
      value: "false",
      reason: `a ${src.version} source closes multifd TLS channels without close_notify; ` +
        `a ${dst.version} destination fails the migration on that unless relaxed (9b3b192f65)`,
      reference: dst.tlsPrematureEof,
    });
  }
  return knobs;
}

/**
 * The knobs one side needs against `peer` (none without a peer).
 *
 * @example
 * ```ts
 * import { knobsFor } from "./knobs.ts";
 * const knobs = knobsFor(
 *   "destination",
 *   { name: "qemu-10.0", version: "10.0.2" },
 *   { name: "qemu-7.2", version: "7.2.22" },
 *   { tls: true },
 * );
 * console.log(knobs.map((k) => k.name));
 * // ["migration.multifd-flush-after-each-section", "migration.multifd-clean-tls-termination"]
 * ```
 */
export function knobsFor(
  side: Knob["side"],
  self: ImplementationInfo,
  peer: ImplementationInfo | undefined,
  options: { readonly tls: boolean },
): Knob[] {
  if (!peer) return [];
  const mine = wireVersionOf(self);
  const theirs = wireVersionOf(peer);
  const [source, destination] = side === "source" ? [mine, theirs] : [theirs, mine];
  return crossVersionKnobs(source, destination, options).filter((knob) => knob.side === side);
}

/**
 * The `-global` arguments of some knobs, e.g. `migration.send-switchover-start=off`.
 *
 * @example
 * ```ts
 * import { crossVersionKnobs, globalsOf } from "./knobs.ts";
 * console.log(globalsOf(crossVersionKnobs("10.0", "7.2", { tls: false })));
 * ```
 */
export function globalsOf(knobs: readonly Knob[]): string[] {
  return knobs.filter((knob) => knob.kind === "global").map((knob) => `${knob.name}=${knob.value}`);
}

/**
 * The `migrate-set-parameters` arguments of some knobs.
 *
 * @example
 * ```ts
 * import { crossVersionKnobs, parametersOf } from "./knobs.ts";
 * console.log(parametersOf(crossVersionKnobs("10.0", "7.2", { tls: false })));
 * // { "zero-page-detection": "legacy" }
 * ```
 */
export function parametersOf(knobs: readonly Knob[]): Record<string, string> {
  return Object.fromEntries(
    knobs.filter((knob) => knob.kind === "parameter").map((knob) => [knob.name, knob.value]),
  );
}
