import { assertEquals, assertThrows } from "./test_assert.ts";
import { compareVersions, QEMU_VERSIONS, VERSION_TABLE, versionInfo } from "./versions.ts";

Deno.test("versionInfo picks the feature release of a full version string", () => {
  assertEquals(versionInfo("7.2.22").version, "7.2");
  assertEquals(versionInfo("10.0.2").version, "10.0");
  assertEquals(versionInfo("10.0").version, "10.0");
  assertEquals(versionInfo("8.1.5").version, "8.1");
  assertEquals(versionInfo("10.2.50").version, "10.2");
  assertEquals(versionInfo("11.0.0").version, "10.2");
  assertEquals(versionInfo("10.0.2+ds-2").version, "10.0");
  assertThrows(() => versionInfo("7.1.0"), RangeError, "older than 7.2");
  assertThrows(() => versionInfo("qemu"), RangeError, '"qemu"');
});

Deno.test("the table holds the facts of spec §1-§8 per version", () => {
  const at = (v: string) => versionInfo(v);
  assertEquals(QEMU_VERSIONS.map((v) => at(v).packetLayout.value), [
    "v7.2",
    "v7.2",
    "v7.2",
    "v7.2",
    "v9.0",
    "v9.0",
    "v9.0",
    "v10.0",
    "v10.0",
    "v10.0",
  ]);
  assertEquals(QEMU_VERSIONS.map((v) => at(v).classificationPlain.value), [
    "arrival-order",
    "peek-magic",
    "peek-magic",
    "peek-magic",
    "peek-magic",
    "peek-magic",
    "peek-magic",
    "peek-magic",
    "peek-magic-strict",
    "peek-magic-strict",
  ]);
  assertEquals(QEMU_VERSIONS.every((v) => at(v).classificationTls.value === "arrival-order"), true);
  assertEquals(at("8.0").flushStyle.value, "eos");
  assertEquals(at("8.1").flushStyle.value, "multifd-flush");
  assertEquals([at("8.2").zeroPagesOnMultifd.value, at("9.0").zeroPagesOnMultifd.value], [
    false,
    true,
  ]);
  assertEquals([at("9.2").switchoverStart.value, at("10.0").switchoverStart.value], [false, true]);
  assertEquals([at("9.2").cleanTlsTermination.value, at("10.0").cleanTlsTermination.value], [
    false,
    true,
  ]);
  assertEquals(QEMU_VERSIONS.map((v) => at(v).compressionMask.value), [
    0x0e,
    0x0e,
    0x0e,
    0x0e,
    0x0e,
    0x1e,
    0x3e,
    0x3e,
    0x3e,
    0x3e,
  ]);
  assertEquals(QEMU_VERSIONS.map((v) => at(v).afterBadMultifdChannel.value), [
    "hang-no-status",
    "hang-no-status",
    "hang-no-status",
    "hang-setup",
    "hang-setup",
    "hang-setup-error-desc",
    "hang-setup-error-desc",
    "fail-exit",
    "fail-exit",
    "fail-exit",
  ]);
  assertEquals(QEMU_VERSIONS.every((v) => at(v).channelIdCheck.value === ">"), true);
});

Deno.test("every fact names a function, a commit and a first release", () => {
  for (const version of QEMU_VERSIONS) {
    const info = VERSION_TABLE[version];
    for (const [key, fact] of Object.entries(info)) {
      if (typeof fact !== "object") continue;
      const where = `${version} ${key}`;
      assertEquals(typeof fact.where === "string" && fact.where.length > 0, true, where);
      assertEquals(/^[0-9a-f]{10}$/.test(fact.commit), true, where);
      assertEquals(/^\d+\.\d+$/.test(fact.since), true, where);
    }
  }
});

Deno.test("compareVersions orders versions numerically", () => {
  assertEquals(compareVersions("7.2.22", "10.0.2") < 0, true);
  assertEquals(compareVersions("10.0", "10.0.0"), 0);
  assertEquals(compareVersions("9.10", "9.2") > 0, true);
});
