/**
 * Running one migration peer as a command, the part `destination` and `source` share: start it
 * with a signal that aborts on SIGINT (and after an optional bound), wait for its outcome, print
 * the final `result` line and return the exit code.
 *
 * @module
 */

import type { Outcome } from "../harness/implementation.ts";
import { printResult, untilInterrupted } from "./peer.ts";

/** What {@linkcode runPeer} needs of a started destination or source. */
export interface StartedPeer extends AsyncDisposable {
  outcome(): Promise<Outcome>;
}

/** How {@linkcode runPeer} runs one peer. */
export interface PeerRun<P extends StartedPeer> {
  /** Bound of the whole run, the start included; none when undefined. */
  readonly timeoutMs: number | undefined;
  /** Starts the peer; `signal` aborts on SIGINT or when the bound has passed. */
  start(signal: AbortSignal): Promise<P>;
  /** Called once the peer has started; what it returns is called once the outcome is in. */
  watch?(peer: P): () => void;
  /** Fields the `result` line carries before the counts, from the outcome. */
  extra?(outcome: Outcome): Readonly<Record<string, unknown>>;
}

/**
 * Starts the peer, waits for its outcome, prints the `result` line and disposes the peer.
 * Resolves with the exit code: 0 when the migration completed, 1 otherwise.
 *
 * @example
 * ```ts ignore
 * import { runPeer } from "./peer_run.ts";
 * import { startTsSource } from "../harness/ts/source.ts";
 * const code = await runPeer({
 *   timeoutMs: undefined,
 *   start: (signal) =>
 *     startTsSource({ connect, channels: 2, ram: { mib: 16, seed: 1 }, signal }),
 * });
 * ```
 */
export function runPeer<P extends StartedPeer>(run: PeerRun<P>): Promise<number> {
  return untilInterrupted(run.timeoutMs, async (signal): Promise<number> => {
    await using peer = await run.start(signal);
    const unwatch = run.watch?.(peer);
    try {
      const outcome = await peer.outcome();
      return printResult(outcome, run.extra?.(outcome) ?? {});
    } finally {
      unwatch?.();
    }
  });
}
