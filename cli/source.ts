/**
 * `migwire source --connect HOST:PORT --channels N …`: the TypeScript source as a standalone
 * outgoing peer. Prints one JSON object per line on stdout for every event and a final `result`
 * line; progress goes to stderr. Exit 0 when the migration completed, 1 when it failed or was
 * rejected, 2 when the tool itself failed.
 *
 * @module
 */

import {
  choiceOption,
  type Command,
  endpointOption,
  intOption,
  stringOption,
  UsageError,
} from "./command.ts";
import { channelsOption, PREALLOC_OPTION, ramOption, uuidOption } from "./options.ts";
import { printEvent, tlsDirOption, wireVersionOption } from "./peer.ts";
import { runPeer } from "./peer_run.ts";
import { startTsSource } from "../harness/ts/source.ts";
import type { ChannelSlot, ConnectionOrder, SourceEvent } from "../harness/ts/source_options.ts";
import { MAX_RAM_MIB } from "../harness/ts/dst_ram_image.ts";

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
    "tls-dir": tlsDirOption("ca-cert.pem, client-cert.pem, client-key.pem"),
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
    prealloc: {
      ...PREALLOC_OPTION,
      help: `${PREALLOC_OPTION.help} Always so here: the RAM is generated and hashed first.`,
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
    const channels = channelsOption(values);
    const timeoutMs = intOption(values, "timeout-ms", 1, 3_600_000);
    const uuid = uuidOption(values);
    const order = parseOrder(String(values.order), channels);
    const targetVersion = parseTarget(String(values.target));
    const tlsClose = choiceOption(values, "tls-close", ["clean", "abrupt"] as const);
    const ramFile = stringOption(values, "ram");
    const ram = ramFile === undefined
      ? ramOption(values, MAX_RAM_MIB)
      : { mib: await ramFileMib(ramFile), seed: 0 };
    const tlsDir = stringOption(values, "tls-dir");

    return await runPeer({
      timeoutMs: undefined,
      start: (signal) =>
        startTsSource({
          connect,
          channels,
          uuid,
          ram,
          ramFile,
          targetVersion,
          timeoutMs,
          tls: tlsDir === undefined ? undefined : {
            dir: tlsDir,
            hostname: stringOption(values, "tls-hostname"),
            close: tlsClose,
          },
          script: {
            order,
            stopAfterInit: values["stop-after-init"] === true,
          },
          signal,
          onEvent: (event) => report(event, ram.mib),
        }),
    });
  },
};

function report(event: SourceEvent, mib: number): void {
  if (event.event !== "progress") {
    printEvent(event);
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
  return wireVersionOption("target", raw === "ts" ? "10.0" : raw.replace(/^qemu-/, ""));
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
