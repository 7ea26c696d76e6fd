import assert from "node:assert/strict";
import { UsageError } from "./command.ts";
import {
  channelsOption,
  implementationsOption,
  migrationOptions,
  ramOption,
  uuidOption,
} from "./options.ts";

Deno.test("shared options parse what is right and name the option of what is not", async () => {
  assert.equal(channelsOption({ channels: "255" }), 255);
  assert.throws(() => channelsOption({ channels: "0" }), /--channels must be an integer in 1..255/);
  assert.deepEqual(ramOption({ "ram-mib": "16", seed: "7" }, 1024), { mib: 16, seed: 7 });
  assert.deepEqual(ramOption({ "ram-mib": "1", seed: "0", density: "1" }, 1), {
    mib: 1,
    seed: 0,
    density: 1,
  });
  assert.deepEqual(ramOption({ "ram-mib": "16", seed: "7", prealloc: true }, 1024), {
    mib: 16,
    seed: 7,
    prealloc: true,
  });
  assert.deepEqual(ramOption({ "ram-mib": "1", seed: "0", density: "1", prealloc: true }, 1), {
    mib: 1,
    seed: 0,
    density: 1,
    prealloc: true,
  });
  assert.throws(() => ramOption({ "ram-mib": "2048", seed: "1" }, 1024), /--ram-mib/);
  assert.throws(
    () => ramOption({ "ram-mib": "16", seed: "1", density: "1.5" }, 1024),
    /--density must be a number in 0..1, got "1.5"/,
  );
  assert.equal(uuidOption({}), undefined);
  assert.equal(
    uuidOption({ uuid: "12345678-9ABC-DEF0-1122-334455667788" }),
    "12345678-9abc-def0-1122-334455667788",
  );
  assert.throws(() => uuidOption({ uuid: "nope" }), UsageError);
  await assert.rejects(implementationsOption({ dst: "ts" }), /--src is required/);
  await assert.rejects(implementationsOption({ src: "ts", dst: "nope" }), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.match(e.message, /^--dst: unknown implementation 'nope'/);
    return true;
  });
  const { src, dst } = await implementationsOption({ src: "ts", dst: "ts" });
  assert.deepEqual([src.name, dst.name], ["ts", "ts"]);
});

Deno.test("migration options read implementations, channels, RAM and UUID together", async () => {
  const choice = await migrationOptions({
    src: "ts",
    dst: "ts",
    channels: "4",
    "ram-mib": "32",
    seed: "9",
    density: "0.25",
    uuid: "12345678-9abc-def0-1122-334455667788",
  }, 1024);
  assert.deepEqual(
    { ...choice, src: choice.src.name, dst: choice.dst.name },
    {
      src: "ts",
      dst: "ts",
      channels: 4,
      ram: { mib: 32, seed: 9, density: 0.25 },
      uuid: "12345678-9abc-def0-1122-334455667788",
    },
  );
  await assert.rejects(
    migrationOptions({ src: "ts", dst: "ts", channels: "2", "ram-mib": "4097", seed: "1" }, 4096),
    /--ram-mib must be an integer in 1..4096, got "4097"/,
  );
});
