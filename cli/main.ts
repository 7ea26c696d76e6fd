/**
 * The `migwire` command line: `deno task migwire <command> [options]`.
 *
 * @module
 */

import { type Command, EXIT_USAGE, helpText, parseCommandArgs, UsageError } from "./command.ts";
import { commands } from "./commands.ts";

function overview(): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return [
    "migwire — conformance suite and harness for QEMU's multifd live-migration wire protocol",
    "",
    "Usage: deno task migwire <command> [options]",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    "",
    "Run `deno task migwire <command> --help` for a command's options.",
  ].join("\n");
}

/**
 * Runs the command line `args` and returns the exit code.
 *
 * @example
 * ```ts ignore
 * import { main } from "./main.ts";
 * Deno.exit(await main(["--help"]));
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(overview());
    return name === undefined ? EXIT_USAGE : 0;
  }
  const command: Command | undefined = commands.find((c) => c.name === name);
  if (!command) {
    console.error(`migwire: unknown command ${JSON.stringify(name)}\n\n${overview()}`);
    return EXIT_USAGE;
  }
  try {
    const { values, positionals, help } = parseCommandArgs(command, rest);
    if (help) {
      console.log(helpText(command));
      return 0;
    }
    return await command.run(values, positionals);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`migwire ${command.name}: ${error.message}\n\n${helpText(command)}`);
      return EXIT_USAGE;
    }
    console.error(`migwire ${command.name}: ${error instanceof Error ? error.stack : error}`);
    return EXIT_USAGE;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
