/**
 * Reads a V8 `.cpuprofile` (what `deno run --cpu-prof` writes) into the functions that took the
 * most time: self time (in the function's own code) and total time (with what it called), each as
 * a share of the busy time, so the idle wait for the network is left out.
 *
 * @module
 */

import type { ProfileEntry } from "./report.ts";

/** The parts of a `.cpuprofile` read here. */
export interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: {
      readonly functionName: string;
      readonly url: string;
      readonly lineNumber: number;
    };
    readonly children?: readonly number[];
  }[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Options of {@linkcode summarizeProfile}. */
export interface SummaryOptions {
  /** How many functions to list; default 15. */
  readonly limit?: number;
  /** Path prefix cut from file URLs, e.g. the repository root. */
  readonly root?: string;
  /**
   * Only the samples from the first to the last one whose stack has a frame of one of these
   * names count, e.g. `op_read` and `op_write`: the transfer, without start-up and digests.
   */
  readonly markers?: readonly string[];
}

/** The hot functions of a profile. */
export interface ProfileSummary {
  /** Sampled milliseconds, idle included. */
  readonly totalMs: number;
  /** Milliseconds the thread was idle (waiting for I/O). */
  readonly idleMs: number;
  /** Hottest first, by self time. */
  readonly top: readonly ProfileEntry[];
}

/**
 * Summarises `profile`: the functions with the most self time, within the window the markers
 * span if given. Shares are of the busy (non-idle) time. Frames are keyed by name and location.
 *
 * @example
 * ```ts
 * import { summarizeProfile } from "./cpuprofile.ts";
 * const frame = (functionName: string) => ({ functionName, url: "file:///a.ts", lineNumber: 0 });
 * const summary = summarizeProfile({
 *   nodes: [
 *     { id: 1, callFrame: frame("(root)"), children: [2] },
 *     { id: 2, callFrame: frame("main"), children: [3] },
 *     { id: 3, callFrame: frame("hash") },
 *   ],
 *   samples: [3, 3, 2],
 *   timeDeltas: [1000, 1000, 1000],
 * });
 * console.log(summary.top[0].functionName); // "hash"
 * ```
 */
export function summarizeProfile(
  profile: CpuProfile,
  options: SummaryOptions = {},
): ProfileSummary {
  const { limit = 15, root = "" } = options;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) {
    for (const child of node.children ?? []) parent.set(child, node.id);
  }
  const keyOf = (id: number) => {
    const frame = byId.get(id)!.callFrame;
    const url = root && frame.url.includes(root)
      ? frame.url.slice(frame.url.indexOf(root) + root.length)
      : frame.url.replace(/^file:\/\//, "");
    const location = url ? `${url}:${frame.lineNumber + 1}` : "";
    const name = frame.functionName || "(anonymous)";
    return { key: `${frame.functionName}@${location}`, name, location };
  };
  const self = new Map<string, { name: string; location: string; us: number }>();
  const total = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  const markers = new Set(options.markers ?? []);
  const marked = (id: number) => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      if (markers.has(byId.get(at)!.callFrame.functionName)) return true;
    }
    return false;
  };
  let first = 0;
  let last = profile.samples.length - 1;
  if (markers.size > 0) {
    first = profile.samples.findIndex(marked);
    last = profile.samples.findLastIndex(marked);
  }
  profile.samples.forEach((id, i) => {
    if (first < 0 || i < first || i > last) return;
    // A sample lasts until the next one; the last sample gets the mean interval.
    const us = profile.timeDeltas[i + 1] ?? (totalUs / Math.max(1, i - first));
    totalUs += us;
    const { key, name, location } = keyOf(id);
    if (name === "(idle)") {
      idleUs += us;
      return;
    }
    const entry = self.get(key) ?? { name, location, us: 0 };
    entry.us += us;
    self.set(key, entry);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const k = keyOf(at).key;
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + us);
    }
  });
  const busy = Math.max(1, totalUs - idleUs);
  const top = [...self.entries()]
    .sort((a, b) => b[1].us - a[1].us)
    .slice(0, limit)
    .map(([key, entry]) => ({
      functionName: entry.name,
      location: entry.location,
      selfMs: entry.us / 1000,
      selfShare: entry.us / busy,
      totalMs: (total.get(key) ?? 0) / 1000,
      totalShare: (total.get(key) ?? 0) / busy,
    }));
  return { totalMs: totalUs / 1000, idleMs: idleUs / 1000, top };
}
