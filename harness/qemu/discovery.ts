/**
 * Finds the QEMU binaries the suite can run: the system one, those provisioned under
 * `.cache/qemu/`, and any named by `MIGWIRE_QEMU`, `QTEST_QEMU_BINARY_SRC` or
 * `QTEST_QEMU_BINARY_DST`. Each is probed with `--version` and named `qemu-<major>.<minor>`.
 *
 * @module
 */

/** A QEMU version as `--version` prints it. */
export interface QemuVersionParts {
  /** Major version, e.g. 10. */
  readonly major: number;
  /** Minor version, e.g. 0. */
  readonly minor: number;
  /** Micro (stable) version, e.g. 2. */
  readonly micro: number;
}

/** One usable QEMU binary. */
export interface QemuBinary extends QemuVersionParts {
  /** `qemu-<major>.<minor>`, or `qemu:<path>` when another binary already has that name. */
  readonly name: string;
  /** `major.minor.micro`, e.g. `10.0.2`. */
  readonly version: string;
  /** Absolute path of the binary. */
  readonly path: string;
  /** The packaging note in parentheses, e.g. `Debian 1:7.2+dfsg-7+deb12u18+b3`. */
  readonly package?: string;
}

/** Where discovery looks, in order. */
export interface DiscoveryOptions {
  /** Environment to read (`MIGWIRE_QEMU`, `QTEST_QEMU_BINARY_SRC`, `QTEST_QEMU_BINARY_DST`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Default locations; the system binary and `.cache/qemu/<dir>/usr/bin/qemu-system-x86_64`. */
  readonly defaults?: readonly string[];
  /** Bounds the probes. */
  readonly signal?: AbortSignal;
}

/** The system QEMU (Debian's `qemu-system-x86`). */
export const SYSTEM_QEMU = "/usr/bin/qemu-system-x86_64";

/** Where `deno task setup` unpacks provisioned QEMU builds, one directory per version. */
export const QEMU_CACHE: string = new URL("../../.cache/qemu", import.meta.url).pathname;

const PROBE_TIMEOUT_MS = 10_000;

/**
 * Parses the first line of `qemu-system-* --version`.
 *
 * @example
 * ```ts
 * import { parseQemuVersion } from "./discovery.ts";
 * const v = parseQemuVersion("QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2)");
 * console.log(v?.minor, v?.package); // 0 "Debian 1:10.0.2+ds-2"
 * ```
 */
export function parseQemuVersion(
  text: string,
): (QemuVersionParts & { readonly package?: string }) | undefined {
  const match = /QEMU emulator version (\d+)\.(\d+)\.(\d+)(?:\s*\(([^)]*)\))?/.exec(text);
  if (!match) return undefined;
  return {
    major: Number(match[1]),
    minor: Number(match[2]),
    micro: Number(match[3]),
    package: match[4] || undefined,
  };
}

/**
 * Compares two versions by major, minor, micro: negative, zero or positive.
 *
 * @example
 * ```ts
 * import { compareVersionParts } from "./discovery.ts";
 * console.log(compareVersionParts({ major: 7, minor: 2, micro: 0 }, { major: 10, minor: 0, micro: 0 }) < 0);
 * ```
 */
export function compareVersionParts(a: QemuVersionParts, b: QemuVersionParts): number {
  return a.major - b.major || a.minor - b.minor || a.micro - b.micro;
}

/**
 * Runs `<path> --version` and describes the binary. Throws when it is missing, does not run or
 * prints no QEMU version.
 *
 * @example
 * ```ts ignore
 * import { probeQemu } from "./discovery.ts";
 * console.log((await probeQemu("/usr/bin/qemu-system-x86_64")).name); // "qemu-7.2"
 * ```
 */
