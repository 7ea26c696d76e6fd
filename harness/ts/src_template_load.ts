/**
 * Finds the captured main stream a source of a given QEMU version replays: the recorded stream
 * under `fixtures/vectors/streams/`, else the main connection of a capture under
 * `fixtures/captures/`.
 *
 * @module
 */

import { WireError } from "../wire/errors.ts";
import { type MainTemplate, parseMainTemplate } from "./src_template.ts";

const FIXTURES = new URL("../../fixtures/", import.meta.url);

/** Feature releases with a recorded main stream. */
export const TEMPLATE_VERSIONS: readonly string[] = ["7.2", "10.0"];

const cache = new Map<string, Promise<MainTemplate>>();

/**
 * Candidate files for `version`, in the order they are tried: the recorded stream, then the main
 * connection of the plain two-channel capture (found through its manifest).
 *
 * @example
 * ```ts
 * import { templateCandidates } from "./src_template_load.ts";
 * console.log(templateCandidates("10.0").length); // 2
 * ```
 */
export function templateCandidates(version: string): URL[] {
  return [
    new URL(`vectors/streams/qemu-${version}-multifd2.bin`, FIXTURES),
    new URL(`captures/qemu-${version}-plain-2/manifest.json`, FIXTURES),
  ];
}

/**
 * Loads and parses the template for `version` (`major.minor`), or `override` (a path or bytes).
 *
 * @throws {WireError} `E_STREAM` when no template exists for the version or it does not parse.
 * @example
 * ```ts ignore
 * import { loadMainTemplate } from "./src_template_load.ts";
 * const template = await loadMainTemplate("10.0");
 * console.log(template.ramBlock); // "ram"
 * ```
 */
export function loadMainTemplate(
  version: string,
  override?: string | Uint8Array,
): Promise<MainTemplate> {
  if (override instanceof Uint8Array) return Promise.resolve(parseMainTemplate(override));
  const key = override ?? version;
  let loading = cache.get(key);
  if (!loading) {
    loading = load(version, override);
    cache.set(key, loading);
    loading.catch(() => cache.delete(key));
  }
  return loading;
}

async function load(version: string, override: string | undefined): Promise<MainTemplate> {
  const candidates = override ? [override] : templateCandidates(version);
  for (const candidate of candidates) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(await mainStreamOf(candidate));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound && !override) continue;
      throw new WireError("E_STREAM", `cannot read main-stream template: ${error}`, {
        field: "mainTemplate",
        received: String(candidate),
        cause: error,
      });
    }
    return parseMainTemplate(bytes);
  }
  throw new WireError("E_STREAM", `no recorded main stream for QEMU ${version}`, {
    field: "targetVersion",
    received: version,
    expected: `one of ${TEMPLATE_VERSIONS.join(", ")} (or pass mainTemplate)`,
  });
}

/** A capture manifest names its main connection's file; any other file is the stream itself. */
async function mainStreamOf(candidate: string | URL): Promise<string | URL> {
  if (!String(candidate).endsWith("manifest.json")) return candidate;
  const manifest = JSON.parse(await Deno.readTextFile(candidate)) as {
    connections?: { kind?: string; src?: { file?: string } }[];
  };
  const file = manifest.connections?.find((c) => c.kind === "main")?.src?.file;
  if (typeof file !== "string" || !/^[\w.-]+$/.test(file)) {
    throw new WireError("E_STREAM", "capture manifest names no main connection", {
      field: "connections[kind=main].src.file",
      received: String(candidate),
    });
  }
  if (candidate instanceof URL) return new URL(file, candidate);
  return candidate.slice(0, candidate.lastIndexOf("/") + 1) + file;
}
