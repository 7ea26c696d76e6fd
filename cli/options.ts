/**
 * Options several `migwire` commands share — which implementations migrate, how many channels,
 * the guest RAM pattern (and whether it is preallocated) and the VM UUID — as specs for their
 * option tables and as parsers that name the option and value when it is wrong.
 *
 * @module
 */

import { intOption, type OptionSpec, UsageError } from "./command.ts";
import type { Implementation, RamSpec } from "../harness/implementation.ts";
import { resolveImplementation } from "../harness/interop.ts";

/**
 * `--src`, `--dst`, `--channels`, `--ram-mib`, `--seed` and `--uuid`: one pattern migration
 * between two implementations. {@linkcode migrationOptions} reads them.
 */
export const MIGRATION_OPTIONS: Readonly<
  Record<"src" | "dst" | "channels" | "ram-mib" | "seed" | "uuid", OptionSpec>
> = {
  src: { type: "string", value: "IMPL", help: "Source: ts, qemu-7.2, qemu-10.0 or qemu:PATH." },
  dst: {
    type: "string",
    value: "IMPL",
    help: "Destination: ts, qemu-7.2, qemu-10.0 or qemu:PATH.",
  },
  channels: { type: "string", value: "N", help: "Multifd channels, 1..255.", default: "2" },
  "ram-mib": { type: "string", value: "M", help: "Guest RAM in MiB.", default: "16" },
  seed: { type: "string", value: "S", help: "RAM pattern seed.", default: "1" },
  uuid: { type: "string", value: "UUID", help: "-uuid of both sides (8-4-4-4-12)." },
};

/** What {@linkcode migrationOptions} read. */
export interface MigrationChoice {
  readonly src: Implementation;
  readonly dst: Implementation;
  readonly channels: number;
  readonly ram: RamSpec;
  readonly uuid?: string;
}

const UUID = /^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/i;

/**
 * Reads {@linkcode MIGRATION_OPTIONS} (and `--density`, where the command has it); guest RAM up to
 * `maxMib`.
 *
 * @throws {UsageError} naming the first option that is missing or wrong.
 * @example
 * ```ts ignore
 * import { migrationOptions } from "./options.ts";
 * const choice = await migrationOptions({ src: "ts", dst: "qemu-10.0", channels: "2" }, 1024);
 * console.log(choice.dst.version);
 * ```
 */
export async function migrationOptions(
  values: Record<string, unknown>,
  maxMib: number,
): Promise<MigrationChoice> {
  const channels = channelsOption(values);
  const ram = ramOption(values, maxMib);
  const uuid = uuidOption(values);
  const { src, dst } = await implementationsOption(values);
  return { src, dst, channels, ram, ...(uuid !== undefined ? { uuid } : {}) };
}

/**
 * Resolves `--src` and `--dst`; a missing or unknown name is a {@linkcode UsageError} naming the
 * option.
 *
 * @example
 * ```ts ignore
 * import { implementationsOption } from "./options.ts";
 * const { src, dst } = await implementationsOption({ src: "qemu-7.2", dst: "ts" });
 * console.log(src.version, dst.name);
 * ```
 */
export async function implementationsOption(
  values: Record<string, unknown>,
): Promise<{ src: Implementation; dst: Implementation }> {
  const resolve = (name: "src" | "dst"): Promise<Implementation> => {
    const value = values[name];
    if (typeof value !== "string") throw new UsageError(`--${name} is required`);
    return resolveImplementation(value).catch((error) => {
      throw new UsageError(`--${name}: ${error instanceof Error ? error.message : error}`);
    });
  };
  const [src, dst] = await Promise.all([resolve("src"), resolve("dst")]);
  return { src, dst };
}

/**
 * Reads `--channels` (1..255).
 *
 * @example
 * ```ts
 * import { channelsOption } from "./options.ts";
 * console.log(channelsOption({ channels: "4" })); // 4
 * ```
 */
export function channelsOption(values: Record<string, unknown>): number {
  return intOption(values, "channels", 1, 255);
}

/**
 * `--prealloc`: every page of guest RAM resident before the migration starts
 * (`RamSpec.prealloc`, QEMU's `prealloc=on`). {@linkcode ramOption} reads it.
 */
export const PREALLOC_OPTION: OptionSpec = {
  type: "boolean",
  help: "Make every page of guest RAM resident before the migration starts (QEMU's prealloc=on).",
};

/**
 * Reads `--ram-mib` (1..`maxMib`), `--seed` and, where the command has them, `--density` (0..1)
 * and `--prealloc`.
 *
 * @example
 * ```ts
 * import { ramOption } from "./options.ts";
 * console.log(ramOption({ "ram-mib": "16", seed: "1", density: "0.5", prealloc: true }, 1024));
 * // { mib: 16, seed: 1, density: 0.5, prealloc: true }
 * ```
 */
export function ramOption(values: Record<string, unknown>, maxMib: number): RamSpec {
  const mib = intOption(values, "ram-mib", 1, maxMib);
  const seed = intOption(values, "seed", 0, 0xffff_ffff);
  const prealloc = values.prealloc === true ? { prealloc: true } : {};
  const raw = values.density;
  if (raw === undefined) return { mib, seed, ...prealloc };
  const density = Number(raw);
  if (!(density >= 0 && density <= 1)) {
    throw new UsageError(`--density must be a number in 0..1, got ${JSON.stringify(raw)}`);
  }
  return { mib, seed, density, ...prealloc };
}

/**
 * Reads `--uuid`: lower-case 8-4-4-4-12, or `undefined` when not given.
 *
 * @example
 * ```ts
 * import { uuidOption } from "./options.ts";
 * console.log(uuidOption({ uuid: "12345678-9ABC-DEF0-1122-334455667788" }));
 * // "12345678-9abc-def0-1122-334455667788"
 * ```
 */
export function uuidOption(values: Record<string, unknown>): string | undefined {
  const raw = values.uuid;
  if (raw === undefined) return undefined;
  if (typeof raw !== "string" || !UUID.test(raw)) {
    throw new UsageError(`--uuid must be 8-4-4-4-12 hex digits, got ${JSON.stringify(raw)}`);
  }
  return raw.toLowerCase();
}
