import assert from "node:assert/strict";
import { choiceOption, stringOption, UsageError } from "./command.ts";

Deno.test("choiceOption takes one of its words and names the others", () => {
  assert.equal(choiceOption({ close: "abrupt" }, "close", ["clean", "abrupt"] as const), "abrupt");
  assert.throws(
    () => choiceOption({ close: "soft" }, "close", ["clean", "abrupt"] as const),
    (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.message, '--close must be clean or abrupt, got "soft"');
      return true;
    },
  );
});

Deno.test("stringOption is the value or undefined", () => {
  assert.equal(stringOption({ ram: "ram.bin" }, "ram"), "ram.bin");
  assert.equal(stringOption({}, "ram"), undefined);
});