export async function probeQemu(path: string, signal?: AbortSignal): Promise<QemuBinary> {
  const absolute = await Deno.realPath(path);
  const timeout = AbortSignal.timeout(PROBE_TIMEOUT_MS);
  const output = await new Deno.Command(absolute, {
    args: ["--version"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  const version = parseQemuVersion(text);
  if (!output.success || !version) {
    const stderr = new TextDecoder().decode(output.stderr).trim();
    throw new Error(`${path} --version: no QEMU version (exit ${output.code}) ${stderr}`.trim());
  }
  const { major, minor, micro } = version;
  return {
    name: `qemu-${major}.${minor}`,
    version: `${major}.${minor}.${micro}`,
    major,
    minor,
    micro,
    path: absolute,
    package: version.package,
  };
}

/**
 * Lists the default locations: the system binary and every provisioned build under
 * {@linkcode QEMU_CACHE}.
 *
 * @example
 * ```ts
 * import { defaultQemuPaths } from "./discovery.ts";
 * console.log(await defaultQemuPaths());
 * ```
 */
export async function defaultQemuPaths(): Promise<string[]> {
  const paths = [SYSTEM_QEMU];
  try {
    const dirs: string[] = [];
    for await (const entry of Deno.readDir(QEMU_CACHE)) {
      if (entry.isDirectory && !entry.name.startsWith(".")) dirs.push(entry.name);
    }
    for (const dir of dirs.sort()) paths.push(`${QEMU_CACHE}/${dir}/usr/bin/qemu-system-x86_64`);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  return paths;
}

/** The paths named by the environment, in order: `MIGWIRE_QEMU` (colon-separated), QTEST's. */
function environmentPaths(env: Readonly<Record<string, string | undefined>>): string[] {
  const paths = (env.MIGWIRE_QEMU ?? "").split(":").filter(Boolean);
  for (const key of ["QTEST_QEMU_BINARY_SRC", "QTEST_QEMU_BINARY_DST"]) {
    const value = env[key];
    if (value) paths.push(value);
  }
  return paths;
}

/**
 * Finds every usable QEMU binary, sorted by version. Paths from the environment come first, so a
 * binary named there wins its `qemu-<major>.<minor>` name; a later binary of the same name is
 * named `qemu:<path>`. The same file reached by two paths is listed once. Paths that do not run
 * are skipped, except those named in the environment, which are an error.
 *
 * @example
 * ```ts ignore
 * import { discoverQemu } from "./discovery.ts";
 * for (const qemu of await discoverQemu()) console.log(qemu.name, qemu.version, qemu.path);
 * ```
 */
export async function discoverQemu(options: DiscoveryOptions = {}): Promise<QemuBinary[]> {
  const env = options.env ?? Deno.env.toObject();
  const explicit = environmentPaths(env);
  const defaults = options.defaults ?? await defaultQemuPaths();
  const probed = await Promise.all([
    ...explicit.map((path) => probeQemu(path, options.signal)),
    ...defaults.map((path) => probeQemu(path, options.signal).catch(() => undefined)),
  ]);

  const byPath = new Set<string>();
  const names = new Set<string>();
  const found: QemuBinary[] = [];
  for (const binary of probed) {
    if (!binary || byPath.has(binary.path)) continue;
    byPath.add(binary.path);
    const name = names.has(binary.name) ? `qemu:${binary.path}` : binary.name;
    names.add(name);
    found.push({ ...binary, name });
  }
  return found.sort((a, b) => compareVersionParts(a, b) || a.name.localeCompare(b.name));
}

let cached: Promise<QemuBinary[]> | undefined;

/**
 * {@linkcode discoverQemu} with the process environment, probed once per process.
 *
 * @example
 * ```ts ignore
 * import { discoveredQemu } from "./discovery.ts";
 * console.log((await discoveredQemu()).map((q) => q.name)); // ["qemu-7.2", "qemu-10.0"]
 * ```
 */
export function discoveredQemu(): Promise<QemuBinary[]> {
  cached ??= discoverQemu();
  cached.catch(() => cached = undefined);
  return cached;
}

/**
 * Resolves an implementation name to a binary: `qemu-7.2` / `qemu-10.0` (a discovered binary of
 * that major.minor), `qemu-10.0.2` (exact version), or `qemu:/path` (that file, probed).
 *
 * @example
 * ```ts ignore
 * import { resolveQemu } from "./discovery.ts";
 * const qemu = await resolveQemu("qemu-10.0");
 * console.log(qemu.path);
 * ```
 */
export async function resolveQemu(
  name: string,
  options: DiscoveryOptions = {},
): Promise<QemuBinary> {
  if (name.startsWith("qemu:")) {
    const path = name.slice("qemu:".length);
    const binary = await probeQemu(path, options.signal);
    return { ...binary, name };
  }
  const match = /^qemu-(\d+)\.(\d+)(?:\.(\d+))?$/.exec(name);
  if (!match) {
    throw new Error(`unknown QEMU name '${name}': expected qemu-<major>.<minor> or qemu:<path>`);
  }
  const all = options.env || options.defaults
    ? await discoverQemu(options)
    : await discoveredQemu();
  const found = all.find((binary) => binary.name === name) ??
    all.find((binary) =>
      binary.major === Number(match[1]) && binary.minor === Number(match[2]) &&
      (match[3] === undefined || binary.micro === Number(match[3]))
    );
  if (!found) {
    const have = all.map((binary) => `${binary.name} (${binary.version})`).join(", ") || "none";
    throw new Error(`no QEMU binary for '${name}'; found: ${have}. Run 'deno task setup'.`);
  }
  return found;
}
