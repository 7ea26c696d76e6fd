import assert from "node:assert/strict";
import {
  derivedSources,
  parseDeb822Sources,
  parseOneLineSources,
  readMachineSources,
} from "./apt_sources.ts";

const DEB822 = `Types: deb
# a comment
URIs: http://mirror.test/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/test.gpg

Types: deb
URIs: http://mirror.test/debian-security
Suites: bookworm-security
Components: main

Types: deb-src
URIs: http://src.test/debian
Suites: bookworm

Enabled: no
Types: deb
URIs: http://disabled.test/debian
Suites: bookworm

Types: deb
URIs: http://inline.test/debian
Suites: bookworm
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 AAAA
 -----END PGP PUBLIC KEY BLOCK-----
`;

Deno.test("parseDeb822Sources keeps enabled binary entries and their keyrings", () => {
  const sources = parseDeb822Sources(DEB822);
  assert.deepEqual(sources.map((s) => s.uris[0]), [
    "http://mirror.test/debian",
    "http://mirror.test/debian-security",
    "http://inline.test/debian",
  ]);
  assert.deepEqual(sources[0].suites, ["bookworm", "bookworm-updates"]);
  assert.equal(sources[0].signedBy, "/usr/share/keyrings/test.gpg");
  assert.equal(sources[1].signedBy, undefined);
  assert.equal(
    sources[2].signedBy,
    "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----",
  );
});

Deno.test("parseOneLineSources reads options, suite and components", () => {
  const sources = parseOneLineSources(
    "# deb http://commented.test/debian bookworm main\n" +
      "deb [arch=amd64 signed-by=/k.gpg] http://mirror.test/debian bookworm main contrib\n" +
      "deb-src http://mirror.test/debian bookworm main\n" +
      "deb http://plain.test/debian bookworm-backports main # trailing\n",
  );
  assert.equal(sources.length, 2);
  assert.deepEqual(sources[0], {
    uris: ["http://mirror.test/debian"],
    suites: ["bookworm"],
    components: ["main", "contrib"],
    signedBy: "/k.gpg",
  });
  assert.deepEqual(sources[1].suites, ["bookworm-backports"]);
  assert.equal(sources[1].signedBy, undefined);
});

Deno.test("derivedSources copies URIs and keyring of exactly the base suite", () => {
  const text = derivedSources(parseDeb822Sources(DEB822), "bookworm", "bookworm-backports");
  assert.equal(
    text,
    [
      "Types: deb",
      "URIs: http://mirror.test/debian",
      "Suites: bookworm-backports",
      "Components: main",
      "Signed-By: /usr/share/keyrings/test.gpg",
      "",
      "Types: deb",
      "URIs: http://inline.test/debian",
      "Suites: bookworm-backports",
      "Components: main",
      "Signed-By:",
      " -----BEGIN PGP PUBLIC KEY BLOCK-----",
      " .",
      " AAAA",
      " -----END PGP PUBLIC KEY BLOCK-----",
      "",
    ].join("\n"),
  );
  assert.equal(derivedSources(parseDeb822Sources(DEB822), "trixie", "trixie-backports"), undefined);
});

Deno.test("readMachineSources reads a directory laid out like /etc/apt", async () => {
  const etc = await Deno.makeTempDir({ prefix: "migwire-apt-test-" });
  try {
    await Deno.mkdir(`${etc}/sources.list.d`);
    await Deno.writeTextFile(`${etc}/sources.list`, "deb http://one.test/debian bookworm main\n");
    await Deno.writeTextFile(`${etc}/sources.list.d/a.sources`, DEB822);
    await Deno.writeTextFile(`${etc}/sources.list.d/b.list.disabled`, "deb http://x.test/ a b\n");
    const uris = (await readMachineSources(etc)).map((s) => s.uris[0]);
    assert.deepEqual(uris, [
      "http://one.test/debian",
      "http://mirror.test/debian",
      "http://mirror.test/debian-security",
      "http://inline.test/debian",
    ]);
  } finally {
    await Deno.remove(etc, { recursive: true });
  }
});
