/**
 * `migwire source --connect HOST:PORT --channels N …`: the TypeScript source as a standalone
 * outgoing peer. Prints one JSON object per line on stdout for every event and a final `result`
 * line; progress goes to stderr. Exit 0 when the migration completed, 1 when it failed or was
 * rejected, 2 when the tool itself failed.
 *
 * @module
 */

import {
  type Command,
  endpointOption,
  EXIT_FAILED,
  EXIT_OK,
  intOption,
  UsageError,
} from "./command.ts";
import { startTsSource } from "../harness/ts/source.ts";
import type { ChannelSlot, ConnectionOrder, SourceEvent } from "../harness/ts/source_options.ts";
import { versionInfo } from "../harness/wire/versions.ts";

const UUID = /^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/i;
const MIB = 1024 * 1024;

/** The `source` command. */
export const sourceCommand: Command = {
  name: "source",
  summary: "Send one migration with the TypeScript source and report its RAM digest",
  options: {
    connect: { type: "string", value: "HOST:PORT", help: "The destination to migrate to." },
    channels: { type: "string", value: "N", help: "Multifd channels, 1..255." },
    uuid: { type: "string", value: "UUID", help: "The VM's UUID (QEMU -uuid); default zeros." },
    order: {
      type: "string",
      value: "O",
      help: "Connection order: main-first, main-last, or a list such as main,1,0.",
      default: "main-first",
    },
    "tls-dir": {
      type: "string",
      value: "D",
      help: "TLS with the x509 PKI in D (ca-cert.pem, client-cert.pem, client-key.pem).",
    },
    "tls-hostname": {
      type: "string",
      value: "H",
      help: "Name to check the destination's certificate against (the connect host or localhost).",
    },
    "tls-close": {
      type: "string",
      value: "clean|abrupt",
      help: "End every channel with close_notify (QEMU >= 10.0), or without it.",
      default: "clean",
    },
    ram: { type: "string", value: "FILE", help: "Send this RAM image (a whole number of MiB)." },
    "ram-mib": { type: "string", value: "M", help: "Pattern RAM size in MiB.", default: "16" },
    seed: { type: "string", value: "S", help: "Pattern seed.", default: "1" },
    density: {
      type: "string",
      value: "F",
      help: "Share of non-zero pages of the pattern, 0..1 (default: the pattern's default).",
    },
    target: {
      type: "string",
      value: "T",
      help: "Wire format to speak: qemu-7.2, qemu-10.0 (or qemu-X.Y), ts.",
      default: "ts",
    },
    "stop-after-init": {
      type: "boolean",
      help: "Send only the main header and the init packets, then wait for the destination.",
    },
    "timeout-ms": {
      type: "string",
      value: "MS",
      help: "Bound of every single wait (connect, handshake, write).",
      default: "30000",
    },
  },
  async run(values): Promise<number> {
    const connect = endpointOption("connect", requireString(values, "connect"));
    const channels = intOption(values, "channels", 1, 255);
    const timeoutMs = intOption(values, "timeout-ms", 1, 3_600_000);
    const uuid = values.uuid === undefined ? undefined : String(values.uuid);
    if (uuid !== undefined && !UUID.test(uuid)) {
      throw new UsageError(`--uuid must be 8-4-4-4-12 hex digits, got ${JSON.stringify(uuid)}`);
    }
    const order = parseOrder(String(values.order), channels);
    const targetVersion = parseTarget(String(values.target));
    const tlsClose = String(values["tls-close"]);
    if (tlsClose !== "clean" && tlsClose !== "abrupt") {
      throw new UsageError(`--tls-close must be clean or abrupt, got ${JSON.stringify(tlsClose)}`);
    }
    const ramFile = values.ram === undefined ? undefined : String(values.ram);
    const ram = ramFile === undefined
      ? {
        mib: intOption(values, "ram-mib", 1, 65536),
        seed: intOption(values, "seed", 0, 0xffff_ffff),
        density: parseDensity(values.density),
      }
      : { mib: await ramFileMib(ramFile), seed: 0 };
    const tlsDir = values["tls-dir"] === undefined ? undefined : String(values["tls-dir"]);

    const controller = new AbortController();
    const stop = () => controller.abort(new Error("interrupted"));
    Deno.addSignalListener("SIGINT", stop);
    const print = (event: Record<string, unknown>) => console.log(JSON.stringify(event));
    try {
      await using source = await startTsSource({
        connect,
        channels,
        uuid: uuid?.toLowerCase(),
        ram,
        ramFile,
        targetVersion,
        timeoutMs,
        tls: tlsDir === undefined ? undefined : {
          dir: tlsDir,
          hostname: values["tls-hostname"] === undefined
            ? undefined
            : String(values["tls-hostname"]),
          close: tlsClose,
        },
        script: {
          order,
          stopAfterInit: values["stop-after-init"] === true,
        },
        signal: controller.signal,
        onEvent: (event) => report(event, print, ram.mib),
      });
      const outcome = await source.outcome();
      print({
        event: "result",
        status: outcome.status === "completed" ? "completed" : "failed",
        ...(outcome.errorClass ? { class: outcome.errorClass } : {}),
        ...(outcome.message ? { message: outcome.message } : {}),
        ramSha256: outcome.ramSha256 ?? null,
        bytes: outcome.bytes ?? 0,
        seconds: outcome.seconds ?? 0,
      });
      return outcome.status === "completed" ? EXIT_OK : EXIT_FAILED;
    } finally {
      Deno.removeSignalListener("SIGINT", stop);
    }
  },
};

