/**
 * Where the committed test PKI lives and how to read it for Deno's TLS APIs.
 *
 * @module
 */

import type { PkiSet } from "./generate.ts";

/** Directory of the committed test PKI (`fixtures/pki`). */
export const PKI_ROOT: string = new URL("../../fixtures/pki", import.meta.url).pathname;

/**
 * Directory of one committed credential set, in QEMU's file names, ready for a
 * `tls-creds-x509` object's `dir=` or for {@linkcode readPki}.
 *
 * @example
 * ```ts
 * import { pkiDir } from "./pki.ts";
 * console.log(pkiDir("good")); // …/fixtures/pki/good
 * ```
 */
export function pkiDir(set: PkiSet = "good"): string {
  return `${PKI_ROOT}/${set}`;
}

/** The PEM texts of one credential set. */
export interface PkiPem {
  /** `ca-cert.pem`. */
  readonly caCert: string;
  /** `server-cert.pem`. */
  readonly serverCert: string;
  /** `server-key.pem` (PKCS#8). */
  readonly serverKey: string;
  /** `client-cert.pem`. */
  readonly clientCert: string;
  /** `client-key.pem` (PKCS#8). */
  readonly clientKey: string;
}

/**
 * Reads the PEM files of a credential directory (QEMU's file names), e.g. for `Deno.listenTls`
 * (`cert: serverCert, key: serverKey`) or `Deno.connectTls` (`caCerts: [caCert]`).
 *
 * @example
 * ```ts
 * import { pkiDir, readPki } from "./pki.ts";
 * const pem = await readPki(pkiDir("good"));
 * console.log(pem.caCert.startsWith("-----BEGIN CERTIFICATE-----"));
 * ```
 */
export async function readPki(dir: string): Promise<PkiPem> {
  const read = (name: string) => Deno.readTextFile(`${dir}/${name}`);
  const [caCert, serverCert, serverKey, clientCert, clientKey] = await Promise.all([
    read("ca-cert.pem"),
    read("server-cert.pem"),
    read("server-key.pem"),
    read("client-cert.pem"),
    read("client-key.pem"),
  ]);
  return { caCert, serverCert, serverKey, clientCert, clientKey };
}
