/**
 * `migwire destination --listen HOST:PORT --channels N …`: the TypeScript destination as a
 * standalone incoming peer. Prints one JSON object per line on stdout for every event and a final
 * `result` line; progress goes to stderr. Exit 0 when the migration completed, 1 when it failed
 * or was rejected, 2 when the tool itself failed.
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
import { startTsDestination } from "../harness/ts/destination.ts";
import type { DestinationEvent } from "../harness/ts/dst_options.ts";
import { versionInfo } from "../harness/wire/versions.ts";

const UUID = /^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/i;

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
    "tls-dir": {
      type: "string",
      value: "D",
      help: "TLS with the x509 PKI in D (ca-cert.pem, server-cert.pem, server-key.pem).",
    },
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
    const channels = intOption(values, "channels", 1, 255);
    const mib = intOption(values, "ram-mib", 1, 65536);
    const seed = intOption(values, "seed", 0, 0xffff_ffff);
    const readTimeoutMs = intOption(values, "read-timeout-ms", 1, 3_600_000);
    const timeoutMs = intOption(values, "timeout-ms", 1, 86_400_000);
    const uuid = values.uuid === undefined ? undefined : String(values.uuid);
    if (uuid !== undefined && !UUID.test(uuid)) {
      throw new UsageError(`--uuid must be 8-4-4-4-12 hex digits, got ${JSON.stringify(uuid)}`);
    }
    const policy = String(values.policy);
    if (policy !== "peek-magic" && policy !== "arrival-order") {
      throw new UsageError(
        `--policy must be peek-magic or arrival-order, got ${JSON.stringify(policy)}`,
      );
    }
    const tlsEof = String(values["tls-eof"]);
    if (tlsEof !== "strict" && tlsEof !== "relaxed") {
      throw new UsageError(`--tls-eof must be strict or relaxed, got ${JSON.stringify(tlsEof)}`);
    }
    const sourceVersion = String(values["source-version"]);
    try {
      versionInfo(sourceVersion);
    } catch (error) {
      throw new UsageError(`--source-version: ${(error as Error).message}`);
    }
    let density: number | undefined;
    if (values.density !== undefined) {
      density = Number(values.density);
      if (!(density >= 0 && density <= 1)) {
        throw new UsageError(`--density must be a number in 0..1, got ${values.density}`);
      }
    }
    const tlsDir = values["tls-dir"] === undefined ? undefined : String(values["tls-dir"]);

    const controller = new AbortController();
    const stop = () => controller.abort(new Error("interrupted"));
    Deno.addSignalListener("SIGINT", stop);
    const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(timeoutMs)]);
    const print = (event: Record<string, unknown>) => console.log(JSON.stringify(event));
    try {
      await using dst = await startTsDestination({
        listen,
        channels,
        uuid: uuid?.toLowerCase(),
        policy,
        sourceVersion,
        readTimeoutMs,
        acceptTimeoutMs: timeoutMs,
        ram: { mib, seed, density },
        verifyPattern: values["no-verify-pattern"] !== true,
        ramOut: values["ram-out"] === undefined ? undefined : String(values["ram-out"]),
        tls: tlsDir === undefined ? undefined : {
          dir: tlsDir,
          eof: tlsEof,
          verifyPeer: values["tls-no-verify-peer"] !== true,
        },
        signal,
        onEvent: (event) => print(eventLine(event)),
      });
      const progress = progressReporter(() => dst.bytesReceived);
      try {
        const outcome = await dst.outcome();
        const pattern = outcome.evidence?.pattern as { matches?: boolean } | undefined;
        print({
          event: "result",
          status: outcome.status,
          ...(outcome.errorClass ? { class: outcome.errorClass } : {}),
          ramSha256: outcome.ramSha256 ?? null,
          ...(pattern ? { patternMatches: pattern.matches } : {}),
          bytes: outcome.bytes ?? 0,
          seconds: outcome.seconds ?? 0,
        });
        return outcome.status === "completed" ? EXIT_OK : EXIT_FAILED;
      } finally {
        progress.stop();
      }
    } finally {
      Deno.removeSignalListener("SIGINT", stop);
    }
  },
};

function eventLine(event: DestinationEvent): Record<string, unknown> {
  return { ...event };
}

/** Prints channels, bytes and throughput to stderr once a second while bytes move. */
function progressReporter(bytes: () => number): { stop(): void } {
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
  return { stop: () => clearInterval(timer) };
}
