import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { junitCounts } from "./junit_counts.ts";

Deno.test("junitCounts counts passed, failed and skipped test cases", () => {
  const xml = `<?xml version="1.0"?><testsuites tests="4">
  <testsuite name="a"><testcase name="ok" time="0.1"></testcase>
  <testcase name="bad"><failure message="x">trace</failure></testcase>
  <testcase name="empty"/>
  <testcase name="skip"><skipped/></testcase></testsuite></testsuites>`;
  assertEquals(junitCounts(xml), { passed: 2, failed: 1, skipped: 1 });
});

Deno.test("junitCounts of a report with no test cases is zero", () => {
  assertEquals(junitCounts("<testsuites></testsuites>"), { passed: 0, failed: 0, skipped: 0 });
});
