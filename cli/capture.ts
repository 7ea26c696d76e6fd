/**
 * `migwire capture --src <impl> --dst <impl> --channels N [--tls] [--uuid U] --out DIR`: records
 * one migration through the capture proxy and writes it as a fixture.
 *
 * @module
 */

import { type Command, EXIT_OK, UsageError } from "./command.ts";
import {
  channelsOption,
  IMPLEMENTATION_OPTIONS,
  implementationsOption,
  MIGRATION_OPTIONS,
  ramOption,
  UUID_OPTION,
  uuidOption,
} from "./options.ts";
import { captureFixture } from "../harness/fixtures/capture.ts";
import { MAX_RAM_MIB } from "../harness/fixtures/manifest.ts";

/** The `capture` command. */
export const captureCommand: Command = {
  name: "capture",
  summary: "Record a migration between two implementations as a fixture",
  options: {
    ...IMPLEMENTATION_OPTIONS,
    channels: MIGRATION_OPTIONS.channels,
    tls: { type: "boolean", help: "TLS with the test PKI, terminated by the proxy on both sides." },
    uuid: { ...UUID_OPTION, default: "12345678-9abc-def0-1122-334455667788" },
    "ram-mib": MIGRATION_OPTIONS["ram-mib"],
    seed: MIGRATION_OPTIONS.seed,
    density: {
      type: "string",
      value: "D",
      help: "Share of non-zero pages, 0..1.",
      default: "0.015625",
    },
    out: { type: "string", value: "DIR", help: "Fixture directory to write." },
    overwrite: { type: "boolean", help: "Replace an existing fixture directory." },
  },
  async run(values): Promise<number> {
    if (typeof values.out !== "string") throw new UsageError("--out is required");
    const channels = channelsOption(values);
    const ram = ramOption(values, MAX_RAM_MIB);
    const uuid = uuidOption(values)!;
    const { src, dst } = await implementationsOption(values);
    const manifest = await captureFixture({
      src,
      dst,
      channels,
      tls: values.tls === true,
      uuid,
      ram,
      out: values.out,
      overwrite: values.overwrite === true,
    });
    console.log(JSON.stringify({
      event: "captured",
      out: values.out,
      connections: manifest.connections.map((c) => ({
        kind: c.kind,
        id: c.multifdId,
        src: c.src.bytes,
        end: c.src.end,
      })),
      seconds: manifest.outcome.seconds,
    }));
    return EXIT_OK;
  },
};
