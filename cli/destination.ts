/**
 * `migwire destination --listen HOST:PORT --channels N …`: the TypeScript destination as a
 * standalone incoming peer. Prints one JSON object per line on stdout for every event and a final
 * `result` line; progress goes to stderr. Exit 0 when the migration completed, 1 when it failed
 * or was rejected, 2 when the tool itself failed.
 *
 * @module
 */

import { choiceOption, type Command, endpointOption, intOption, stringOption } from "./command.ts";
import { channelsOption, PREALLOC_OPTION, ramOption, uuidOption } from "./options.ts";
import { printEvent, tlsDirOption, wireVersionOption } from "./peer.ts";
import { runPeer } from "./peer_run.ts";
import { startTsDestination } from "../harness/ts/destination.ts";
import { MAX_RAM_MIB } from "../harness/ts/dst_ram_image.ts";

/** The `destination` command. */
export const destinationCommand: Command = {
  name: "destination",
  summary: "Receive one migration with the TypeScript destination and report its RAM digest",
  options: {
    listen: {
      type: "string",
      value: "HOST:PORT",
      help: "Where to listen (port 0: any).",
      default: "127.0.0.1:0",
    },
    channels: { type: "string", value: "N", help: "Multifd channels, 1..255." },
    uuid: { type: "string", value: "UUID", help: "This VM's UUID (QEMU -uuid); default zeros." },
    policy: {
      type: "string",
      value: "P",
      help: "Channel classification: peek-magic (QEMU >= 8.0) or arrival-order (QEMU 7.2).",
      default: "peek-magic",
    },
    "tls-dir": tlsDirOption("ca-cert.pem, server-cert.pem, server-key.pem"),
    "tls-eof": {
      type: "string",
      value: "strict|relaxed",
      help: "TLS channel ending without close_notify: an error, or accepted at a packet boundary.",
      default: "strict",
    },
    "tls-no-verify-peer": {
      type: "boolean",
      help: "Do not ask the source for a client certificate.",
    },
    "ram-mib": { type: "string", value: "M", help: "Guest RAM in MiB.", default: "16" },
    seed: {
      type: "string",
      value: "S",
      help: "Pattern seed the source's RAM was filled with (for the comparison).",
      default: "1",
    },
    density: {
      type: "string",
      value: "F",
      help: "Share of non-zero pages of that pattern, 0..1 (default: the pattern's default).",
    },
    prealloc: PREALLOC_OPTION,
    "no-verify-pattern": { type: "boolean", help: "Skip the comparison with the pattern." },
    "source-version": {
      type: "string",
      value: "V",
      help: "QEMU version the source speaks (7.2, 9.0, 10.0, ...).",
      default: "10.0",
    },
    "ram-out": { type: "string", value: "FILE", help: "Write the received RAM image to FILE." },
    "read-timeout-ms": {
      type: "string",
      value: "MS",
      help: "Bound of every read on a channel.",
      default: "30000",
    },
    "timeout-ms": {
      type: "string",
      value: "MS",
      help: "Bound of the whole run, including the wait for the source.",
      default: "600000",
    },
  },
  async run(values): Promise<number> {
    const listen = endpointOption("listen", String(values.listen));
    const channels = channelsOption(values);
    const ram = ramOption(values, MAX_RAM_MIB);
    const uuid = uuidOption(values);
    const readTimeoutMs = intOption(values, "read-timeout-ms", 1, 3_600_000);
    const timeoutMs = intOption(values, "timeout-ms", 1, 86_400_000);
    const policy = choiceOption(values, "policy", ["peek-magic", "arrival-order"] as const);
    const tlsEof = choiceOption(values, "tls-eof", ["strict", "relaxed"] as const);
    const sourceVersion = wireVersionOption("source-version", String(values["source-version"]));
    const tlsDir = stringOption(values, "tls-dir");

    return await runPeer({
      timeoutMs,
      start: (signal) =>
        startTsDestination({
          listen,
          channels,
          uuid,
          policy,
          sourceVersion,
          readTimeoutMs,
          acceptTimeoutMs: timeoutMs,
          ram,
          verifyPattern: values["no-verify-pattern"] !== true,
          ramOut: stringOption(values, "ram-out"),
          tls: tlsDir === undefined ? undefined : {
            dir: tlsDir,
            eof: tlsEof,
            verifyPeer: values["tls-no-verify-peer"] !== true,
          },
          signal,
          onEvent: printEvent,
        }),
      watch: (dst) => progressReporter(() => dst.bytesReceived),
      extra: (outcome) => {
        const pattern = outcome.evidence?.pattern as { matches?: boolean } | undefined;
        return pattern ? { patternMatches: pattern.matches } : {};
      },
    });
  },
};

/**
 * Prints bytes and throughput to stderr once a second while bytes move; returns what stops it.
 */
function progressReporter(bytes: () => number): () => void {
  const started = performance.now();
  let last = 0;
  const timer = setInterval(() => {
    const now = bytes();
    if (now === last) return;
    const seconds = (performance.now() - started) / 1000;
    const mib = now / (1024 * 1024);
    console.error(
      `received ${mib.toFixed(1)} MiB in ${seconds.toFixed(1)} s (${
        (now / 1e6 / seconds).toFixed(1)
      } MB/s)`,
    );
    last = now;
  }, 1000);
  return () => clearInterval(timer);
}
