/**
 * `migwire interop --src <impl> --dst <impl> [--channels N] [--tls] [--ram-mib M]`: one migration
 * between two implementations, judged by the destination's RAM digest. Prints JSON event lines;
 * exit 0 when it completed with matching digests, 1 when not, 2 for tool errors.
 *
 * @module
 */

import { type Command, EXIT_FAILED, EXIT_OK, intOption, UsageError } from "./command.ts";
import { type InteropEvent, resolveImplementation, runInterop } from "../harness/interop.ts";

/** The `interop` command. */
export const interopCommand: Command = {
  name: "interop",
  summary: "Migrate between two implementations and compare the destination RAM with the pattern",
  options: {
    src: { type: "string", value: "IMPL", help: "Source: ts, qemu-7.2, qemu-10.0 or qemu:PATH." },
    dst: {
      type: "string",
      value: "IMPL",
      help: "Destination: ts, qemu-7.2, qemu-10.0 or qemu:PATH.",
    },
    channels: { type: "string", value: "N", help: "Multifd channels, 1..255.", default: "2" },
    tls: { type: "boolean", help: "TLS on every channel with the test PKI (fixtures/pki/good)." },
    "ram-mib": { type: "string", value: "M", help: "Guest RAM in MiB.", default: "16" },
    seed: { type: "string", value: "S", help: "RAM pattern seed.", default: "1" },
    uuid: { type: "string", value: "UUID", help: "-uuid of both sides (8-4-4-4-12)." },
    "timeout-ms": {
      type: "string",
      value: "MS",
      help: "Bound of the whole run.",
      default: "60000",
    },
  },
  async run(values): Promise<number> {
    if (typeof values.src !== "string") throw new UsageError("--src is required");
    if (typeof values.dst !== "string") throw new UsageError("--dst is required");
    const channels = intOption(values, "channels", 1, 255);
    const mib = intOption(values, "ram-mib", 1, 4096);
    const seed = intOption(values, "seed", 0, 0xffff_ffff);
    const timeoutMs = intOption(values, "timeout-ms", 1, 3_600_000);
    const uuid = typeof values.uuid === "string" ? values.uuid : undefined;
    if (uuid !== undefined && !/^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/i.test(uuid)) {
      throw new UsageError(`--uuid must be 8-4-4-4-12 hex digits, got ${JSON.stringify(uuid)}`);
    }
    const [src, dst] = await Promise.all([
      resolveImplementation(values.src).catch((e) => {
        throw new UsageError(`--src: ${e.message}`);
      }),
      resolveImplementation(values.dst).catch((e) => {
        throw new UsageError(`--dst: ${e.message}`);
      }),
    ]);
    const result = await runInterop({
      src,
      dst,
      channels,
      tls: values.tls === true,
      ram: { mib, seed },
      uuid: uuid?.toLowerCase(),
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
  };
}
