/**
 * The destination's consumer of the main channel, in the order of QEMU's `qemu_loadvm_state()`
 * (`migration/savevm.c`) and `ram_load_precopy()` (`migration/ram.c`). The wire's
 * {@linkcode MainStreamDecoder} decodes the records; this module applies them: RAM records go into
 * the RAM image, sync points wait on the multifd barrier, the configuration is checked against this
 * destination, and every record is written to the transcript.
 *
 * @module
 */

import type { ByteReader } from "../net/read.ts";
import type { WaitOptions } from "../net/wait.ts";
import { toHex } from "../wire/bytes.ts";
import { hex, WireError } from "../wire/errors.ts";
import { QEMU_VM_FILE_MAGIC, QEMU_VM_FILE_VERSION_COMPAT } from "../wire/main_stream.ts";
import {
  type ConfigurationSubsection,
  MainStreamDecoder,
  type MainStreamEvent,
} from "../wire/main_stream_decoder.ts";
import { formatUuid } from "../wire/uuid.ts";
import type { VmState, VmStateValue } from "../wire/vmdesc.ts";
import type { FlushStyle } from "../wire/versions.ts";
import { PAGE_SIZE } from "../ram/pattern.ts";
import type { RamImage } from "./dst_ram_image.ts";
import type { SyncBarrier } from "./dst_sync.ts";
import type { MainRecord, ObservedMain } from "./dst_transcript.ts";

/** Default bound of the stream tail kept to decode device sections. */
export const DEFAULT_MAX_DEVICE_TAIL = 64 * 1024 * 1024;
/** Bytes read from the main channel at a time. */
const READ_CHUNK = 256 * 1024;
/** Longest byte value shown per device field in a transcript. */
const MAX_FIELD_BYTES = 128;
/** Most fields shown per device section in a transcript. */
const MAX_FIELDS = 256;

/** What the main-stream consumer works with. */
export interface MainStreamContext {
  readonly reader: ByteReader;
  readonly ram: RamImage;
  readonly barrier: SyncBarrier;
  /** Which RAM record is a sync point: `eos` (≤ 8.0 sources) or `multifd-flush` (8.1+). */
  readonly flushStyle: FlushStyle;
  /** The destination's VM UUID, for `configuration/uuid`. */
  readonly uuid: Uint8Array;
  /** Aborts every wait (the migration failed elsewhere). */
  readonly signal: AbortSignal;
  /** Bound of each read, in milliseconds. */
  readonly readTimeoutMs: number;
  /** Bound of the tail kept for device sections. Default {@linkcode DEFAULT_MAX_DEVICE_TAIL}. */
  readonly maxDeviceTail?: number;
  /** Called once the header has been read, before any section: waits for every channel. */
  readonly afterHeader?: () => Promise<void>;
  /** Where decoded records go. */
  readonly observed: (main: ObservedMain) => void;
}

type RamCounts = NonNullable<MainRecord["ram"]>;

/**
 * Reads and applies a whole main stream. Resolves once the stream is whole: its VM description
 * has been read, or (without one) the channel ended after `QEMU_VM_EOF`.
 *
 * @throws {WireError} `E_MAGIC`/`E_VERSION` for the header, `E_UUID` for a configuration UUID
 * that is not the destination's, `E_STREAM` for anything else the stream gets wrong, `E_TIMEOUT`
 * / `E_TRUNCATED` from the transport.
 * @example
 * ```ts ignore
 * await consumeMainStream({ reader, ram, barrier, flushStyle: "multifd-flush", ... });
 * ```
 */
export async function consumeMainStream(ctx: MainStreamContext): Promise<void> {
  await new MainStreamConsumer(ctx).run();
}

class MainStreamConsumer {
  readonly #ctx: MainStreamContext;
  #main!: ObservedMain;
  /** What the current part of the RAM section carried. */
  #part: RamCounts | null = null;
  #ramStarted = false;

  constructor(ctx: MainStreamContext) {
    this.#ctx = ctx;
  }

