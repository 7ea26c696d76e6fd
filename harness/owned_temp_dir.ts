/**
 * Temporary directories marked with the pid of the process that made them. A harness that is
 * killed cannot remove its directories (a QEMU's guest RAM file, the benchmark's tmpfs directory);
 * the kernel ends its QEMUs (`exit_with_parent.ts`), and the next harness on the machine removes
 * the directories of the same prefix whose owner is gone, so a killed benchmark does not leave
 * gigabytes in tmpfs.
 *
 * @module
 */

const OWNER_FILE = "owner.pid";

const swept = new Map<string, Promise<string[]>>();

/** Where and how to name an owned temporary directory. */
export interface OwnedTempDirOptions {
  /** Name prefix, e.g. `migwire-qemu-`; the sweep removes only directories with this prefix. */
  readonly prefix: string;
  /** Parent directory; the temporary directory (`TMPDIR`) when absent. */
  readonly dir?: string;
}

/**
 * Makes a temporary directory marked with this process's pid. The first call of a process for a
 * parent and prefix also sweeps them ({@linkcode sweepStaleDirs}).
 *
 * @example
 * ```ts ignore
 * const dir = await makeOwnedTempDir({ prefix: "migwire-qemu-" });
 * ```
 */
export async function makeOwnedTempDir(options: OwnedTempDirOptions): Promise<string> {
  const dir = await Deno.makeTempDir(options);
  await Deno.writeTextFile(`${dir}/${OWNER_FILE}`, `${Deno.pid}\n`);
  const parent = dir.slice(0, dir.lastIndexOf("/")) || "/";
  const key = `${parent}\0${options.prefix}`;
  if (!swept.has(key)) swept.set(key, sweepStaleDirs(parent, options.prefix).catch(() => []));
  await swept.get(key);
  return dir;
}

/**
 * Removes the directories in `parent` named `prefix…` whose owner process no longer runs; returns
 * their paths. A directory without an owner mark is kept, and nothing is removed where `/proc`
 * cannot tell which processes run.
 *
 * @example
 * ```ts ignore
 * console.log(await sweepStaleDirs("/tmp", "migwire-qemu-")); // e.g. ["/tmp/migwire-qemu-1a2b3c"]
 * ```
 */
export async function sweepStaleDirs(parent: string, prefix: string): Promise<string[]> {
  if (!exists("/proc/self")) return [];
  const removed: string[] = [];
  for await (const entry of Deno.readDir(parent)) {
    if (!entry.isDirectory || !entry.name.startsWith(prefix)) continue;
    const dir = `${parent}/${entry.name}`;
    let owner: number;
    try {
      owner = Number((await Deno.readTextFile(`${dir}/${OWNER_FILE}`)).trim());
    } catch {
      continue; // Not marked (or not ours to read): keep it.
    }
    if (!Number.isInteger(owner) || owner <= 0 || exists(`/proc/${owner}`)) continue;
    try {
      await Deno.remove(dir, { recursive: true });
      removed.push(dir);
    } catch {
      // Removed by another harness meanwhile, or not ours to remove.
    }
  }
  return removed;
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
