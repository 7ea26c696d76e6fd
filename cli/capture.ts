/**
 * `migwire capture --src <impl> --dst <impl> --channels N [--tls] [--uuid U] --out DIR`: records
 * one migration through the capture proxy and writes it as a fixture.
 *
 * @module
 */

import { type Command, EXIT_OK, UsageError } from "./command.ts";
import { MIGRATION_OPTIONS, migrationOptions } from "./options.ts";
import { captureFixture } from "../harness/fixtures/capture.ts";
import { MAX_RAM_MIB } from "../harness/fixtures/manifest.ts";

/** The `capture` command. */
export const captureCommand: Command = {
  name: "capture",
  summary: "Record a migration between two implementations as a fixture",
  options: {
    ...MIGRATION_OPTIONS,
    uuid: { ...MIGRATION_OPTIONS.uuid, default: "12345678-9abc-def0-1122-334455667788" },
    tls: { type: "boolean", help: "TLS with the test PKI, terminated by the proxy on both sides." },
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
    const { src, dst, channels, ram, uuid } = await migrationOptions(values, MAX_RAM_MIB);
    const manifest = await captureFixture({
      src,
      dst,
      channels,
      tls: values.tls === true,
      uuid: uuid!,
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
