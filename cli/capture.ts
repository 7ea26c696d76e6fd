/**
 * `migwire capture --src <impl> --dst <impl> --channels N [--tls] [--uuid U] --out DIR`: records
 * one migration through the recording proxy and writes it as a fixture.
 *
 * @module
 */

import { type Command, EXIT_OK, intOption, UsageError } from "./command.ts";
import { captureFixture } from "../harness/fixtures/capture.ts";
import { resolveImplementation } from "../harness/interop.ts";

/** The `capture` command. */
export const captureCommand: Command = {
  name: "capture",
  summary: "Record a migration between two implementations as a fixture",
  options: {
    src: { type: "string", value: "IMPL", help: "Source: qemu-7.2, qemu-10.0, qemu:PATH or ts." },
    dst: {
      type: "string",
      value: "IMPL",
      help: "Destination: qemu-7.2, qemu-10.0, qemu:PATH or ts.",
    },
    channels: { type: "string", value: "N", help: "Multifd channels, 1..255.", default: "2" },
    tls: { type: "boolean", help: "TLS with the test PKI, terminated by the proxy on both sides." },
    uuid: {
      type: "string",
      value: "UUID",
      help: "-uuid of both sides.",
      default: "12345678-9abc-def0-1122-334455667788",
    },
    "ram-mib": { type: "string", value: "M", help: "Guest RAM in MiB.", default: "16" },
    seed: { type: "string", value: "S", help: "RAM pattern seed.", default: "1" },
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
    for (const name of ["src", "dst", "out"]) {
      if (typeof values[name] !== "string") throw new UsageError(`--${name} is required`);
    }
    const uuid = String(values.uuid).toLowerCase();
    if (!/^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/.test(uuid)) {
      throw new UsageError(
        `--uuid must be 8-4-4-4-12 hex digits, got ${JSON.stringify(values.uuid)}`,
      );
    }
    const density = Number(values.density);
    if (!(density >= 0 && density <= 1)) {
      throw new UsageError(
        `--density must be a number in 0..1, got ${JSON.stringify(values.density)}`,
      );
    }
    const [src, dst] = await Promise.all(
      [values.src, values.dst].map((name, i) =>
        resolveImplementation(String(name)).catch((e) => {
          throw new UsageError(`--${i ? "dst" : "src"}: ${e.message}`);
        })
      ),
    );
    const manifest = await captureFixture({
      src,
      dst,
      channels: intOption(values, "channels", 1, 255),
      tls: values.tls === true,
      uuid,
      ram: {
        mib: intOption(values, "ram-mib", 1, 1024),
        seed: intOption(values, "seed", 0, 0xffff_ffff),
        density,
      },
      out: String(values.out),
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
