/**
 * Opens the source's channels in the scripted order. Each multifd channel writes its init packet
 * right after its TLS handshake: a QEMU destination reads the 64-byte init synchronously in its
 * main loop, so holding it back would stall every later handshake. Channels connect one after the
 * other, because QEMU TLS destinations (and 7.2 with plain TCP) take them in arrival order.
 *
 * @module
 */

import type { Endpoint } from "../implementation.ts";
import { WireError } from "../wire/errors.ts";
import type { InitPlan } from "./src_init.ts";
import type { TlsClientCredentials } from "../net/tls.ts";
import { type CloseMode, SourceConnection } from "./src_connection.ts";
import type { ChannelSlot, ConnectionOrder, SourceEvent } from "./source_options.ts";

/** A multifd channel as opened: its slot, its init and what follows it. */
export interface OpenedMultifd {
  readonly slot: number;
  readonly init: InitPlan;
  readonly connection: SourceConnection;
}

/** What {@linkcode openChannels} needs. */
export interface ConnectPlan {
  readonly endpoint: Endpoint;
  readonly order: readonly ChannelSlot[];
  /** Init plan of every multifd slot (regular ones first, then extras). */
  readonly inits: readonly InitPlan[];
  readonly mainDelayMs?: number;
  readonly tls?: TlsClientCredentials;
  /** How the channels end when they are disposed of without a close. */
  readonly closeMode?: CloseMode;
  readonly timeoutMs: number;
  /** Bound of each TLS handshake. */
  readonly handshakeTimeoutMs?: number;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: SourceEvent) => void;
}

/** Everything opened; dispose closes what is still open. */
export interface OpenedChannels extends AsyncDisposable {
  readonly main?: SourceConnection;
  /** Opened multifd channels in connection order. */
  readonly multifd: readonly OpenedMultifd[];
}

/**
 * Expands an order into the list of slots: `main-first` (QEMU's), `main-last`, or an explicit
 * permutation of `"main"` and slot numbers (`0..total-1`; a subset connects fewer channels).
 *
 * @throws {RangeError} naming the slot when one is unknown or repeated.
 * @example
 * ```ts
 * import { expandOrder } from "./src_connect.ts";
 * console.log(expandOrder("main-last", 2)); // [0, 1, "main"]
 * ```
 */
export function expandOrder(order: ConnectionOrder | undefined, total: number): ChannelSlot[] {
  const multifd = Array.from({ length: total }, (_, i) => i);
  if (order === undefined || order === "main-first") return ["main", ...multifd];
  if (order === "main-last") return [...multifd, "main"];
  const seen = new Set<ChannelSlot>();
  for (const slot of order) {
    if (slot !== "main" && !(Number.isInteger(slot) && slot >= 0 && slot < total)) {
      throw new RangeError(`order: unknown channel slot ${JSON.stringify(slot)} (0..${total - 1})`);
    }
    if (seen.has(slot)) throw new RangeError(`order: slot ${JSON.stringify(slot)} repeated`);
    seen.add(slot);
  }
  return [...order];
}

/**
 * Connects every slot of `plan.order` in turn, writing each multifd init right after its
 * connection is up. On failure everything opened so far is closed.
 *
 * @example
 * ```ts ignore
 * import { openChannels } from "./src_connect.ts";
 * await using channels = await openChannels(plan);
 * ```
 */
export async function openChannels(plan: ConnectPlan): Promise<OpenedChannels> {
  let main: SourceConnection | undefined;
  const multifd: OpenedMultifd[] = [];
  const all: SourceConnection[] = [];
  const opened: OpenedChannels = {
    get main() {
      return main;
    },
    multifd,
    async [Symbol.asyncDispose]() {
      await Promise.all(all.map((c) => c[Symbol.asyncDispose]()));
    },
  };
  try {
    for (const slot of plan.order) {
      const name = slot === "main" ? "main channel" : `multifd channel ${slot}`;
      if (slot === "main" && plan.mainDelayMs) await delay(plan.mainDelayMs, plan.signal);
      const init = slot === "main" ? undefined : plan.inits[slot];
      const connection = await SourceConnection.open(plan.endpoint, {
        name,
        // A channel that stalls in its handshake writes the ClientHello's first bytes itself.
        tls: init?.tlsStall ? undefined : plan.tls,
        closeMode: plan.closeMode,
        timeoutMs: plan.timeoutMs,
        handshakeTimeoutMs: plan.handshakeTimeoutMs,
        writeTimeoutMs: plan.timeoutMs,
        signal: plan.signal,
      });
      all.push(connection);
      if (slot === "main") {
        main = connection;
        plan.onEvent?.({ event: "connected", kind: "main" });
        continue;
      }
      if (!init) throw new RangeError(`order: no init planned for slot ${slot}`);
      plan.onEvent?.({ event: "connected", kind: "multifd", id: init.id });
      if (init.tlsStall && init.tlsStall.length > 0) {
        await connection.writer.write(init.tlsStall, { signal: plan.signal, what: "ClientHello" });
      }
      if (init.bytes.length > 0) {
        await connection.writer.write(init.bytes, { signal: plan.signal, what: "init packet" });
      }
      if (init.then === "close") await connection.close("clean", { signal: plan.signal });
      multifd.push({ slot, init, connection });
    }
    return opened;
  } catch (error) {
    await opened[Symbol.asyncDispose]();
    throw error;
  }
}

/** Waits `ms`, or rejects with `E_TIMEOUT` when `signal` aborts first. */
function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new WireError("E_TIMEOUT", `aborted during a ${ms} ms delay: ${signal?.reason}`));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
  });
}
