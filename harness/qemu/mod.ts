/**
 * Real QEMU binaries as implementations under test.
 *
 * - `discovery.ts`: finds binaries (system, `.cache/qemu/*`, `MIGWIRE_QEMU`,
 *   `QTEST_QEMU_BINARY_SRC`/`_DST`) and resolves names such as `qemu-7.2`, `qemu-10.0`,
 *   `qemu:/path`.
 * - `qmp.ts`: a QMP client over a unix socket with typed errors, events and timeouts.
 * - `process.ts`: a guest-less `-M none` QEMU in a private temp dir, RAM in a shared file, killed
 *   and reaped on dispose; a registry of what was started.
 * - `knobs.ts`: the cross-version knobs (spec §7), derived from `harness/wire/versions.ts`.
 * - `migration.ts`: capabilities, parameters and waiting for the end of a migration.
 * - `implementation.ts`: `qemuImplementation(binary)`, the QEMU driver behind the
 *   `Implementation` interface.
 *
 * @example Migrate from every discovered QEMU to every other
 * ```ts ignore
 * import { qemuImplementations } from "./mod.ts";
 * const all = await qemuImplementations();
 * for (const src of all) {
 *   for (const dst of all) {
 *     const ram = { mib: 16, seed: 1 };
 *     await using d = await dst.destination({ channels: 2, ram, peer: src });
 *     await using s = await src.source({ channels: 2, ram, connect: d.endpoint, peer: dst });
 *     console.log(src.name, dst.name, (await d.outcome()).status, (await s.outcome()).status);
 *   }
 * }
 * ```
 *
 * @module
 */

export * from "./discovery.ts";
export * from "./qmp.ts";
export * from "./process.ts";
export * from "./knobs.ts";
export * from "./migration.ts";
export * from "./implementation.ts";
