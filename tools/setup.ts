/**
 * Provisions the QEMU binaries the suite runs against (`deno task setup`):
 *
 * - QEMU 7.2 from the machine's own apt sources (`qemu-system-x86`), when missing and we are root;
 * - QEMU 10.0.2 from `bookworm-backports`, downloaded with a private apt configuration under
 *   `.cache/apt/` that copies the URIs and keyring of the machine's `bookworm` source, and
 *   unpacked with `dpkg -x` into `.cache/qemu/10.0.2/` (it runs with 7.2's libraries).
 *
 * Idempotent and quick when everything is present. Skipped when `MIGWIRE_SKIP_SETUP=1`. What cannot
 * be provisioned is reported and skipped: the suite runs with what it has.
 *
 * @module
 */

import { derivedSources, readMachineSources } from "./apt_sources.ts";

/** The QEMU 10.0 package pinned by the suite (the version the spec's observations were made on). */
export const QEMU_10_PACKAGE = "qemu-system-x86=1:10.0.2+ds-2+deb13u1~bpo12+1";
/** Directory name under `.cache/qemu/` the 10.0 package is unpacked into. */
export const QEMU_10_DIR = "10.0.2";
/** Where the system QEMU 7.2 lives once `qemu-system-x86` is installed. */
export const SYSTEM_QEMU = "/usr/bin/qemu-system-x86_64";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const CACHE = `${ROOT}/.cache`;
const STEP_TIMEOUT_MS = 10 * 60_000;

/** Result of one provisioning step, for the summary. */
export interface StepResult {
  readonly what: string;
  readonly ok: boolean;
  readonly detail: string;
}

/**
 * Runs every provisioning step and returns what each found or did.
 *
 * @example
 * ```ts ignore
 * import { setup } from "./setup.ts";
 * for (const step of await setup()) console.log(step.what, step.ok, step.detail);
 * ```
 */
export async function setup(): Promise<StepResult[]> {
  const system = await guarded("QEMU 7.2 (system)", ensureSystemQemu);
  const backports = await guarded(
    "QEMU 10.0 (bookworm-backports)",
    () => ensureBackportsQemu(system.ok),
  );
  return [system, backports];
}

async function guarded(what: string, step: () => Promise<StepResult>): Promise<StepResult> {
  try {
    return await step();
  } catch (error) {
    return { what, ok: false, detail: error instanceof Error ? error.message : String(error) };
  }
}

async function ensureSystemQemu(): Promise<StepResult> {
  const what = "QEMU 7.2 (system)";
  const present = await qemuVersion(SYSTEM_QEMU);
  if (present) return { what, ok: true, detail: `${SYSTEM_QEMU} ${present}` };
  if (!(await canUseApt())) {
    return { what, ok: false, detail: `${SYSTEM_QEMU} missing; install qemu-system-x86 as root` };
  }
  console.log("setup: installing qemu-system-x86 with apt-get");
  await run("apt-get", ["update"]);
  await run("apt-get", ["install", "-y", "qemu-system-x86"], {
    env: { DEBIAN_FRONTEND: "noninteractive" },
  });
  const installed = await qemuVersion(SYSTEM_QEMU);
  if (!installed) return { what, ok: false, detail: "apt-get install did not provide it" };
  return { what, ok: true, detail: `installed ${SYSTEM_QEMU} ${installed}` };
}

