/**
 * Generates the test PKI with `openssl`: certificate authorities and leaves in QEMU's file names
 * (`ca-cert.pem`, `server-cert.pem`, `server-key.pem`, `client-cert.pem`, `client-key.pem`).
 *
 * Run `deno run -A harness/pki/generate.ts [dir]` (default `fixtures/pki`) to regenerate the
 * committed fixtures.
 *
 * @module
 */

/** Sets of credentials {@linkcode generatePki} writes, one directory each. */
export const PKI_SETS = ["good", "other-ca", "wrong-name"] as const;

/** One set of credentials. */
export type PkiSet = typeof PKI_SETS[number];

/** Validity of every generated certificate: 100 years, starting in the past so clock skew is moot. */
const NOT_BEFORE = "20200101000000Z";
const NOT_AFTER = "21200101000000Z";

/** Names a destination's certificate is valid for in the good and other-ca sets. */
const LOCAL_NAMES = "DNS:localhost,IP:127.0.0.1";

/** A name no source asks for, for hostname-mismatch cases. */
export const WRONG_NAME = "wrong-name.invalid";

const CONFIG = `
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
default_ca = ca_default
[ca_default]
database = ./index.txt
new_certs_dir = .
serial = ./serial
default_md = sha256
policy = policy_any
unique_subject = no
preserve = yes
email_in_dn = no
[policy_any]
organizationName = optional
commonName = supplied
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical, CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = \${ENV::MIGWIRE_SAN}
[client_ext]
basicConstraints = critical, CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = \${ENV::MIGWIRE_SAN}
`;

/**
 * Writes three credential sets under `dir`, each a complete directory QEMU's `tls-creds-x509`
 * object accepts (QEMU checks at load time that the leaves chain to `ca-cert.pem` of the same
 * directory):
 *
 * - `good/`: CA "migwire test CA", server leaf for `localhost` and `127.0.0.1`, client leaf.
 * - `other-ca/`: an unrelated CA with its own server and client leaves, for wrong-CA cases.
 * - `wrong-name/`: the good CA and client leaf, and a server leaf named only
 *   {@linkcode WRONG_NAME}, for hostname-mismatch cases.
 *
 * Keys are EC P-256 (PKCS#8), certificates X.509 v3 valid from 2020 to 2120. The CA keys are
 * kept as `ca-key.pem` so further leaves can be minted. Each set also holds `dh-params.pem`, the
 * RFC 7919 `ffdhe2048` group, which QEMU servers would otherwise generate at every start.
 *
 * @example
 * ```ts ignore
 * import { generatePki } from "./generate.ts";
 * const dir = await Deno.makeTempDir();
 * await generatePki(dir);
 * ```
 */
export async function generatePki(dir: string, signal?: AbortSignal): Promise<void> {
  const work = await Deno.makeTempDir({ prefix: "migwire-pki-" });
  try {
    for (const set of PKI_SETS) await Deno.mkdir(`${dir}/${set}`, { recursive: true });
    const good = `${dir}/good`;
    const other = `${dir}/other-ca`;
    const wrong = `${dir}/wrong-name`;

    const goodCa = await makeCa(work, good, "migwire test CA", signal);
    await goodCa.issue(good, "server", "localhost", LOCAL_NAMES);
    await goodCa.issue(good, "client", "migwire test client", LOCAL_NAMES);
    await goodCa.issue(wrong, "server", WRONG_NAME, `DNS:${WRONG_NAME}`);
    for (const name of ["ca-cert.pem", "client-cert.pem", "client-key.pem"]) {
      await Deno.copyFile(`${good}/${name}`, `${wrong}/${name}`);
    }

    const otherCa = await makeCa(work, other, "migwire other test CA", signal);
    await otherCa.issue(other, "server", "localhost", LOCAL_NAMES);
    await otherCa.issue(other, "client", "migwire test client", LOCAL_NAMES);

    // Without dh-params.pem every QEMU TLS server generates 2048-bit DH parameters at start-up
    // (qcrypto_tls_creds_get_dh_params_file), which costs 0.1-0.8 s per launch.
    await openssl(
      ["genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:ffdhe2048", "-out", "dh.pem"],
      work,
      LOCAL_NAMES,
      signal,
    );
    for (const set of PKI_SETS) {
      await Deno.copyFile(`${work}/dh.pem`, `${dir}/${set}/dh-params.pem`);
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

interface Ca {
  issue(dir: string, role: "server" | "client", commonName: string, san: string): Promise<void>;
}

/** Creates a CA in `dir` whose `openssl ca` state (database, serial) lives in a fresh work dir. */
async function makeCa(work: string, dir: string, name: string, signal?: AbortSignal): Promise<Ca> {
  const state = await Deno.makeTempDir({ dir: work });
  await Deno.writeTextFile(`${state}/openssl.cnf`, CONFIG);
  await Deno.writeTextFile(`${state}/index.txt`, "");
  await Deno.writeTextFile(`${state}/serial`, "01\n");
  const run = (args: string[], san = LOCAL_NAMES) => openssl(args, state, san, signal);
  const common = ["-batch", "-config", "openssl.cnf", "-notext", "-startdate", NOT_BEFORE];

  await newKeyAndRequest(run, `${dir}/ca-key.pem`, `${state}/ca.csr`, name);
  await run([
    "ca",
    ...common,
    "-enddate",
    NOT_AFTER,
    "-selfsign",
    "-keyfile",
    `${dir}/ca-key.pem`,
    "-in",
    `${state}/ca.csr`,
    "-out",
    `${dir}/ca-cert.pem`,
    "-extensions",
    "ca_ext",
  ]);

  return {
    async issue(leafDir, role, commonName, san) {
      const csr = `${state}/${role}.csr`;
      await newKeyAndRequest(run, `${leafDir}/${role}-key.pem`, csr, commonName);
      await run([
        "ca",
        ...common,
        "-enddate",
        NOT_AFTER,
        "-cert",
        `${dir}/ca-cert.pem`,
        "-keyfile",
        `${dir}/ca-key.pem`,
        "-in",
        csr,
        "-out",
        `${leafDir}/${role}-cert.pem`,
        "-extensions",
        `${role}_ext`,
      ], san);
    },
  };
}

function newKeyAndRequest(run: Run, key: string, csr: string, commonName: string): Promise<void> {
  return run([
    "req",
    "-config",
    "openssl.cnf",
    "-new",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-keyout",
    key,
    "-out",
    csr,
    "-subj",
    `/O=migwire/CN=${commonName}`,
  ]);
}

type Run = (args: string[], san?: string) => Promise<void>;

async function openssl(
  args: string[],
  cwd: string,
  san: string,
  signal?: AbortSignal,
): Promise<void> {
  const timeout = AbortSignal.timeout(30_000);
  const output = await new Deno.Command("openssl", {
    args,
    cwd,
    env: { MIGWIRE_SAN: san },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
  }).output();
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim();
    throw new Error(`openssl ${args[0]} failed (exit ${output.code}): ${stderr}`);
  }
}

if (import.meta.main) {
  const dir = Deno.args[0] ?? new URL("../../fixtures/pki", import.meta.url).pathname;
  await generatePki(dir);
  console.log(`test PKI written to ${dir}: ${PKI_SETS.join(", ")}`);
}
