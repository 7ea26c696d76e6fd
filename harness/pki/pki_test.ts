import assert from "node:assert/strict";
import { generatePki, PKI_SETS, WRONG_NAME } from "./generate.ts";
import { pkiDir, readPki } from "./pki.ts";

/** Handshakes a Deno TLS client (trusting `caSet`) with a Deno TLS server using `serverSet`. */
async function handshake(serverSet: string, caSet: string, hostname: string): Promise<void> {
  const server = await readPki(serverSet);
  const client = await readPki(caSet);
  using listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: server.serverCert,
    key: server.serverKey,
  });
  const accepted = (async () => {
    const conn = await listener.accept();
    await conn.handshake().catch(() => {});
    conn.close();
  })();
  try {
    const conn = await Deno.connectTls({
      hostname,
      port: listener.addr.port,
      caCerts: [client.caCert],
      cert: client.clientCert,
      key: client.clientKey,
    });
    try {
      await conn.handshake();
    } finally {
      conn.close();
    }
  } finally {
    await accepted;
  }
}

Deno.test("committed PKI: rustls accepts the good set for localhost and 127.0.0.1", async () => {
  await handshake(pkiDir("good"), pkiDir("good"), "localhost");
  await handshake(pkiDir("good"), pkiDir("good"), "127.0.0.1");
});

Deno.test("committed PKI: rustls rejects another CA and a mismatching name", async () => {
  await assert.rejects(
    () => handshake(pkiDir("other-ca"), pkiDir("good"), "localhost"),
    /UnknownIssuer/,
  );
  await assert.rejects(
    () => handshake(pkiDir("wrong-name"), pkiDir("good"), "localhost"),
    new RegExp(`not valid for name.*${WRONG_NAME.replace(".", "\\.")}`),
  );
});

Deno.test("generatePki writes complete sets that chain to their own CA", async () => {
  const dir = await Deno.makeTempDir({ prefix: "migwire-pki-test-" });
  try {
    await generatePki(dir, AbortSignal.timeout(60_000));
    for (const set of PKI_SETS) {
      const pem = await readPki(`${dir}/${set}`);
      for (const text of Object.values(pem)) assert.match(text, /^-----BEGIN /);
    }
    await handshake(`${dir}/good`, `${dir}/good`, "localhost");
    await handshake(`${dir}/other-ca`, `${dir}/other-ca`, "127.0.0.1");
    await assert.rejects(() => handshake(`${dir}/other-ca`, `${dir}/good`, "localhost"));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
