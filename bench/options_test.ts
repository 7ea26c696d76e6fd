import { deepStrictEqual as assertEquals, throws } from "node:assert/strict";
import { benchOptions, DEFAULT_PAIRS, parsePair, REFERENCE_PAIR } from "./options.ts";

Deno.test("benchOptions: a full run by default", () => {
  const options = benchOptions({});
  assertEquals(options.ramMib, 1024);
  assertEquals(options.channels, [1, 2, 4, 8]);
  assertEquals(options.transports, ["plain", "tls"]);
  assertEquals(options.pairs, [...DEFAULT_PAIRS]);
  assertEquals(options.runs, 3);
  assertEquals(options.suiteRuns, 3);
  assertEquals(options.out, "out/bench");
  assertEquals(options.compare, undefined);
});

Deno.test("benchOptions: --quick takes 256 MiB and one suite run; --ram-mib wins", () => {
  assertEquals(benchOptions({ quick: true }).ramMib, 256);
  assertEquals(benchOptions({ quick: true }).suiteRuns, 1);
  assertEquals(benchOptions({ quick: true, "ram-mib": "64" }).ramMib, 64);
});

Deno.test("benchOptions: lists split on commas, duplicates dropped", () => {
  const options = benchOptions({ channels: ["1,4", "4"], skip: "suite", transports: "plain" });
  assertEquals(options.channels, [1, 4]);
  assertEquals([...options.skip], ["suite"]);
  assertEquals(options.transports, ["plain"]);
});

Deno.test("benchOptions: the reference pair is always measured, first", () => {
  const options = benchOptions({ pairs: "ts:ts,qemu-10.0:qemu-10.0,ts:ts" });
  assertEquals(options.pairs, [REFERENCE_PAIR, { src: "ts", dst: "ts" }]);
});

Deno.test("benchOptions: bad values name the option", () => {
  throws(() => benchOptions({ channels: "0" }), /--channels/);
  throws(() => benchOptions({ runs: "two" }), /--runs/);
  throws(() => benchOptions({ skip: "memory" }), /--skip/);
  throws(() => benchOptions({ transports: "quic" }), /--transports/);
  throws(() => parsePair("ts"), /SRC:DST/);
});
