/**
 * What the kernel grants each side's guest RAM in transparent huge pages, for the report: a
 * QEMU advises its RAM blocks and the TypeScript destination its RAM image, but a QEMU of the
 * benchmark keeps its RAM in a tmpfs file, where the mount's `huge=` option decides instead.
 *
 * @module
 */

import { transparentHugePages } from "../harness/ram/huge_pages.ts";

/** `/proc/mounts`, or nothing when it cannot be read. */
function readMounts(): string {
  try {
    return Deno.readTextFileSync("/proc/mounts");
  } catch {
    return "";
  }
}

/**
 * The `huge=` option of the mount that holds `path` in a `/proc/mounts` listing (`never` when the
 * mount has none, as tmpfs's default).
 *
 * @example
 * ```ts
 * import { tmpfsHugeOption } from "./huge_pages.ts";
 * const mounts = "tmpfs /dev/shm tmpfs rw,nosuid,nodev 0 0\n";
 * console.log(tmpfsHugeOption(mounts, "/dev/shm/migwire-bench-1")); // "never"
 * ```
 */
export function tmpfsHugeOption(mounts: string, path: string): string {
  let best: { point: string; options: string } | undefined;
  for (const line of mounts.split("\n")) {
    const [, point, type, options] = line.split(" ");
    if (type !== "tmpfs" || point === undefined || options === undefined) continue;
    const inside = path === point || path.startsWith(point.endsWith("/") ? point : `${point}/`);
    if (inside && (!best || point.length > best.point.length)) best = { point, options };
  }
  if (!best) return "not on tmpfs";
  return /(?:^|,)huge=(\w+)/.exec(best.options)?.[1] ?? "never";
}

/**
 * One sentence for the report on huge pages for guest RAM on this machine.
 *
 * @example
 * ```ts ignore
 * import { hugePagesNote } from "./huge_pages.ts";
 * console.log(hugePagesNote("/dev/shm/migwire-bench-1"));
 * ```
 */
export function hugePagesNote(qemuRamDir: string): string {
  const anon = transparentHugePages();
  const tmpfs = tmpfsHugeOption(readMounts(), qemuRamDir);
  return "a TypeScript destination advises its RAM image as transparent huge pages, as QEMU's " +
    "`ram_block_add` advises every RAM block (anonymous memory here: `" + anon + "`); a " +
    "TypeScript source does not (no faster in A/B runs). A QEMU of the benchmark keeps its RAM " +
    "in a file on tmpfs, where the mount's `huge=` option decides instead (here: `" + tmpfs +
    "`).";
}
