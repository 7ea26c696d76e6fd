/**
 * CPU profiles of the TypeScript destination and source: one migration each against QEMU 10.0,
 * the TypeScript side run with `deno run --cpu-prof`, its `.cpuprofile` kept in the output
 * directory (open it in Chrome DevTools) and summarised into the hottest functions.
 *
 * @module
 */

import type { Implementation, RamSpec } from "../harness/implementation.ts";
import { summarizeProfile } from "./cpuprofile.ts";
import { runPair } from "./pair.ts";
import type { ProfileResult, Transport } from "./report.ts";
import { megabytesPerSecond } from "./stats.ts";
import { tsProcessImplementation } from "./ts_process.ts";

const ROOT = new URL("..", import.meta.url).pathname;
/** Socket ops: the window from the first to the last of them is the transfer. */
const TRANSFER_MARKERS = ["op_read", "op_write", "op_writev"];

/** Options of {@linkcode profileSide}. */
export interface ProfileOptions {
  readonly role: "source" | "destination";
  /** The QEMU on the other side. */
  readonly peer: Implementation;
  readonly channels: number;
  readonly transport: Transport;
  readonly ram: RamSpec;
  readonly expectedSha256: string;
  /** Output directory; the profile goes to `<out>/profile/<role>-<transport>.cpuprofile`. */
  readonly out: string;
  readonly timeoutMs: number;
}

/**
 * Profiles one TypeScript side through one migration.
 *
 * @example
 * ```ts ignore
 * import { profileSide } from "./profile.ts";
 * const result = await profileSide({ role: "destination", peer: qemu10, channels: 4, transport: "plain", ram, expectedSha256, out: "out/bench", timeoutMs: 300_000 });
 * console.log(result.top[0]);
 * ```
 */
export async function profileSide(options: ProfileOptions): Promise<ProfileResult> {
  const dir = `${options.out}/profile`;
  const name = `${options.role}-${options.transport}.cpuprofile`;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.remove(`${dir}/${name}`).catch(() => {});
  const ts = tsProcessImplementation({
    denoFlags: ["--cpu-prof", `--cpu-prof-dir=${dir}`, `--cpu-prof-name=${name}`],
  });
  const [src, dst] = options.role === "destination" ? [options.peer, ts] : [ts, options.peer];
  const base = {
    role: options.role,
    pair: { src: src.name, dst: dst.name },
    channels: options.channels,
    transport: options.transport,
  };
  try {
    const run = await runPair({
      src,
      dst,
      channels: options.channels,
      transport: options.transport,
      ram: options.ram,
      expectedSha256: options.expectedSha256,
      timeoutMs: options.timeoutMs,
    });
    if (!run.ok) throw new Error(run.reason);
    const summary = summarizeProfile(JSON.parse(await Deno.readTextFile(`${dir}/${name}`)), {
      limit: 20,
      root: ROOT,
      markers: TRANSFER_MARKERS,
    });
    return {
      ...base,
      file: `profile/${name}`,
      mbps: megabytesPerSecond(options.ram.mib * 1048576, run.seconds),
      ...summary,
    };
  } catch (error) {
    return {
      ...base,
      file: null,
      mbps: null,
      totalMs: 0,
      idleMs: 0,
      top: [],
      failure: error instanceof Error ? error.message : String(error),
    };
  }
}