  async run(): Promise<void> {
    const { reader } = this.#ctx;
    // The header is recorded before it is checked: a stream that is not one shows how it began.
    const head = await reader.peek(8, this.#wait("main.header"));
    const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
    this.#main = {
      magic: view.getUint32(0),
      version: view.getUint32(4),
      records: [],
      syncPoints: 0,
      flushes: 0,
      eos: 0,
      zeroPages: 0,
      normalPages: 0,
      eof: false,
    };
    this.#ctx.observed(this.#main);
    const decoder = new MainStreamDecoder({
      pageSize: PAGE_SIZE,
      maxDeviceBytes: this.#ctx.maxDeviceTail ?? DEFAULT_MAX_DEVICE_TAIL,
    });
    const chunk = new Uint8Array(READ_CHUNK);
    const events: MainStreamEvent[] = [];
    for (;;) {
      const n = await reader.read(chunk, this.#wait("main stream"));
      events.length = 0;
      let whole = n === null;
      let failure: unknown;
      try {
        if (n !== null) decoder.push(chunk.subarray(0, n), events);
        // Stop after the VM description, as QEMU does: a source need not end the channel, and
        // QEMU's never end a TLS main channel with close_notify.
        whole ||= decoder.complete;
        if (whole) decoder.end(events);
      } catch (error) {
        failure = error;
      }
      // The records before a failure come first: the first thing the stream got wrong is reported.
      await this.#apply(events);
      if (failure !== undefined) throw headerError(failure);
      if (whole) return;
    }
  }

  /** Applies decoded records in order; page views alias the read buffer and are copied here. */
  async #apply(events: readonly MainStreamEvent[]): Promise<void> {
    const image = this.#ctx.ram;
    const main = this.#main;
    for (const event of events) {
      switch (event.type) {
        case "ram-zero":
          if (event.fill !== 0) {
            // QEMU 7.2 memset the page with it; 9.0+ refuse ("Found a zero page with value").
            throw streamError(
              "zero page with a non-zero fill byte",
              "ram.zero.fill",
              event.fill,
              0,
            );
          }
          image.zero(event.block, event.address, 1);
          this.#part!.zeroPages++;
          main.zeroPages++;
          break;
        case "ram-page":
          image.write(event.block, event.address, event.data);
          this.#part!.normalPages++;
          main.normalPages++;
          break;
        case "header":
          await this.#ctx.afterHeader?.();
          break;
        case "configuration":
          this.#configuration(event.offset, event.machine, event.subsections);
          break;
        case "section":
          if (event.kind === "full") break; // Recorded with its device event.
          if (event.kind === "start") {
            if (this.#ramStarted) throw streamError("second ram section", "section.idstr", "ram");
            this.#ramStarted = true;
          }
          this.#part = { zeroPages: 0, normalPages: 0, flushes: 0, eos: 0 };
          main.records.push({
            type: event.kind,
            at: event.offset,
            sectionId: event.sectionId,
            idstr: event.name,
            instanceId: event.instanceId,
            versionId: event.versionId,
            ram: this.#part,
          });
          break;
        case "ram-blocks": {
          const blocks = event.blocks.map(({ name, length }) => ({ name, length }));
          this.#part!.blocks = blocks;
          image.setBlocks(blocks);
          break;
        }
        case "multifd-flush":
          if (this.#ctx.flushStyle !== "multifd-flush") {
            throw streamError(
              "unknown combination of migration flags",
              "ram.flags",
              hex(0x200, 3),
              "no RAM_SAVE_FLAG_MULTIFD_FLUSH from a source that flushes on EOS (QEMU < 8.1)",
            );
          }
          this.#part!.flushes++;
          main.flushes++;
          await this.#sync();
          break;
        case "eos":
          this.#part!.eos++;
          main.eos++;
          if (this.#ctx.flushStyle === "eos") await this.#sync();
          break;
        case "footer":
          break;
        case "command":
          main.records.push({
            type: "command",
            at: event.offset,
            command: { cmd: event.command, length: event.data.length },
          });
          break;
        case "device":
          main.records.push({
            type: "full",
            at: event.offset,
            sectionId: event.sectionId,
            idstr: event.name,
            instanceId: event.instanceId,
            versionId: event.versionId,
            fields: deviceFields(event.state),
          });
          break;
        case "eof":
          main.records.push({ type: "eof", at: event.offset });
          main.eof = true;
          break;
        case "vmdesc":
          main.records.push({ type: "vmdescription", at: event.offset });
          main.vmdescription = event.description;
          break;
      }
    }
  }

  /** `vmstate_configuration` as `configuration_post_load` checks it against this destination. */
  #configuration(
    at: number,
    machine: string,
    subsections: readonly ConfigurationSubsection[],
  ): void {
    this.#main.records.push({ type: "configuration", at, machine });
    for (const subsection of subsections) {
      this.#main.records.push({ type: "subsection", at, idstr: subsection.name });
      if (subsection.targetPageBits !== undefined) {
        const bits = Math.log2(PAGE_SIZE);
        if (subsection.targetPageBits !== bits) {
          throw streamError(
            "target page bits differ",
            "configuration.target_page_bits",
            subsection.targetPageBits,
            bits,
          );
        }
      } else if (subsection.capabilities !== undefined) {
        throw streamError(
          "capability on in the source but off here",
          "configuration.capabilities",
          subsection.capabilities.join(",") || "none",
          "none (the TypeScript destination supports no validated capability)",
        );
      } else if (subsection.uuid !== undefined) {
        const expected = formatUuid(this.#ctx.uuid);
        if (subsection.uuid !== expected) {
          throw new WireError("E_UUID", "configuration UUID is not the destination's", {
            field: "configuration.uuid",
            received: subsection.uuid,
            expected,
          });
        }
      }
    }
  }

  async #sync(): Promise<void> {
    // Channels time out on their own reads first; this bound catches channels that stopped
    // reading (e.g. waiting for a block list that never comes).
    await this.#ctx.barrier.syncMain(this.#ctx.signal, 2 * this.#ctx.readTimeoutMs);
    this.#main.syncPoints = this.#ctx.barrier.syncPoints;
  }

  #wait(what: string): WaitOptions {
    return { signal: this.#ctx.signal, timeoutMs: this.#ctx.readTimeoutMs, what };
  }
}

/**
 * The decoder classes QEMU's header checks `E_STREAM`, as QEMU's messages are classed; the
 * destination reports a bad magic or version as it does an init packet's.
 */
function headerError(error: unknown): unknown {
  if (!(error instanceof WireError) || error.errorClass !== "E_STREAM") return error;
  const detail = { field: error.field, received: error.received, cause: error };
  if (error.field === "stream.magic") {
    return new WireError("E_MAGIC", "not a migration stream", {
      ...detail,
      expected: hex(QEMU_VM_FILE_MAGIC),
    });
  }
  if (error.field === "stream.version") {
    const summary = error.received === QEMU_VM_FILE_VERSION_COMPAT
      ? "SaveVM v2 format is obsolete"
      : "unsupported migration stream version";
    return new WireError("E_VERSION", summary, { ...detail, expected: error.expected });
  }
  return error;
}

function streamError(
  summary: string,
  field: string,
  received?: string | number,
  expected?: string | number,
): WireError {
  return new WireError("E_STREAM", summary, { field, received, expected });
}

/**
 * A device's decoded state as flat text for the transcript: `field`, `field[i]`, `struct.field`,
 * `subsection/field`; integers in decimal, bytes in hex (long ones cut).
 */
function deviceFields(state: VmState): Record<string, string> {
  const out: Record<string, string> = {};
  const left = { fields: MAX_FIELDS };
  flatten(state, "", out, left);
  if (left.fields < 0) out["…"] = `${-left.fields} more fields`;
  return out;
}

function flatten(
  state: VmState,
  prefix: string,
  out: Record<string, string>,
  left: { fields: number },
): void {
  for (const field of state.fields) {
    const key = `${prefix}${field.name}${field.index === undefined ? "" : `[${field.index}]`}`;
    if (isState(field.value)) {
      flatten(field.value, `${key}.`, out, left);
    } else if (--left.fields >= 0) {
      out[key] = fieldText(field.value);
    }
  }
  for (const sub of state.subsections) flatten(sub, `${prefix}${sub.name}/`, out, left);
}

function isState(value: VmStateValue): value is VmState {
  return typeof value === "object" && value !== null && !(value instanceof Uint8Array);
}

function fieldText(value: Exclude<VmStateValue, VmState>): string {
  if (!(value instanceof Uint8Array)) return String(value);
  const shown = toHex(value.subarray(0, MAX_FIELD_BYTES));
  return value.length > MAX_FIELD_BYTES ? `${shown}…` : shown;
}
