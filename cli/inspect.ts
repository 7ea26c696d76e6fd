/**
 * `migwire inspect <fixture-dir|file> [--json] [--packets] [--layout L]`: decodes a fixture or one
 * raw migration stream (main or multifd channel, told apart by magic).
 *
 * @module
 */

import { type Command, EXIT_FAILED, EXIT_OK, UsageError } from "./command.ts";
import { inspectFixture, inspectStream } from "../harness/fixtures/inspect.ts";
import { formatFixtureReport, formatStreamReport } from "../harness/fixtures/inspect_format.ts";
import { MAX_DIRECTION_BYTES } from "../harness/fixtures/manifest.ts";
import { readFixture } from "../harness/fixtures/read.ts";
import { toHex } from "../harness/wire/bytes.ts";
import { PACKET_LAYOUTS, type PacketLayout } from "../harness/wire/packet.ts";

/** The `inspect` command. */
export const inspectCommand: Command = {
  name: "inspect",
  summary: "Decode a fixture directory or a raw main/multifd stream file",
  positionals: "<fixture-dir|file>",
  options: {
    json: { type: "boolean", help: "Print the report as JSON." },
    packets: { type: "boolean", help: "List every multifd packet, not only SYNC packets." },
    layout: {
      type: "string",
      value: "LAYOUT",
      help: `Packet layout of a raw multifd file: ${PACKET_LAYOUTS.join(", ")}.`,
      default: "v10.0",
    },
  },
  async run(values, positionals): Promise<number> {
    if (positionals.length !== 1) throw new UsageError("expected one <fixture-dir|file>");
    const layout = String(values.layout) as PacketLayout;
    if (!PACKET_LAYOUTS.includes(layout)) {
      throw new UsageError(`--layout must be one of ${PACKET_LAYOUTS.join(", ")}, got ${layout}`);
    }
    const path = positionals[0];
    const info = await Deno.stat(path).catch(() => {
      throw new UsageError(`no such file or directory: ${path}`);
    });
    const packets = values.packets === true;
    if (info.isDirectory) {
      const report = await inspectFixture(await readFixture(path));
      console.log(values.json ? toJson(report) : formatFixtureReport(report, { packets }));
      const ok = report.ram.match && report.sync.every((s) => s.match) &&
        !report.main?.error && report.channels.every((c) => !c.trace.error);
      return ok ? EXIT_OK : EXIT_FAILED;
    }
    if (info.size > MAX_DIRECTION_BYTES) {
      throw new UsageError(
        `${path} is ${info.size} bytes; at most ${MAX_DIRECTION_BYTES} are read`,
      );
    }
    const report = inspectStream(await Deno.readFile(path), layout);
    console.log(values.json ? toJson(report) : formatStreamReport(report, { packets }));
    return report.kind !== "unknown" && !report.trace.error ? EXIT_OK : EXIT_FAILED;
  },
};

/** The report as JSON: bigints as decimal text, byte arrays (device fields) as hex. */
function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_, v) => typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? toHex(v) : v,
    2,
  );
}
