import assert from "node:assert/strict";
import { discoverQemu } from "./discovery.ts";
import {
  leftoverQemuPids,
  liveQemuProcesses,
  QemuProcess,
  QemuStartTimeout,
  startedQemuPids,
  TLS_CREDS_ID,
} from "./process.ts";
import { QmpClosedError, QmpError } from "./qmp.ts";
import { patternRam, sha256Hex } from "../ram/pattern.ts";
import { pkiDir } from "../pki/pki.ts";
import { killedParentLeftChild } from "../exit_with_parent_testing.ts";
import { sweepStaleDirs } from "../owned_temp_dir.ts";

const binaries = await discoverQemu();

Deno.test("qemu: every discovered QEMU starts with -M none and reports its version over QMP", async (t) => {
  for (const binary of binaries) {
    await t.step(binary.name, async () => {
      await using qemu = await QemuProcess.launch({ binary });
      assert.deepEqual(qemu.qmp.greeting.version.qemu, {
        major: binary.major,
        minor: binary.minor,
        micro: binary.micro,
      });
      const version = await qemu.qmp.execute<{ qemu: { major: number; minor: number } }>(
        "query-version",
      );
      assert.equal(
        `${version.qemu.major}.${version.qemu.minor}`,
        `${binary.major}.${binary.minor}`,
      );
      const status = await qemu.qmp.execute<{ status: string; running: boolean }>("query-status");
      assert.equal(status.status, "prelaunch");
      assert.equal(status.running, false);
      assert.equal(await qemu.controlPlane(), "answering");
      const machine = await qemu.qmp.execute<Array<{ id: string }>>("query-memdev");
      assert.ok(machine.some((memdev) => memdev.id === "ram"));
    });
  }
});

Deno.test("qemu: QMP errors are typed with QEMU's class and description", async (t) => {
  for (const binary of binaries) {
    await t.step(binary.name, async () => {
      await using qemu = await QemuProcess.launch({ binary, incoming: true });
      await assert.rejects(() => qemu.qmp.execute("no-such-command"), (error) => {
        assert.ok(error instanceof QmpError);
        assert.equal(error.errorClass, "CommandNotFound");
        assert.equal(error.command, "no-such-command");
        assert.match(error.desc, /no-such-command/);
        return true;
      });
      await assert.rejects(
        () => qemu.qmp.execute("migrate-set-parameters", { "multifd-channels": 0 }),
        (error) => {
          assert.ok(error instanceof QmpError);
          assert.equal(error.errorClass, "GenericError");
          assert.equal(
            error.desc,
            "Parameter 'multifd_channels' expects a value between 1 and 255",
          );
          return true;
        },
      );
      // The session survives errors.
      assert.equal(
        (await qemu.qmp.execute<{ status: string }>("query-status")).status,
        "inmigrate",
      );
    });
  }
});

Deno.test("qemu: guest RAM is seeded from the pattern and read back from the shared file", async () => {
  const binary = binaries[0];
  if (!binary) return;
  // 6 MiB: more than one seeding/hashing step, the last one partial.
  await using qemu = await QemuProcess.launch({ binary, ram: { mib: 6, seed: 9, density: 0.5 } });
  const expected = patternRam(6, 9, 0.5);
  assert.deepEqual(await qemu.readRam(), expected);
  assert.equal(await qemu.ramSha256(), await sha256Hex(expected));
  const sizes = await qemu.qmp.execute<Array<{ id: string; size: number; share: boolean }>>(
    "query-memdev",
  );
  assert.deepEqual(
    sizes.filter((m) => m.id === "ram").map((m) => [m.size, m.share]),
    [[6 * 1024 * 1024, true]],
  );
});

/** Resident file-backed and shared memory of a process (where a mapped RAM file counts), bytes. */
function mappedFileBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (field: string) =>
    Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return (kib("RssFile") + kib("RssShmem")) * 1024;
}

/** Bytes a process has passed to `write` and its kin (`wchar` of `/proc/<pid>/io`). */
function writtenBytes(pid: number): number {
  return Number(/^wchar: (\d+)$/m.exec(Deno.readTextFileSync(`/proc/${pid}/io`))?.[1] ?? 0);
}

