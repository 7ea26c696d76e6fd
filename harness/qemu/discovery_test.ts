import assert from "node:assert/strict";
import {
  compareVersionParts,
  discoverQemu,
  parseQemuVersion,
  probeQemu,
  resolveQemu,
  SYSTEM_QEMU,
} from "./discovery.ts";

Deno.test("parseQemuVersion reads version and package note", () => {
  assert.deepEqual(
    parseQemuVersion(
      "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022",
    ),
    { major: 7, minor: 2, micro: 22, package: "Debian 1:7.2+dfsg-7+deb12u18+b3" },
  );
  assert.deepEqual(parseQemuVersion("QEMU emulator version 10.2.50"), {
    major: 10,
    minor: 2,
    micro: 50,
    package: undefined,
  });
  assert.equal(parseQemuVersion("qemu-img version 7.2.0"), undefined);
  assert.ok(
    compareVersionParts(
      { major: 7, minor: 2, micro: 22 },
      parseQemuVersion(
        "QEMU emulator version 10.0.2",
      )!,
    ) < 0,
  );
});

/** A stand-in binary that only answers `--version`, to test naming without real QEMU builds. */
async function fakeQemu(dir: string, version: string): Promise<string> {
  const path = `${dir}/qemu-${version}`;
  await Deno.writeTextFile(path, `#!/bin/sh\necho "QEMU emulator version ${version} (test)"\n`);
  await Deno.chmod(path, 0o755);
  return path;
}

Deno.test("discoverQemu names, sorts and dedupes, environment first", async () => {
  const dir = await Deno.makeTempDir({ prefix: "migwire-discovery-test-" });
  try {
    const a = await fakeQemu(dir, "9.2.1");
    const b = await fakeQemu(dir, "8.0.0");
    const c = await fakeQemu(`${dir}`, "9.2.3");
    await Deno.symlink(a, `${dir}/link`);
    const found = await discoverQemu({
      env: { MIGWIRE_QEMU: `${a}:${dir}/link`, QTEST_QEMU_BINARY_SRC: b },
      defaults: [c, `${dir}/missing`],
    });
    assert.deepEqual(found.map((q) => [q.name, q.version]), [
      ["qemu-8.0", "8.0.0"],
      ["qemu-9.2", "9.2.1"],
      [`qemu:${c}`, "9.2.3"],
    ]);
    assert.equal(found[1].package, "test");
    await assert.rejects(
      () => discoverQemu({ env: { MIGWIRE_QEMU: `${dir}/missing` }, defaults: [] }),
      Deno.errors.NotFound,
    );
    const resolved = await resolveQemu("qemu-9.2", { env: { MIGWIRE_QEMU: c }, defaults: [a] });
    assert.equal(resolved.path, c);
    const exact = await resolveQemu("qemu-9.2.1", { env: {}, defaults: [a, c] });
    assert.equal(exact.path, a);
    await assert.rejects(
      () => resolveQemu("qemu-6.0", { env: {}, defaults: [a] }),
      /no QEMU binary for 'qemu-6.0'; found: qemu-9.2 \(9.2.1\)/,
    );
    await assert.rejects(() => resolveQemu("qemu-latest"), /unknown QEMU name 'qemu-latest'/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("qemu discovery finds the provisioned binaries and resolves their names", async (t) => {
  const found = await discoverQemu();
  if (found.length === 0) {
    await t.step({ name: "no QEMU installed: run deno task setup", ignore: true, fn: () => {} });
    return;
  }
  for (const qemu of found) {
    await t.step(`${qemu.name} ${qemu.version}`, async () => {
      assert.match(qemu.name, /^qemu-\d+\.\d+$/);
      assert.equal(qemu.name, `qemu-${qemu.major}.${qemu.minor}`);
      assert.equal((await resolveQemu(qemu.name)).path, qemu.path);
      const byPath = await resolveQemu(`qemu:${qemu.path}`);
      assert.equal(byPath.name, `qemu:${qemu.path}`);
      assert.equal(byPath.version, qemu.version);
    });
  }
  const system = found.find((qemu) => qemu.path === SYSTEM_QEMU);
  if (system) assert.deepEqual(await probeQemu(SYSTEM_QEMU), system);
});
