/**
 * Prints `PASSED FAILED` counted from a JUnit report written by `deno test --junit-path`, read
 * from stdin (`deno run tools/junit_counts.ts <report.xml`).
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
  // The report comes on stdin, so no read permission is needed, whatever path it has.
  const { passed, failed } = junitCounts(await new Response(Deno.stdin.readable).text());
  console.log(`${passed} ${failed}`);
}
