import { assertEquals } from "./test_assert.ts";
import {
  classifyQemuMessage,
  formatPattern,
  matchQemuMessage,
  QEMU_MESSAGES,
  qemuMessages,
} from "./qemu_messages.ts";
import { QEMU_VERSIONS } from "./versions.ts";

/** Prints `format` with sample arguments, as QEMU's printf would. */
function sample(format: string): string {
  return format.replace(
    /%(?:[-#0 +]*)(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|z)?([diuxXsc%])/g,
    (_, conversion: string) =>
      ({ d: "-56", i: "3", u: "200", x: "5145564d", X: "AB", s: "ram", c: "q", "%": "%" })[
        conversion
      ]!,
  );
}

Deno.test("every message, printed, is classified as itself in every version that has it", () => {
  for (const version of QEMU_VERSIONS) {
    for (const message of qemuMessages(version)) {
      const text = `qemu-system-x86_64: failed to receive packet via multifd channel 0: ${
        sample(message.format)
      }`;
      const found = matchQemuMessage(version, text);
      assertEquals(found?.id, message.id, `${version} ${message.format}`);
      assertEquals(found?.errorClass, message.errorClass);
    }
  }
});

Deno.test("texts observed from QEMU 7.2.22 and 10.0.2 map to canonical classes (spec §2-§6)", () => {
  const cases: [string, string, string | undefined][] = [
    ["7.2.22", "multifd: received packet magic 5145564d expected 11223344", "E_MAGIC"],
    ["10.0.2", "multifd: received packet magic 5145564d expected 11223344", "E_MAGIC"],
    ["10.0.2", "multifd: received packet version 2 expected 1", "E_VERSION"],
    [
      "10.0.2",
      "qemu-system-x86_64: failed to receive packet via multifd channel 0: multifd: received uuid " +
      "'01020304-0506-0708-090a-0b0c0d0e0f10' and expected uuid " +
      "'00000000-0000-0000-0000-000000000000' for channel 0",
      "E_UUID",
    ],
    ["7.2.22", "multifd: received channel version 1 expected 1", "E_CHANNEL_ID"],
    ["10.0.2", "multifd: received channel version 1 expected 1", undefined],
    [
      "10.0.2",
      "multifd: received channel id 9 is greater than number of channels 2",
      "E_CHANNEL_ID",
    ],
    ["7.2.22", "multifd: received id '1' already setup'", "E_DUPLICATE_ID"],
    ["7.2.22", "Unexpected end-of-file before all data were read", "E_TRUNCATED"],
    [
      "10.0.2",
      "Cannot read from TLS channel: The TLS connection was non-properly terminated.",
      "E_TLS_PREMATURE_EOF",
    ],
    ["10.0.2", "Cannot read from TLS channel: Connection reset by peer", "E_IO"],
    ["10.1.0", "unknown channel magic: 1195725856", "E_UNKNOWN_CHANNEL"],
    ["10.0.2", "unknown channel magic: 1195725856", undefined],
    ["7.2.22", "Unknown combination of migration flags: 0x200", "E_STREAM"],
    ["7.2.22", "Not a migration stream", "E_STREAM"],
    [
      "10.2.0",
      "load of migration failed: Not a migration stream, magic: 11223344 != 5145564d: ",
      "E_STREAM",
    ],
    [
      "9.1.0",
      "multifd: received packet with 2 zero pages and expected maximum zero pages are 1",
      "E_PACKET",
    ],
    ["10.0.2", "multifd: offset too long 16777216 (max 1000000)", "E_PACKET"],
    ["10.0.2", "multifd 1: flags received 4 flags expected 0", "E_PACKET"],
    ["10.0.2", "multifd: received packet magic 12345678, expected 11223344", "E_MAGIC"],
    ["10.0.2", "Certificate does not match the hostname localhost", "E_TLS"],
    ["10.0.2", "Found a zero page with value 1", "E_STREAM"],
    ["7.2.22", "Found a zero page with value 1", undefined],
    ["10.0.2", "SWITCHOVER_START received with bad length - expecting 0, got 1", "E_STREAM"],
    ["10.0.2", "something else entirely", undefined],
  ];
  for (const [version, text, expected] of cases) {
    assertEquals(classifyQemuMessage(version, text), expected, `${version}: ${text}`);
  }
});

Deno.test("each version has exactly one text per init check", () => {
  for (const version of QEMU_VERSIONS) {
    const ids = qemuMessages(version).map((m) => m.id);
    for (const id of ["init.magic", "init.version", "init.uuid", "init.id", "init.duplicate"]) {
      assertEquals(ids.filter((x) => x === id).length, 1, `${version} ${id}`);
    }
    for (
      const id of ["packet.magic", "packet.version", "packet.pages-alloc", "packet.normal-pages"]
    ) {
      assertEquals(ids.filter((x) => x === id).length, 1, `${version} ${id}`);
    }
  }
});

Deno.test("formatPattern handles QEMU's conversions", () => {
  assertEquals(formatPattern("for channel %hhd").test("for channel -56"), true);
  assertEquals(formatPattern("is '%.*s' and").test("is 'pc' and"), true);
  assertEquals(formatPattern("a (b) [c] %u.").test("a (b) [c] 12."), true);
  assertEquals(formatPattern("a (b) [c] %u.").test("a (b) [c] x."), false);
  assertEquals(QEMU_MESSAGES.every((m) => m.since.length > 0 && m.where.length > 0), true);
});
