/**
 * Where QEMU's guest RAM lives during the benchmark. The driver backs guest RAM with a file in
 * the temporary directory (`memory-backend-file,share=on`); on a disk-backed `/tmp` the
 * destination's writes then become page-cache writeback to disk, which a real guest's anonymous
 * RAM never pays. The benchmark points `TMPDIR` at a private directory on tmpfs (`/dev/shm`) for
 * its own run, so QEMU's RAM is memory like the TypeScript destination's.
 *
 * @module
 */

import { makeOwnedTempDir } from "../harness/owned_temp_dir.ts";

/** The tmpfs the benchmark prefers. */
export const TMPFS = "/dev/shm";

/** A temporary directory in use as `TMPDIR`; dispose it to restore `TMPDIR` and remove it. */
export interface RamDir extends AsyncDisposable {
  /** The directory, or the unchanged temporary directory when no tmpfs was usable. */
  readonly path: string;
  /** How the report describes it. */
  readonly description: string;
  /** `TMPDIR` as it was before, for child processes that should not inherit the change. */
  readonly previous: string | undefined;
}

/**
 * Makes a private directory on {@linkcode TMPFS} this process's `TMPDIR` (inherited by the
 * processes it starts) until disposed; leaves `TMPDIR` alone when there is no tmpfs.
 *
 * @example
 * ```ts ignore
 * import { useTmpfsForRam } from "./ram_dir.ts";
 * await using dir = await useTmpfsForRam();
 * console.log(dir.description);
 * ```
 */
export async function useTmpfsForRam(): Promise<RamDir> {
  const previous = Deno.env.get("TMPDIR");
  let path: string;
  try {
    if (!(await isTmpfs(TMPFS))) throw new Error(`${TMPFS} is not a tmpfs`);
    // Owned: a killed benchmark's guest RAM files are removed by the next one.
    path = await makeOwnedTempDir({ dir: TMPFS, prefix: "migwire-bench-" });
  } catch (error) {
    const where = previous ?? "/tmp";
    return {
      path: where,
      description: `files in ${where} (${(error as Error).message})`,
      previous,
      [Symbol.asyncDispose]: () => Promise.resolve(),
    };
  }
  Deno.env.set("TMPDIR", path);
  return {
    path,
    description: `files on tmpfs (${TMPFS})`,
    previous,
    [Symbol.asyncDispose]: async () => {
      if (previous === undefined) Deno.env.delete("TMPDIR");
      else Deno.env.set("TMPDIR", previous);
      await Deno.remove(path, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Whether `path` is a mount point of type tmpfs, according to `/proc/mounts`.
 *
 * @example
 * ```ts ignore
 * import { isTmpfs } from "./ram_dir.ts";
 * console.log(await isTmpfs("/dev/shm"));
 * ```
 */
export async function isTmpfs(path: string): Promise<boolean> {
  try {
    const mounts = await Deno.readTextFile("/proc/mounts");
    return mounts.split("\n").some((line) => {
      const [, mountPoint, type] = line.split(" ");
      return mountPoint === path && type === "tmpfs";
    });
  } catch {
    return false;
  }
}