Deno.test("qemu: prealloc=on makes guest RAM resident, read once by QEMU itself, and keeps the seeded file's contents", async (t) => {
  for (const binary of binaries) {
    await t.step(binary.name, async () => {
      const mib = 32;
      await using qemu = await QemuProcess.launch({
        binary,
        ram: { mib, seed: 3, density: 1, prealloc: true },
      });
      assert.ok(
        qemu.args.some((arg) =>
          arg.startsWith("memory-backend-file,") && arg.endsWith(",prealloc=on")
        ),
        qemu.args.join(" "),
      );
      const memdevs = await qemu.qmp.execute<Array<{ id: string; prealloc: boolean }>>(
        "query-memdev",
      );
      assert.deepEqual(memdevs.filter((m) => m.id === "ram").map((m) => m.prealloc), [true]);
      // QEMU populates the mapping (MADV_POPULATE_WRITE) or reads and writes back a byte per page.
      assert.equal(await qemu.ramSha256(), await sha256Hex(patternRam(mib, 3, 1)));
      await using plain = await QemuProcess.launch({ binary, ram: { mib, seed: 3, density: 1 } });
      assert.ok(!plain.args.some((arg) => arg.includes("prealloc")), plain.args.join(" "));
      // Without prealloc the RAM file is mapped lazily; with it, every page is mapped at start.
      const extra = mappedFileBytes(qemu.pid) - mappedFileBytes(plain.pid);
      assert.ok(extra > mib * 1048576 * 0.9, `only ${extra} bytes more mapped with prealloc`);
      // With prealloc QEMU has read every page itself (pmemsave to /dev/null): it wrote them out.
      assert.ok(writtenBytes(qemu.pid) >= qemu.ramBytes, `wrote ${writtenBytes(qemu.pid)} bytes`);
      assert.ok(writtenBytes(plain.pid) < plain.ramBytes, `wrote ${writtenBytes(plain.pid)} bytes`);
    });
  }
});

Deno.test("qemu: uuid, globals and TLS objects reach the command line and QEMU accepts them", async (t) => {
  for (const binary of binaries) {
    await t.step(binary.name, async () => {
      const uuid = "12345678-9abc-def0-1122-334455667788";
      await using qemu = await QemuProcess.launch({
        binary,
        uuid,
        globals: ["migration.multifd-channels=3"],
        tls: { dir: pkiDir("good"), endpoint: "server" },
      });
      assert.equal((await qemu.qmp.execute<{ UUID: string }>("query-uuid")).UUID, uuid);
      const params = await qemu.qmp.execute<Record<string, unknown>>("query-migrate-parameters");
      assert.equal(params["multifd-channels"], 3);
      const creds = await qemu.qmp.execute<{ endpoint: string }>("qom-get", {
        path: `/objects/${TLS_CREDS_ID}`,
        property: "endpoint",
      });
      assert.equal(creds, "server");
    });
  }
});

Deno.test("qemu: a QEMU that cannot start is reported with its stderr", async () => {
  const binary = binaries[0];
  if (!binary) return;
  const before = liveQemuProcesses().length;
  await assert.rejects(
    () => QemuProcess.launch({ binary, globals: ["migration.no-such-property=on"] }),
    /did not start.*exit code 1.*no-such-property/s,
  );
  assert.equal(liveQemuProcesses().length, before);
});

