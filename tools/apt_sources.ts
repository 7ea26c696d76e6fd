/**
 * Reads the machine's Debian apt sources and derives a private sources file for another suite of
 * the same archive (e.g. `bookworm-backports`), so no package host is ever written into the repo.
 *
 * @module
 */

/** One apt source: where from, which suites, and the keyring that signs it. */
export interface AptSource {
  readonly uris: readonly string[];
  readonly suites: readonly string[];
  readonly components: readonly string[];
  /** A keyring path or an inline key block, exactly as the machine's entry has it. */
  readonly signedBy?: string;
}

/**
 * Parses deb822 `.sources` text (`Types`, `URIs`, `Suites`, `Components`, `Signed-By`; folded
 * continuation lines; `Enabled: no` skipped). Only `deb` (binary) entries are returned.
 *
 * @example
 * ```ts
 * import { parseDeb822Sources } from "./apt_sources.ts";
 * const [source] = parseDeb822Sources("Types: deb\nURIs: http://mirror.test/debian\nSuites: bookworm\n");
 * console.log(source.suites); // ["bookworm"]
 * ```
 */
export function parseDeb822Sources(text: string): AptSource[] {
  const sources: AptSource[] = [];
  for (const stanza of text.split(/\n[ \t]*\n/)) {
    const fields = new Map<string, string>();
    let key: string | undefined;
    for (const line of stanza.split("\n")) {
      if (line.startsWith("#")) continue;
      if (/^[ \t]/.test(line) && key !== undefined) {
        const more = line.trim() === "." ? "" : line.trim();
        fields.set(key, `${fields.get(key)}\n${more}`);
        continue;
      }
      const match = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (!match) continue;
      key = match[1].toLowerCase();
      fields.set(key, match[2].trim());
    }
    const words = (name: string) => (fields.get(name) ?? "").split(/\s+/).filter(Boolean);
    if (!words("types").includes("deb")) continue;
    if (/^(no|false|0)$/i.test(fields.get("enabled") ?? "")) continue;
    const signedBy = fields.get("signed-by")?.trim();
    sources.push({
      uris: words("uris"),
      suites: words("suites"),
      components: words("components"),
      signedBy: signedBy || undefined,
    });
  }
  return sources;
}

/**
 * Parses one-line `sources.list` text: `deb [options] URI suite component…`.
 *
 * @example
 * ```ts
 * import { parseOneLineSources } from "./apt_sources.ts";
 * const [source] = parseOneLineSources("deb [signed-by=/k.gpg] http://mirror.test/debian bookworm main");
 * console.log(source.signedBy); // "/k.gpg"
 * ```
 */
export function parseOneLineSources(text: string): AptSource[] {
  const sources: AptSource[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    const match = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s*(.*)$/.exec(line);
    if (!match) continue;
    const options = new Map(
      (match[1] ?? "").split(/\s+/).filter(Boolean).map((option) => {
        const at = option.indexOf("=");
        return [option.slice(0, at).toLowerCase(), option.slice(at + 1)] as const;
      }),
    );
    sources.push({
      uris: [match[2]],
      suites: [match[3]],
      components: match[4].split(/\s+/).filter(Boolean),
      signedBy: options.get("signed-by"),
    });
  }
  return sources;
}

/**
 * Writes a deb822 sources text for `targetSuite` that copies the URIs and keyring of every
 * source whose suites include `baseSuite`. Returns `undefined` when none does.
 *
 * @example
 * ```ts
 * import { derivedSources } from "./apt_sources.ts";
 * const text = derivedSources(
 *   [{ uris: ["http://mirror.test/debian"], suites: ["bookworm"], components: ["main"] }],
 *   "bookworm",
 *   "bookworm-backports",
 * );
 * console.log(text?.includes("Suites: bookworm-backports")); // true
 * ```
 */
export function derivedSources(
  sources: readonly AptSource[],
  baseSuite: string,
  targetSuite: string,
): string | undefined {
  const seen = new Set<string>();
  const stanzas: string[] = [];
  for (const source of sources) {
    if (!source.suites.includes(baseSuite)) continue;
    const uris = source.uris.filter((uri) => !seen.has(uri));
    if (uris.length === 0) continue;
    uris.forEach((uri) => seen.add(uri));
    const lines = ["Types: deb", `URIs: ${uris.join(" ")}`, `Suites: ${targetSuite}`];
    lines.push("Components: main");
    if (source.signedBy !== undefined) {
      const keyLines = source.signedBy.split("\n");
      if (keyLines.length === 1) lines.push(`Signed-By: ${source.signedBy}`);
      else lines.push("Signed-By:", ...keyLines.map((line) => ` ${line === "" ? "." : line}`));
    }
    stanzas.push(lines.join("\n"));
  }
  return stanzas.length > 0 ? `${stanzas.join("\n\n")}\n` : undefined;
}

/**
 * Reads every apt source of this machine: `/etc/apt/sources.list.d/*.sources` (deb822),
 * `/etc/apt/sources.list.d/*.list` and `/etc/apt/sources.list` (one-line).
 *
 * @example
 * ```ts ignore
 * import { readMachineSources } from "./apt_sources.ts";
 * console.log(await readMachineSources());
 * ```
 */
export async function readMachineSources(etc = "/etc/apt"): Promise<AptSource[]> {
  const sources: AptSource[] = [];
  const readText = async (path: string) => {
    try {
      return await Deno.readTextFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return "";
      throw error;
    }
  };
  sources.push(...parseOneLineSources(await readText(`${etc}/sources.list`)));
  let names: string[] = [];
  try {
    for await (const entry of Deno.readDir(`${etc}/sources.list.d`)) names.push(entry.name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  names = names.sort();
  for (const name of names) {
    const path = `${etc}/sources.list.d/${name}`;
    if (name.endsWith(".sources")) sources.push(...parseDeb822Sources(await readText(path)));
    if (name.endsWith(".list")) sources.push(...parseOneLineSources(await readText(path)));
  }
  return sources;
}
