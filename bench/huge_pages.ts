/**
 * What the kernel grants each side's guest RAM in transparent huge pages, for the report: a
 * QEMU advises its RAM blocks and the TypeScript destination its RAM image, but a QEMU of the
 * benchmark keeps its RAM in a tmpfs file, where the mount's `huge=` option decides instead.
 *
 * @module
 */

/** Reads a file, or `undefined` when it cannot be read. */
function readText(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

/**
 * The selected value of a sysfs setting such as `always [madvise] never`.
 *
 * @example
 * ```ts
 * import { selectedSetting } from "./huge_pages.ts";
 * console.log(selectedSetting("always [madvise] never")); // "madvise"
 * ```
 */
export function selectedSetting(text: string | undefined): string {
  return /\[([\w+]+)\]/.exec(text ?? "")?.[1] ?? "unknown";
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
  const anon = selectedSetting(readText("/sys/kernel/mm/transparent_hugepage/enabled"));
  const tmpfs = tmpfsHugeOption(readText("/proc/mounts") ?? "", qemuRamDir);
  return "a TypeScript destination advises its RAM image as transparent huge pages, as QEMU's " +
    "`ram_block_add` advises every RAM block (anonymous memory here: `" + anon + "`); a " +
    "TypeScript source does not (no faster in A/B runs). A QEMU of the benchmark keeps its RAM " +
    "in a file on tmpfs, where the mount's `huge=` option decides instead (here: `" + tmpfs +
    "`).";
}
