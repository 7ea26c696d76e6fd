/**
 * Prints `PASSED FAILED` counted from a JUnit report written by `deno test --junit-path`.
 * Steps count as test cases of their own; a test with failing steps counts once per failure.
 *
 * @module
 */

/**
 * Counts passed and failed test cases in JUnit XML.
 *
 * @example
 * ```ts
 * import { junitCounts } from "./junit_counts.ts";
 * const xml = '<testsuites><testcase name="a"></testcase><testcase name="b"><failure/></testcase></testsuites>';
 * console.log(junitCounts(xml)); // { passed: 1, failed: 1, skipped: 0 }
 * ```
 */
export function junitCounts(xml: string): { passed: number; failed: number; skipped: number } {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const testcase = /<testcase\b[^>]*?(\/>|>([\s\S]*?)<\/testcase>)/g;
  for (const match of xml.matchAll(testcase)) {
    const body = match[2] ?? "";
    if (/<(failure|error)\b/.test(body)) failed++;
    else if (/<skipped\b/.test(body)) skipped++;
    else passed++;
  }
  return { passed, failed, skipped };
}

if (import.meta.main) {
  const path = Deno.args[0];
  if (!path) {
    console.error("usage: junit_counts.ts REPORT.xml");
    Deno.exit(2);
  }
  const { passed, failed } = junitCounts(await Deno.readTextFile(path));
  console.log(`${passed} ${failed}`);
}
