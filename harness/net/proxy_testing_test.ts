import assert from "node:assert/strict";
import type { Implementation, Outcome } from "../implementation.ts";
import { migrateThroughProxy } from "./proxy_testing.ts";

/** An implementation whose destination and source only log what happens to them. */
function fake(log: string[], failSource = false): Implementation {
  const outcome = (who: string): Outcome => ({ status: "completed", message: who });
  return {
    name: "fake",
    version: "0",
    destination: (options) => {
      log.push(`destination tls=${options.tls !== undefined}`);
      return Promise.resolve({
        endpoint: { hostname: "127.0.0.1", port: 1 },
        outcome: () => Promise.resolve(outcome("destination")),
        [Symbol.asyncDispose]: () => Promise.resolve(void log.push("destination disposed")),
      });
    },
    source: (options) => {
      log.push(`source → ${options.connect.port} tls=${options.tls?.hostname}`);
      if (failSource) return Promise.reject(new Error("source did not start"));
      return Promise.resolve({
        outcome: () => Promise.resolve(outcome("source")),
        [Symbol.asyncDispose]: () => Promise.resolve(void log.push("source disposed")),
      });
    },
  };
}

function fakeProxy(log: string[]) {
  return (upstream: { port: number }) => {
    log.push(`proxy → ${upstream.port}`);
    return Promise.resolve({
      endpoint: { hostname: "127.0.0.1", port: 2 },
      [Symbol.asyncDispose]: () => Promise.resolve(void log.push("proxy disposed")),
    });
  };
}

Deno.test("migrateThroughProxy keeps everything up until disposed, then stops it in reverse", async () => {
  const log: string[] = [];
  {
    await using run = await migrateThroughProxy(fake(log), {
      tls: true,
      ram: { mib: 1, seed: 1 },
      signal: AbortSignal.timeout(1000),
      proxy: fakeProxy(log),
    });
    assert.equal(run.source.message, "source");
    assert.equal(run.destination.message, "destination");
    assert.equal(run.proxy.endpoint.port, 2);
    log.push("looked");
  }
  assert.deepEqual(log, [
    "destination tls=true",
    "proxy → 1",
    "source → 2 tls=localhost",
    "looked",
    "source disposed",
    "proxy disposed",
    "destination disposed",
  ]);
});

Deno.test("migrateThroughProxy stops what it started when a later step fails", async () => {
  const log: string[] = [];
  await assert.rejects(
    migrateThroughProxy(fake(log, true), {
      tls: false,
      ram: { mib: 1, seed: 1 },
      signal: AbortSignal.timeout(1000),
      proxy: fakeProxy(log),
    }),
    /source did not start/,
  );
  assert.deepEqual(log, [
    "destination tls=false",
    "proxy → 1",
    "source → 2 tls=undefined",
    "proxy disposed",
    "destination disposed",
  ]);
});