Deno.test("qemu launch: a process that never answers QMP is given up with what its threads were doing", async () => {
  // Stands in for a QEMU that hangs before QMP answers: it takes QEMU's arguments and sleeps.
  const dir = await Deno.makeTempDir({ prefix: "migwire-test-hang-" });
  try {
    const path = `${dir}/hangs`;
    await Deno.writeTextFile(path, "#!/bin/sh\nexec sleep 30\n");
    await Deno.chmod(path, 0o755);
    const binary = { path, name: "hangs", version: "0" };
    const before = liveQemuProcesses().length;
    await assert.rejects(
      () => QemuProcess.launch({ binary, signal: AbortSignal.timeout(500) }),
      /hangs did not start.*exit signal SIGKILL.*threads when it was given up: \d+ sleep S in \w*sleep/s,
    );
    assert.equal(liveQemuProcesses().length, before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("qemu launch: a start whose QMP does not answer is tried once more, and only once", async (t) => {
  const binary = binaries[0];
  const dir = await Deno.makeTempDir({ prefix: "migwire-test-hang-once-" });
  try {
    await t.step({
      name: "the first start hangs, the second is the real QEMU",
      ignore: !binary,
      fn: async () => {
        // Hangs on its first start only (a marker file tells), then runs QEMU itself.
        const path = `${dir}/hangs-once`;
        const marker = `${dir}/started`;
        await Deno.writeTextFile(
          path,
          `#!/bin/sh\nif [ ! -e ${marker} ]; then touch ${marker}; exec sleep 30; fi\n` +
            `exec ${binary!.path} "$@"\n`,
        );
        await Deno.chmod(path, 0o755);
        await using qemu = await QemuProcess.launch({
          binary: { path, name: "hangs-once", version: binary!.version },
          launchTimeoutMs: 500,
        });
        assert.equal(
          (await qemu.qmp.execute("query-status") as { status: string }).status,
          "prelaunch",
        );
      },
    });
    await t.step("two hanging starts fail with both described", async () => {
      const path = `${dir}/hangs`;
      await Deno.writeTextFile(path, "#!/bin/sh\nexec sleep 30\n");
      await Deno.chmod(path, 0o755);
      const before = liveQemuProcesses().length;
      await assert.rejects(
        () =>
          QemuProcess.launch({
            binary: { path, name: "hangs", version: "0" },
            launchTimeoutMs: 300,
          }),
        (error: unknown) =>
          error instanceof QemuStartTimeout &&
          (error.message.match(/hangs did not start/g) ?? []).length === 2 &&
          /the attempt before it/.test(error.message),
      );
      assert.equal(liveQemuProcesses().length, before);
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("qemu: an exit closes QMP and is reported with its code", async () => {
  const binary = binaries[0];
  if (!binary) return;
  await using qemu = await QemuProcess.launch({ binary });
  await qemu.qmp.execute("quit").catch((error) => {
    if (!(error instanceof QmpClosedError)) throw error;
  });
  assert.deepEqual(await qemu.waitExit(AbortSignal.timeout(5_000)), { code: 0, signal: null });
  await assert.rejects(() => qemu.qmp.execute("query-status"), QmpClosedError);
  assert.equal(await qemu.controlPlane(), "gone");
});

Deno.test("qemu: a frozen QEMU is seen as frozen and still killed on dispose", async () => {
  const binary = binaries[0];
  if (!binary) return;
  const qemu = await QemuProcess.launch({ binary });
  try {
    qemu.kill("SIGSTOP");
    assert.equal(await qemu.controlPlane(200), "frozen");
    assert.equal(await qemu.isControlPlaneAnswering(200), false);
  } finally {
    await qemu[Symbol.asyncDispose]();
  }
  assert.deepEqual(qemu.exit, { code: null, signal: "SIGKILL" });
  await assert.rejects(() => Deno.stat(qemu.dir), Deno.errors.NotFound);
});

Deno.test("qemu: a QEMU ends with a harness that is killed before any cleanup runs", async () => {
  const binary = binaries[0];
  if (!binary) return;
  const left = await killedParentLeftChild(`
    import { QemuProcess } from ${JSON.stringify(import.meta.resolve("./process.ts"))};
    const qemu = await QemuProcess.launch({ binary: ${JSON.stringify(binary)} });
    console.log(JSON.stringify({ pid: qemu.pid, dir: qemu.dir }));
    await new Promise((resolve) => setTimeout(resolve, 60_000));
  `);
  const dir = String(left.report.dir);
  try {
    assert.equal(left.aliveBeforeKill, true);
    assert.equal(left.aliveAfterKill, false, `QEMU ${left.report.pid} outlived its harness`);
    // The killed harness could not remove its directory; the next harness's sweep does.
    const parent = dir.slice(0, dir.lastIndexOf("/"));
    assert.ok((await sweepStaleDirs(parent, "migwire-qemu-")).includes(dir));
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("qemu: no QEMU started by these tests is left running", async () => {
  assert.deepEqual(liveQemuProcesses(), []);
  assert.ok(binaries.length === 0 || startedQemuPids().length > 0);
  assert.deepEqual(await leftoverQemuPids(), []);
});
