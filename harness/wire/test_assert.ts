/**
 * Assertions for the codec tests: `node:assert/strict` plus a throw check that returns the error,
 * so tests can look at its class and field.
 *
 * @module
 */

import assert from "node:assert/strict";

/** Deep strict equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  assert.deepStrictEqual(actual, expected, message);
}

/** Asserts that `fn` throws an instance of `type` whose message includes `includes`. */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  type: abstract new (...args: never[]) => E,
  includes?: string,
): E {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
    if (includes !== undefined) {
      assert.ok(
        (error as Error).message.includes(includes),
        `expected message to include ${JSON.stringify(includes)}: ${(error as Error).message}`,
      );
    }
    return error as E;
  }
  throw new assert.AssertionError({ message: `expected ${type.name} to be thrown` });
}