async function ensureBackportsQemu(systemQemuPresent: boolean): Promise<StepResult> {
  const what = "QEMU 10.0 (bookworm-backports)";
  const dir = `${CACHE}/qemu/${QEMU_10_DIR}`;
  const binary = `${dir}/usr/bin/qemu-system-x86_64`;
  const present = await qemuVersion(binary);
  if (present) return { what, ok: true, detail: `${binary} ${present}` };
  if (!systemQemuPresent) {
    return { what, ok: false, detail: "needs QEMU 7.2's libraries; install QEMU 7.2 first" };
  }
  if (!(await canUseApt())) {
    return { what, ok: false, detail: "needs root and apt-get to download the package" };
  }
  const sources = derivedSources(await readMachineSources(), "bookworm", "bookworm-backports");
  if (!sources) {
    return { what, ok: false, detail: "no apt source with suite bookworm on this machine" };
  }

  const apt = `${CACHE}/apt`;
  for (const sub of ["lists/partial", "parts", "cache/archives/partial", "debs"]) {
    await Deno.mkdir(`${apt}/${sub}`, { recursive: true });
  }
  await Deno.writeTextFile(`${apt}/backports.sources`, sources);
  const options = [
    ["Dir::Etc::sourcelist", `${apt}/backports.sources`],
    ["Dir::Etc::sourceparts", `${apt}/parts`],
    ["Dir::State::Lists", `${apt}/lists`],
    ["Dir::Cache", `${apt}/cache`],
  ].flatMap(([key, value]) => ["-o", `${key}=${value}`]);

  console.log(`setup: downloading ${QEMU_10_PACKAGE} from bookworm-backports`);
  await run("apt-get", [...options, "update"]);
  const debs = `${apt}/debs`;
  for await (const entry of Deno.readDir(debs)) await Deno.remove(`${debs}/${entry.name}`);
  await run("apt-get", [...options, "download", QEMU_10_PACKAGE], { cwd: debs });
  const deb = (await Array.fromAsync(Deno.readDir(debs))).find((e) => e.name.endsWith(".deb"));
  if (!deb) return { what, ok: false, detail: "apt-get download produced no .deb" };

  // Unpack beside the target and rename, so an interrupted run never leaves half a tree.
  await Deno.mkdir(`${CACHE}/qemu`, { recursive: true });
  const staging = await Deno.makeTempDir({ dir: `${CACHE}/qemu`, prefix: `.${QEMU_10_DIR}-` });
  try {
    await run("dpkg", ["-x", `${debs}/${deb.name}`, staging]);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.rename(staging, dir);
  } catch (error) {
    await Deno.remove(staging, { recursive: true }).catch(() => {});
    throw error;
  }
  await Deno.remove(`${debs}/${deb.name}`);
  const unpacked = await qemuVersion(binary);
  if (!unpacked) return { what, ok: false, detail: `${binary} does not run` };
  return { what, ok: true, detail: `unpacked ${binary} ${unpacked}` };
}

/** `X.Y.Z` from `<binary> --version`, or `undefined` if it is missing or does not run. */
async function qemuVersion(binary: string): Promise<string | undefined> {
  try {
    const output = await new Deno.Command(binary, {
      args: ["--version"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(10_000),
    }).output();
    if (!output.success) return undefined;
    const text = new TextDecoder().decode(output.stdout);
    return /QEMU emulator version (\d+\.\d+\.\d+)/.exec(text)?.[1];
  } catch {
    return undefined;
  }
}

async function canUseApt(): Promise<boolean> {
  if (Deno.uid() !== 0) return false;
  try {
    await Deno.stat("/usr/bin/apt-get");
    return true;
  } catch {
    return false;
  }
}

async function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<void> {
  const output = await new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(STEP_TIMEOUT_MS),
  }).output();
  if (!output.success) {
    const stderr = new TextDecoder().decode(output.stderr).trim().split("\n").slice(-5).join("\n");
    throw new Error(`${command} ${args.join(" ")} failed (exit ${output.code}):\n${stderr}`);
  }
}

if (import.meta.main) {
  if (Deno.env.get("MIGWIRE_SKIP_SETUP") === "1") {
    console.log("setup: skipped (MIGWIRE_SKIP_SETUP=1)");
  } else {
    const results = await setup();
    for (const { what, ok, detail } of results) {
      console.log(`setup: ${ok ? "ok" : "MISSING"} ${what}: ${detail}`);
    }
    if (results.some((step) => !step.ok)) {
      console.log("setup: continuing; the suite runs with the QEMU binaries it finds");
    }
  }
}
