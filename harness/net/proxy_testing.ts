/**
 * Building blocks for tests of the proxies against real QEMU: one migration from a QEMU source
 * through a proxy to a QEMU destination of the same version, kept running until the test has
 * looked at the proxy.
 *
 * @module
 */

import type { Endpoint, Implementation, Outcome, RamSpec } from "../implementation.ts";
import { pkiDir } from "../pki/pki.ts";

/** A proxy as the tests start it: where the source connects, and disposable. */
export interface TestProxy extends AsyncDisposable {
  readonly endpoint: Endpoint;
}

/** Options of {@linkcode migrateThroughProxy}. */
export interface ProxiedMigrationOptions<P extends TestProxy> {
  /** TLS on both QEMUs with the `good` test PKI (the source checks the name `localhost`). */
  readonly tls: boolean;
  /** The source's RAM; the destination starts from seed 0. */
  readonly ram: RamSpec;
  /** Bounds everything: both QEMUs and both outcomes. */
  readonly signal: AbortSignal;
  /** Starts the proxy toward the destination. */
  proxy(upstream: Endpoint): Promise<P>;
}

/** A migration that has ended. Dispose it to stop the source, the proxy and the destination. */
export interface ProxiedMigration<P extends TestProxy> extends AsyncDisposable {
  readonly proxy: P;
  readonly source: Outcome;
  readonly destination: Outcome;
}

/**
 * Migrates `qemu` → proxy → `qemu` with two multifd channels and waits for both outcomes. What
 * was started is stopped again if anything fails; otherwise it stays up until the result is
 * disposed, so the proxy can still be asked what it saw.
 *
 * @example Record a QEMU migration
 * ```ts ignore
 * import { startCaptureProxy } from "./capture_proxy.ts";
 * import { migrateThroughProxy } from "./proxy_testing.ts";
 * await using run = await migrateThroughProxy(qemu, {
 *   tls: false,
 *   ram: { mib: 16, seed: 11, density: 0.25 },
 *   signal: AbortSignal.timeout(60_000),
 *   proxy: (upstream) => startCaptureProxy({ upstream }),
 * });
 * console.log(run.destination.status, (await run.proxy.finished({ connections: 3 })).bytes);
 * ```
 */
export async function migrateThroughProxy<P extends TestProxy>(
  qemu: Implementation,
  options: ProxiedMigrationOptions<P>,
): Promise<ProxiedMigration<P>> {
  const { ram, signal } = options;
  const dir = options.tls ? pkiDir("good") : undefined;
  await using stack = new AsyncDisposableStack();
  const dst = stack.use(
    await qemu.destination({
      channels: 2,
      ram: { mib: ram.mib, seed: 0 },
      peer: qemu,
      tls: dir ? { dir } : undefined,
      signal,
    }),
  );
  const proxy = stack.use(await options.proxy(dst.endpoint));
  const src = stack.use(
    await qemu.source({
      channels: 2,
      ram,
      connect: proxy.endpoint,
      peer: qemu,
      tls: dir ? { dir, hostname: "localhost" } : undefined,
      signal,
    }),
  );
  const [source, destination] = await Promise.all([src.outcome(signal), dst.outcome(signal)]);
  const running = stack.move();
  return {
    proxy,
    source,
    destination,
    [Symbol.asyncDispose]: () => running.disposeAsync(),
  };
}
