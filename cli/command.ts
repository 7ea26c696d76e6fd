/**
 * The shape of one `migwire` command and the argument parsing every command shares.
 *
 * @module
 */

import { parseArgs as parseNodeArgs } from "node:util";

/** Exit codes every command uses: 0 success, 1 the migration failed or was rejected, 2 the tool failed. */
export const EXIT_OK = 0;
/** The migration (or a case) failed, or was rejected. */
export const EXIT_FAILED = 1;
/** The tool itself failed: bad arguments, I/O. */
export const EXIT_USAGE = 2;

/** One option of a command, as `node:util.parseArgs` takes it, plus its help text. */
export interface OptionSpec {
  readonly type: "string" | "boolean";
  readonly multiple?: boolean;
  readonly short?: string;
  readonly default?: string | boolean;
  /** Placeholder shown in help, e.g. `HOST:PORT`. */
  readonly value?: string;
  readonly help: string;
}

/** A `migwire` command. */
export interface Command {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** Positional arguments, e.g. `<fixture|file>`. */
  readonly positionals?: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Runs the command with parsed values; returns the exit code. */
  run(
    values: Record<string, string | boolean | string[] | undefined>,
    positionals: string[],
  ): Promise<number>;
}

/** An error in the command line; reported with the command's usage and exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/**
 * Formats a command's `--help` text.
 *
 * @example
 * ```ts
 * import { helpText } from "./command.ts";
 * console.log(helpText({ name: "x", summary: "does x", options: {}, run: () => Promise.resolve(0) }));
 * ```
 */
export function helpText(command: Command): string {
  const lines = [
    `migwire ${command.name} — ${command.summary}`,
    "",
    `Usage: deno task migwire ${command.name} [options]${
      command.positionals ? ` ${command.positionals}` : ""
    }`,
    "",
    "Options:",
  ];
  const entries = Object.entries(command.options);
  const left = entries.map(([name, spec]) =>
    `  --${name}${spec.value ? ` ${spec.value}` : ""}${spec.short ? `, -${spec.short}` : ""}`
  );
  const width = Math.max(12, ...left.map((l) => l.length)) + 2;
  entries.forEach(([, spec], i) => {
    const suffix = spec.default !== undefined ? ` (default: ${spec.default})` : "";
    lines.push(`${left[i].padEnd(width)}${spec.help}${suffix}`);
  });
  lines.push(`${"  --help, -h".padEnd(width)}Show this help.`);
  return lines.join("\n");
}

/**
 * Parses `args` for `command`; unknown options and missing values are a {@linkcode UsageError}.
 *
 * @example
 * ```ts
 * import { parseCommandArgs } from "./command.ts";
 * const cmd = {
 *   name: "x",
 *   summary: "",
 *   options: { channels: { type: "string", help: "" } },
 *   run: () => Promise.resolve(0),
 * } as const;
 * console.log(parseCommandArgs(cmd, ["--channels", "2"]).values.channels); // "2"
 * ```
 */
export function parseCommandArgs(
  command: Command,
  args: string[],
): {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  help: boolean;
} {
  const options: Record<
    string,
    { type: "string" | "boolean"; multiple?: boolean; short?: string; default?: string | boolean }
  > = { help: { type: "boolean", short: "h" } };
  for (const [name, spec] of Object.entries(command.options)) {
    options[name] = {
      type: spec.type,
      ...(spec.multiple ? { multiple: true } : {}),
      ...(spec.short ? { short: spec.short } : {}),
      ...(spec.default !== undefined ? { default: spec.default } : {}),
    };
  }
  try {
    const { values, positionals } = parseNodeArgs({
      args,
      options,
      allowPositionals: true,
      strict: true,
    });
    const help = values.help === true;
    delete values.help;
    return {
      values: values as Record<string, string | boolean | string[] | undefined>,
      positionals,
      help,
    };
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * Reads an integer option in `min..max`, naming the option and value when it is not one.
 *
 * @example
 * ```ts
 * import { intOption } from "./command.ts";
 * console.log(intOption({ channels: "4" }, "channels", 1, 255, 2)); // 4
 * ```
 */
export function intOption(
  values: Record<string, unknown>,
  name: string,
  min: number,
  max: number,
  fallback?: number,
): number {
  const raw = values[name];
  if (raw === undefined) {
    if (fallback === undefined) throw new UsageError(`--${name} is required`);
    return fallback;
  }
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(
      `--${name} must be an integer in ${min}..${max}, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

/**
 * Reads an option that takes one of a few words, naming the option, the words and the value when
 * it is another.
 *
 * @example
 * ```ts
 * import { choiceOption } from "./command.ts";
 * console.log(choiceOption({ "tls-eof": "relaxed" }, "tls-eof", ["strict", "relaxed"] as const));
 * // "relaxed"
 * ```
 */
export function choiceOption<T extends string>(
  values: Record<string, unknown>,
  name: string,
  choices: readonly T[],
): T {
  const raw = values[name];
  if (!choices.includes(raw as T)) {
    throw new UsageError(`--${name} must be ${choices.join(" or ")}, got ${JSON.stringify(raw)}`);
  }
  return raw as T;
}

/**
 * Reads an optional string option: its value, or `undefined` when it was not given.
 *
 * @example
 * ```ts
 * import { stringOption } from "./command.ts";
 * console.log(stringOption({ "ram-out": "ram.bin" }, "ram-out")); // "ram.bin"
 * ```
 */
export function stringOption(values: Record<string, unknown>, name: string): string | undefined {
  const raw = values[name];
  return raw === undefined ? undefined : String(raw);
}

/**
 * Parses `HOST:PORT` (or `[v6]:PORT`), naming the option and value when malformed.
 *
 * @example
 * ```ts
 * import { endpointOption } from "./command.ts";
 * console.log(endpointOption("listen", "127.0.0.1:0")); // { hostname: "127.0.0.1", port: 0 }
 * ```
 */
export function endpointOption(name: string, raw: string): { hostname: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(raw);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new UsageError(`--${name} must be HOST:PORT, got ${JSON.stringify(raw)}`);
  }
  return { hostname: match[1] ?? match[2], port };
}
