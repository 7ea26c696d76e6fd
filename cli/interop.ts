/**
 * `migwire interop --src <impl> --dst <impl> [--channels N] [--tls] [--ram-mib M]`: one migration
 * between two implementations, judged by the destination's RAM digest. Prints JSON event lines;
 * exit 0 when it completed with matching digests, 1 when not, 2 for tool errors.
 *
 * @module
 */

import { type Command, EXIT_FAILED, EXIT_OK, intOption } from "./command.ts";
import { MIGRATION_OPTIONS, migrationOptions } from "./options.ts";
import { type InteropEvent, runInterop } from "../harness/interop.ts";

/** The `interop` command. */
export const interopCommand: Command = {
  name: "interop",
  summary: "Migrate between two implementations and compare the destination RAM with the pattern",
  options: {
    ...MIGRATION_OPTIONS,
    tls: { type: "boolean", help: "TLS on every channel with the test PKI (fixtures/pki/good)." },
    "timeout-ms": {
      type: "string",
      value: "MS",
      help: "Bound of the whole run.",
      default: "60000",
    },
  },
  async run(values): Promise<number> {
    const { src, dst, channels, ram, uuid } = await migrationOptions(values, 4096);
    const timeoutMs = intOption(values, "timeout-ms", 1, 3_600_000);
    const result = await runInterop({
      src,
      dst,
      channels,
      tls: values.tls === true,
      ram,
      uuid,
      timeoutMs,
      onEvent: (event) =>
        console.log(JSON.stringify(event.event === "outcome" ? brief(event) : event)),
    });
    return result.status === "completed" ? EXIT_OK : EXIT_FAILED;
  },
};

/** An outcome event without the bulky evidence (QMP replies, command lines). */
function brief(event: Extract<InteropEvent, { event: "outcome" }>): Record<string, unknown> {
  const { status, errorClass, message, ramSha256, bytes, seconds, exit } = event.outcome;
  return {
    event: "outcome",
    role: event.role,
    status,
    errorClass,
    message,
    ramSha256,
    bytes,
    seconds,
    exit,
    // Whether a TypeScript side ran its channels on Workers.
    channelThreads: event.outcome.evidence?.channelThreads,
  };
}