function report(
  event: SourceEvent,
  print: (event: Record<string, unknown>) => void,
  mib: number,
): void {
  if (event.event !== "progress") {
    print({ ...event });
    return;
  }
  const share = Math.min(100, (event.pages * 4096 * 100) / (mib * MIB));
  console.error(
    `sent ${(event.bytes / MIB).toFixed(1)} MiB, ${share.toFixed(0)}% of the guest RAM scanned`,
  );
}

function requireString(values: Record<string, unknown>, name: string): string {
  const value = values[name];
  if (typeof value !== "string") throw new UsageError(`--${name} is required`);
  return value;
}

/**
 * Parses `--order`: `main-first`, `main-last` or a comma list of `main` and channel slots.
 *
 * @example
 * ```ts
 * import { parseOrder } from "./source.ts";
 * console.log(parseOrder("main,1,0", 2)); // ["main", 1, 0]
 * ```
 */
export function parseOrder(raw: string, channels: number): ConnectionOrder {
  if (raw === "main-first" || raw === "main-last") return raw;
  const slots: ChannelSlot[] = raw.split(",").map((part) => {
    const text = part.trim();
    if (text === "main") return "main";
    const slot = Number(text);
    if (text === "" || !Number.isInteger(slot) || slot < 0 || slot >= channels) {
      throw new UsageError(
        `--order: ${JSON.stringify(text)} is neither main nor a channel 0..${channels - 1}`,
      );
    }
    return slot;
  });
  if (new Set(slots).size !== slots.length) {
    throw new UsageError(`--order lists a channel twice: ${JSON.stringify(raw)}`);
  }
  return slots;
}

/**
 * Parses `--target`: `ts` (QEMU 10.0's format), `qemu-X.Y`, or a bare version.
 *
 * @example
 * ```ts
 * import { parseTarget } from "./source.ts";
 * console.log(parseTarget("qemu-7.2")); // "7.2"
 * ```
 */
export function parseTarget(raw: string): string {
  const version = raw === "ts" ? "10.0" : raw.replace(/^qemu-/, "");
  try {
    versionInfo(version);
  } catch (error) {
    throw new UsageError(`--target: ${(error as Error).message}`);
  }
  return version;
}

function parseDensity(raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  const density = Number(raw);
  if (!(density >= 0 && density <= 1)) {
    throw new UsageError(`--density must be a number in 0..1, got ${raw}`);
  }
  return density;
}

async function ramFileMib(file: string): Promise<number> {
  let size: number;
  try {
    size = (await Deno.stat(file)).size;
  } catch (error) {
    throw new UsageError(`--ram: cannot read ${file}: ${(error as Error).message}`);
  }
  if (size === 0 || size % MIB !== 0) {
    throw new UsageError(`--ram: ${file} is ${size} bytes, not a whole number of MiB`);
  }
  return size / MIB;
}
