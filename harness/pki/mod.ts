/**
 * Test PKI: the committed credential sets under `fixtures/pki/` (`good`, `other-ca`,
 * `wrong-name`) and the generator that made them.
 *
 * @example
 * ```ts
 * import { pkiDir, readPki } from "./mod.ts";
 * const { caCert } = await readPki(pkiDir("good"));
 * console.log(caCert.length > 0);
 * ```
 *
 * @module
 */

export * from "./generate.ts";
export * from "./pki.ts";
