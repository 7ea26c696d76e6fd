/**
 * Child processes that end with the harness: a QEMU or a TypeScript peer is started through
 * util-linux's `setpriv --pdeathsig KILL`, so the kernel kills it when the harness dies, even by
 * `SIGKILL` or a CI job's timeout, where no cleanup code of ours runs. `setpriv` executes the
 * command in its own place, so the child's pid is the command's.
 *
 * The signal comes when the thread that started the child ends (`prctl(PR_SET_PDEATHSIG)`);
 * Deno starts children from the JavaScript thread that asks, so start them from the main thread,
 * or from a Worker that outlives them.
 *
 * @module
 */

const SETPRIV = "setpriv";

let setprivPath: string | null | undefined;

/** Where `setpriv` is on `PATH`, or `null` (not Linux, not installed, no permission to look). */
function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  if (Deno.build.os !== "linux") return null;
  let dirs: string[];
  try {
    dirs = (Deno.env.get("PATH") ?? "").split(":").filter(Boolean);
  } catch {
    return null; // No permission to read the environment.
  }
  for (const dir of dirs) {
    try {
      if (Deno.statSync(`${dir}/${SETPRIV}`).isFile) return setprivPath = `${dir}/${SETPRIV}`;
    } catch {
      // Not in this directory, or no permission to look.
    }
  }
  return setprivPath;
}

/** A command line to give `Deno.Command`. */
export interface CommandLine {
  readonly command: string;
  readonly args: readonly string[];
}

/**
 * The command line that runs `command` with `args` and ends it with `SIGKILL` when the calling
 * thread ends; `command` itself unchanged where `setpriv` is missing.
 *
 * @example
 * ```ts
 * import { exitWithParent } from "./exit_with_parent.ts";
 * const line = exitWithParent("sleep", ["60"]);
 * console.log(line.args.at(-1)); // 60
 * ```
 */
export function exitWithParent(command: string, args: readonly string[]): CommandLine {
  const setpriv = findSetpriv();
  if (!setpriv) return { command, args };
  return { command: setpriv, args: ["--pdeathsig", "KILL", "--", command, ...args] };
}
