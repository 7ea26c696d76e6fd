/**
 * An incremental decoder for the main migration channel: feed it chunks as they arrive and it
 * returns typed events, record by record, keeping only the bytes of one unfinished record.
 *
 * Device (SECTION_FULL) sections cannot be delimited without the VM description QEMU appends
 * after `QEMU_VM_EOF`, so from the first one on the decoder buffers the rest of the stream (up
 * to `maxDeviceBytes`) and walks it when {@linkcode MainStreamDecoder.end} is called.
 *
 * Errors: malformed content is `E_STREAM` naming the field and offset; a stream that stops early
 * is `E_TRUNCATED`. After an error the decoder stays failed.
 *
 * @module
 */

import { ByteCursor, latin1 } from "./bytes.ts";
import { hex, WireError } from "./errors.ts";
import {
  MIG_COMMANDS,
  QEMU_VM_COMMAND,
  QEMU_VM_CONFIGURATION,
  QEMU_VM_EOF,
  QEMU_VM_FILE_MAGIC,
  QEMU_VM_FILE_VERSION,
  QEMU_VM_FILE_VERSION_COMPAT,
  QEMU_VM_SECTION_END,
  QEMU_VM_SECTION_FOOTER,
  QEMU_VM_SECTION_FULL,
  QEMU_VM_SECTION_PART,
  QEMU_VM_SECTION_START,
  QEMU_VM_SUBSECTION,
  QEMU_VM_VMDESCRIPTION,
  RAM_SAVE_FLAG_CONTINUE,
  RAM_SAVE_FLAG_EOS,
  RAM_SAVE_FLAG_MEM_SIZE,
  RAM_SAVE_FLAG_MULTIFD_FLUSH,
  RAM_SAVE_FLAG_PAGE,
  RAM_SAVE_FLAG_ZERO,
  type RamBlockInfo,
} from "./main_stream.ts";
import { formatUuid } from "./uuid.ts";
import {
  findVmDescription,
  parseVmDescription,
  readVmState,
  type VmDescription,
  type VmState,
} from "./vmdesc.ts";

/** A subsection of the configuration section. */
export interface ConfigurationSubsection {
  /** `configuration/target-page-bits`, `configuration/capabilities` or `configuration/uuid`. */
  readonly name: string;
  readonly versionId: number;
  readonly targetPageBits?: number;
  readonly capabilities?: readonly string[];
  /** UUID text. */
  readonly uuid?: string;
}

/** Kind of a section record. */
export type SectionKind = "start" | "part" | "end" | "full";

/** What the decoder reports, in stream order. `offset` is the record's first byte. */
export type MainStreamEvent =
  | { readonly type: "header"; readonly offset: number; readonly version: number }
  | {
    readonly type: "configuration";
    readonly offset: number;
    readonly machine: string;
    readonly subsections: readonly ConfigurationSubsection[];
  }
  | {
    readonly type: "section";
    readonly offset: number;
    readonly kind: SectionKind;
    readonly sectionId: number;
    readonly name: string;
    readonly instanceId: number;
    readonly versionId: number;
  }
  | {
    readonly type: "ram-blocks";
    readonly offset: number;
    readonly totalBytes: number;
    readonly blocks: readonly RamBlockInfo[];
  }
  | {
    readonly type: "ram-zero";
    readonly offset: number;
    readonly block: string;
    readonly address: number;
    readonly fill: number;
  }
  | {
    readonly type: "ram-page";
    readonly offset: number;
    readonly block: string;
    readonly address: number;
    /** The page: a view of the pushed chunk when it lay in one chunk, else of a private copy. */
    readonly data: Uint8Array;
  }
  | { readonly type: "multifd-flush"; readonly offset: number }
  | { readonly type: "eos"; readonly offset: number }
  | { readonly type: "footer"; readonly offset: number; readonly sectionId: number }
  | {
    readonly type: "command";
    readonly offset: number;
    readonly command: number;
    readonly name: string;
    readonly data: Uint8Array;
  }
  | {
    readonly type: "device";
    readonly offset: number;
    readonly sectionId: number;
    readonly name: string;
    readonly instanceId: number;
    readonly versionId: number;
    readonly state: VmState;
    /** The section's bytes from its type byte to the end of its footer, for replay. */
    readonly raw: Uint8Array;
  }
  | { readonly type: "eof"; readonly offset: number }
  | { readonly type: "vmdesc"; readonly offset: number; readonly description: VmDescription };

/** Limits and settings of a {@linkcode MainStreamDecoder}. */
export interface MainStreamDecoderOptions {
  /** Target page size, default 4096. */
  readonly pageSize?: number;
  /** Bytes buffered from the first device section to the end, default 64 MiB. */
  readonly maxDeviceBytes?: number;
  /** Largest record other than the VM description, default 1 MiB. */
  readonly maxRecordBytes?: number;
  /** Largest VM description, default 16 MiB. */
  readonly maxVmDescriptionBytes?: number;
  /** RAM blocks in one block list, default 1024. */
  readonly maxRamBlocks?: number;
  /** Fail when the configuration section is missing, as QEMU ≥ 2.4 machines do; default true. */
  readonly requireConfiguration?: boolean;
}

type State =
  | "header"
  | "configuration"
  | "configuration-subsections"
  | "top"
  | "ram"
  | "footer"
  | "after-eof"
  | "done"
  | "devices";

interface SectionInfo {
  readonly sectionId: number;
  readonly name: string;
  readonly instanceId: number;
  readonly versionId: number;
}

const MAX_NAME = 255;
const RAM_SECTION_VERSION = 4;
const EMPTY = new Uint8Array(0);

/** A step found its record incomplete; a private marker, never escapes. */
const NEED_MORE = Symbol("need more");
/** Thrown by the cursor when a record is incomplete (cheaper than building an error). */
const SHORT = { short: true } as const;

/**
 * Decodes a main stream pushed in chunks of any size.
 *
 * @example
 * ```ts
 * import { MainStreamDecoder } from "./main_stream_decoder.ts";
 * import { MainStreamWriter } from "./main_stream.ts";
 * const bytes = new MainStreamWriter().header().configuration("none").eof().take();
 * const decoder = new MainStreamDecoder();
 * const events = [...decoder.push(bytes.subarray(0, 5)), ...decoder.push(bytes.subarray(5))];
 * events.push(...decoder.end());
 * console.log(events.map((e) => e.type)); // ["header", "configuration", "eof"]
 * ```
 */
export class MainStreamDecoder {
  readonly #pageSize: number;
  readonly #pageMask: number;
  readonly #maxDeviceBytes: number;
  readonly #maxRecordBytes: number;
  readonly #maxVmDescriptionBytes: number;
  readonly #maxRamBlocks: number;
  readonly #requireConfiguration: boolean;

  #state: State = "header";
  #failure: WireError | undefined;
  /** Absolute stream offset of the first byte not yet decoded. */
  #offset = 0;
  /** Bytes of an unfinished record (fresh per record, so event views stay valid). */
  #carry: Uint8Array = EMPTY;
  #carryLength = 0;
  #devices: Uint8Array = EMPTY;
  #devicesLength = 0;
  #devicesOffset = 0;

  #configuration:
    | { offset: number; machine: string; subsections: ConfigurationSubsection[] }
    | undefined;
  #ignoreShared = false;
  readonly #sections = new Map<number, SectionInfo>();
  #section: SectionInfo | undefined;
  readonly #blocks = new Map<string, RamBlockInfo>();
  #lastBlock: RamBlockInfo | undefined;

  constructor(options: MainStreamDecoderOptions = {}) {
    this.#pageSize = options.pageSize ?? 4096;
    if (!Number.isInteger(Math.log2(this.#pageSize)) || this.#pageSize < 512) {
      throw new RangeError(`pageSize must be a power of two >= 512, got ${this.#pageSize}`);
    }
    this.#pageMask = this.#pageSize - 1;
    this.#maxDeviceBytes = options.maxDeviceBytes ?? 64 * 1024 * 1024;
    this.#maxRecordBytes = options.maxRecordBytes ?? 1024 * 1024;
    this.#maxVmDescriptionBytes = options.maxVmDescriptionBytes ?? 16 * 1024 * 1024;
    this.#maxRamBlocks = options.maxRamBlocks ?? 1024;
    this.#requireConfiguration = options.requireConfiguration ?? true;
  }

  /** Bytes of the stream decoded or buffered so far. */
  get offset(): number {
    if (this.#state === "devices") return this.#devicesOffset + this.#devicesLength;
    return this.#offset + this.#carryLength;
  }

  /** RAM blocks announced so far, by name. */
  get ramBlocks(): ReadonlyMap<string, RamBlockInfo> {
    return this.#blocks;
  }

  /**
   * Whether the stream is whole: its VM description has been decoded, or the buffered device
   * sections end with a whole one. A reader can stop there and call
   * {@linkcode MainStreamDecoder.end} without waiting for the peer to close the channel, as QEMU
   * does (a QEMU source never ends a TLS main channel with close_notify).
   */
  get complete(): boolean {
    if (this.#state === "done") return true;
    if (this.#state !== "devices" || this.#devicesLength === 0) return false;
    const bytes = this.#devices.subarray(0, this.#devicesLength);
    // The JSON ends with "}"; only then is the backwards search worth it.
    return bytes[bytes.length - 1] === 0x7d && findVmDescription(bytes) !== undefined;
  }

  /**
   * Decodes as much of `chunk` as completes records. Page views may alias `chunk`: a caller that
   * reuses its read buffer must copy the pages it keeps.
   *
   * The events are appended to `into` (a new array by default), which is returned. When the call
   * throws, `into` still holds the events reported before the failure, so a caller can show how
   * far a broken stream got.
   *
   * @throws {WireError} `E_STREAM` on malformed content.
   */
  push(chunk: Uint8Array, into: MainStreamEvent[] = []): MainStreamEvent[] {
    this.#throwIfFailed();
    try {
      this.#push(chunk, into);
    } catch (error) {
      this.#fail(error);
    }
    return into;
  }

  /**
   * Ends the stream: walks buffered device sections with the VM description and checks that
   * the stream ended where a stream may end. Events are appended to `into` as with
   * {@linkcode MainStreamDecoder.push}, also when it throws.
   *
   * @throws {WireError} `E_TRUNCATED` when the stream stops early, `E_STREAM` when the device
   * sections do not match their description.
   */
  end(into: MainStreamEvent[] = []): MainStreamEvent[] {
    this.#throwIfFailed();
    try {
      this.#end(into);
    } catch (error) {
      this.#fail(error);
    }
    return into;
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure;
  }

  #fail(error: unknown): never {
    this.#failure = error instanceof WireError
      ? error
      : new WireError("E_STREAM", `main stream decoder failed: ${String(error)}`);
    throw this.#failure;
  }

  #push(chunk: Uint8Array, events: MainStreamEvent[]): void {
    let at = 0;
    if (this.#state === "devices") {
      this.#appendDevices(chunk);
      return;
    }
    if (this.#carryLength > 0) {
      // Finish the unfinished record with as little of the chunk as it needs.
      let carried = this.#carryLength;
      let step = Math.max(this.#pageSize * 2, carried);
      for (;;) {
        const take = Math.min(step, chunk.length - at);
        this.#appendCarry(chunk.subarray(at, at + take));
        at += take;
        const used = this.#run(this.#carry.subarray(0, this.#carryLength), events, carried);
        if (used === -1) {
          // Switched to device buffering: hand over what is left of carry and chunk.
          this.#dropCarry();
          this.#appendDevices(chunk.subarray(at));
          return;
        }
        if (used >= carried) {
          // Past the carried bytes: go on in the chunk itself.
          at -= this.#carryLength - used;
          this.#offset += used;
          this.#dropCarry();
          break;
        }
        if (used > 0) {
          // Records finished inside the carry: keep the rest in a fresh buffer.
          const rest = this.#carry.slice(used, this.#carryLength);
          this.#dropCarry();
          this.#appendCarry(rest);
          this.#offset += used;
          carried -= used;
        }
        if (at === chunk.length) {
          this.#checkCarryLimit();
          return;
        }
        step *= 2;
      }
    }
    const rest = chunk.subarray(at);
    const used = this.#run(rest, events, Infinity);
    if (used === -1) return;
    this.#offset += used;
    if (used < rest.length) {
      this.#appendCarry(rest.subarray(used));
      this.#checkCarryLimit();
    }
  }

  /**
   * Runs steps over `bytes` (which start at `this.#offset`) until one needs more data or the
   * position reaches `stopAt`. Returns the bytes used, or -1 after switching to device buffering
   * (the unused bytes have then been moved to the device buffer).
   */
  #run(bytes: Uint8Array, events: MainStreamEvent[], stopAt: number): number {
    const cursor = new ByteCursor(bytes, 0, SHORT);
    while (cursor.offset < stopAt && cursor.remaining > 0) {
      const start = cursor.offset;
      const mark = events.length;
      let result: typeof NEED_MORE | undefined;
      try {
        result = this.#step(cursor, events);
      } catch (error) {
        if (error === SHORT) {
          result = NEED_MORE;
        } else {
          throw error;
        }
      }
      if (result === NEED_MORE) {
        events.length = mark;
        cursor.offset = start;
        return start;
      }
      if (this.#state === "devices") {
        this.#devicesOffset = this.#offset + start;
        this.#appendDevices(bytes.subarray(start));
        return -1;
      }
    }
    return cursor.offset;
  }

  /** Decodes one record at the cursor (or switches state without consuming). */
  #step(c: ByteCursor, events: MainStreamEvent[]): typeof NEED_MORE | undefined {
    const offset = this.#offset + c.offset;
    switch (this.#state) {
      case "header":
        return this.#header(c, events, offset);
      case "configuration":
        return this.#configurationRecord(c, offset);
      case "configuration-subsections":
        return this.#configurationSubsection(c, events);
      case "top":
        return this.#top(c, events, offset);
      case "ram":
        return this.#ramRecord(c, events, offset);
      case "footer":
        return this.#footer(c, events, offset);
      case "after-eof":
        return this.#vmDescription(c, events, offset);
      case "done":
        throw new WireError("E_STREAM", `bytes after the VM description at ${offset}`, {
          field: "stream.trailer",
          received: c.remaining,
          expected: 0,
        });
      case "devices":
        return undefined;
    }
  }

  #header(c: ByteCursor, events: MainStreamEvent[], offset: number): undefined {
    const magic = c.readU32("stream.magic");
    const version = c.readU32("stream.version");
    if (magic !== QEMU_VM_FILE_MAGIC) {
      throw new WireError("E_STREAM", "Not a migration stream", {
        field: "stream.magic",
        received: hex(magic),
        expected: hex(QEMU_VM_FILE_MAGIC),
      });
    }
    if (version !== QEMU_VM_FILE_VERSION) {
      const summary = version === QEMU_VM_FILE_VERSION_COMPAT
        ? "SaveVM v2 format is obsolete"
        : "Unsupported migration stream version";
      throw new WireError("E_STREAM", summary, {
        field: "stream.version",
        received: version,
        expected: QEMU_VM_FILE_VERSION,
      });
    }
    events.push({ type: "header", offset, version });
    this.#state = "configuration";
    return undefined;
  }

  #configurationRecord(c: ByteCursor, offset: number): undefined {
    if (c.data[c.offset] !== QEMU_VM_CONFIGURATION) {
      if (this.#requireConfiguration) {
        throw new WireError("E_STREAM", "Configuration section missing", {
          field: "stream.configuration",
          received: hex(c.data[c.offset], 2),
          expected: hex(QEMU_VM_CONFIGURATION, 2),
        });
      }
      this.#state = "top";
      return undefined;
    }
    c.skip(1, "configuration");
    const length = c.readU32("configuration.len");
    this.#checkName(length, "configuration.name", offset);
    const machine = latin1(c.bytes(length, "configuration.name"), 0, length);
    this.#configuration = { offset, machine, subsections: [] };
    this.#state = "configuration-subsections";
    return undefined;
  }

  #configurationSubsection(c: ByteCursor, events: MainStreamEvent[]): undefined {
    if (c.data[c.offset] !== QEMU_VM_SUBSECTION) {
      this.#flushConfiguration(events);
      this.#state = "top";
      return undefined;
    }
    c.skip(1, "configuration.subsection");
    const length = c.readU8("configuration.subsection.len");
    const name = latin1(c.bytes(length, "configuration.subsection.name"), 0, length);
    const versionId = c.readU32(`${name}.version_id`);
    let subsection: ConfigurationSubsection;
    switch (name) {
      case "configuration/target-page-bits":
        subsection = { name, versionId, targetPageBits: c.readU32(`${name}.target_page_bits`) };
        break;
      case "configuration/capabilities": {
        const count = c.readU32(`${name}.caps_count`);
        if (count > 64) {
          throw new WireError("E_STREAM", "too many capabilities", {
            field: `${name}.caps_count`,
            received: count,
            expected: "<= 64",
          });
        }
        const capabilities: string[] = [];
        for (let i = 0; i < count; i++) {
          const n = c.readU8(`${name}.capabilities[${i}].len`);
          capabilities.push(latin1(c.bytes(n, `${name}.capabilities[${i}]`), 0, n));
        }
        subsection = { name, versionId, capabilities };
        break;
      }
      case "configuration/uuid":
        subsection = { name, versionId, uuid: formatUuid(c.bytes(16, `${name}.uuid`)) };
        break;
      default:
        throw new WireError("E_STREAM", "unknown configuration subsection", {
          field: "configuration.subsection",
          received: JSON.stringify(name),
        });
    }
    this.#configuration!.subsections.push(subsection);
    if (subsection.capabilities?.includes("x-ignore-shared")) this.#ignoreShared = true;
    return undefined;
  }

  #flushConfiguration(events: MainStreamEvent[]): void {
    if (!this.#configuration) return;
    events.push({ type: "configuration", ...this.#configuration });
    this.#configuration = undefined;
  }

  #top(c: ByteCursor, events: MainStreamEvent[], offset: number): undefined {
    const type = c.data[c.offset];
    switch (type) {
      case QEMU_VM_SECTION_START: {
        c.skip(1, "section");
        const section = this.#sectionHeader(c, offset);
        if (section.name !== "ram") {
          throw new WireError("E_STREAM", "cannot delimit an iterative section other than ram", {
            field: "section.name",
            received: JSON.stringify(section.name),
            expected: '"ram"',
          });
        }
        if (section.versionId !== RAM_SECTION_VERSION) {
          throw new WireError("E_STREAM", "unsupported RAM section version", {
            field: "section.version_id",
            received: section.versionId,
            expected: RAM_SECTION_VERSION,
          });
        }
        this.#sections.set(section.sectionId, section);
        this.#section = section;
        events.push({ type: "section", offset, kind: "start", ...section });
        this.#state = "ram";
        return undefined;
      }
      case QEMU_VM_SECTION_PART:
      case QEMU_VM_SECTION_END: {
        c.skip(1, "section");
        const sectionId = c.readU32("section.section_id");
        const section = this.#sections.get(sectionId);
        if (!section) {
          throw new WireError("E_STREAM", `Unknown savevm section ${sectionId}`, {
            field: "section.section_id",
            received: sectionId,
            expected: [...this.#sections.keys()].join(" or ") || "a started section",
          });
        }
        this.#section = section;
        const kind = type === QEMU_VM_SECTION_PART ? "part" : "end";
        events.push({ type: "section", offset, kind, ...section });
        this.#state = "ram";
        return undefined;
      }
      case QEMU_VM_SECTION_FULL:
        this.#state = "devices";
        return undefined;
      case QEMU_VM_COMMAND:
        c.skip(1, "command");
        events.push(this.#command(c, offset));
        return undefined;
      case QEMU_VM_EOF:
        c.skip(1, "eof");
        events.push({ type: "eof", offset });
        this.#state = "after-eof";
        return undefined;
      default:
        throw new WireError("E_STREAM", `Unknown savevm section type ${type} at ${offset}`, {
          field: "section.type",
          received: hex(type, 2),
        });
    }
  }

  #sectionHeader(c: ByteCursor, offset: number): SectionInfo {
    const sectionId = c.readU32("section.section_id");
    const length = c.readU8("section.idstr.len");
    this.#checkName(length, "section.idstr", offset);
    const name = latin1(c.bytes(length, "section.idstr"), 0, length);
    const instanceId = c.readU32("section.instance_id");
    const versionId = c.readU32("section.version_id");
    return { sectionId, name, instanceId, versionId };
  }

  #command(c: ByteCursor, offset: number): MainStreamEvent {
    const command = c.readU16("command.cmd");
    const length = c.readU16("command.len");
    const known = MIG_COMMANDS[command];
    if (!known) {
      throw new WireError("E_STREAM", `unknown command ${command} at ${offset}`, {
        field: "command.cmd",
        received: command,
        expected: "1..11",
      });
    }
    if (known.len >= 0 && length !== known.len) {
      throw new WireError("E_STREAM", `${known.name} received with bad length`, {
        field: "command.len",
        received: length,
        expected: known.len,
      });
    }
    if (known.name === "PACKAGED") {
      throw new WireError("E_STREAM", "MIG_CMD_PACKAGED (postcopy) is not supported", {
        field: "command.cmd",
        received: command,
      });
    }
    const data = c.bytes(length, `command.${known.name}`);
    return { type: "command", offset, command, name: known.name, data };
  }

  #ramRecord(c: ByteCursor, events: MainStreamEvent[], offset: number): undefined {
    const high = c.readU32("ram.addr");
    const low = c.readU32("ram.addr");
    const flags = low & this.#pageMask;
    const address = high * 0x1_0000_0000 + (low - flags);
    switch (flags & ~RAM_SAVE_FLAG_CONTINUE) {
      case RAM_SAVE_FLAG_MEM_SIZE:
        events.push(this.#ramBlocks(c, address, offset));
        return undefined;
      case RAM_SAVE_FLAG_ZERO: {
        const block = this.#blockFromStream(c, flags, offset);
        const fill = c.readU8("ram.zero.fill");
        this.#checkAddress(block, address, offset);
        this.#lastBlock = block;
        events.push({ type: "ram-zero", offset, block: block.name, address, fill });
        return undefined;
      }
      case RAM_SAVE_FLAG_PAGE: {
        const block = this.#blockFromStream(c, flags, offset);
        this.#checkAddress(block, address, offset);
        const data = c.bytes(this.#pageSize, "ram.page");
        this.#lastBlock = block;
        events.push({ type: "ram-page", offset, block: block.name, address, data });
        return undefined;
      }
      case RAM_SAVE_FLAG_MULTIFD_FLUSH:
        events.push({ type: "multifd-flush", offset });
        return undefined;
      case RAM_SAVE_FLAG_EOS:
        events.push({ type: "eos", offset });
        this.#state = "footer";
        return undefined;
      default:
        throw new WireError(
          "E_STREAM",
          `Unknown combination of migration flags: ${hex(flags, 1)}`,
          {
            field: "ram.flags",
            received: hex(flags, 1),
            expected: "ZERO, PAGE, MEM_SIZE, MULTIFD_FLUSH or EOS",
          },
        );
    }
  }

  #ramBlocks(c: ByteCursor, totalBytes: number, offset: number): MainStreamEvent {
    const blocks: RamBlockInfo[] = [];
    let remaining = totalBytes;
    while (remaining > 0) {
      if (blocks.length >= this.#maxRamBlocks) {
        throw new WireError("E_STREAM", "too many RAM blocks", {
          field: "ram.blocks",
          received: blocks.length + 1,
          expected: `<= ${this.#maxRamBlocks}`,
        });
      }
      const length = c.readU8("ram.block.idstr.len");
      const name = latin1(c.bytes(length, "ram.block.idstr"), 0, length);
      const used = readU64Number(c, `ram.block[${name}].length`);
      const addr = this.#ignoreShared ? readU64Number(c, `ram.block[${name}].addr`) : undefined;
      if (used > remaining) {
        throw new WireError("E_STREAM", "RAM block lengths exceed the announced total", {
          field: `ram.block[${name}].length`,
          received: used,
          expected: `<= ${remaining} (total ${totalBytes})`,
        });
      }
      remaining -= used;
      blocks.push(addr === undefined ? { name, length: used } : { name, length: used, addr });
    }
    for (const block of blocks) this.#blocks.set(block.name, block);
    return { type: "ram-blocks", offset, totalBytes, blocks };
  }

  #blockFromStream(c: ByteCursor, flags: number, offset: number): RamBlockInfo {
    if (flags & RAM_SAVE_FLAG_CONTINUE) {
      if (!this.#lastBlock) {
        throw new WireError("E_STREAM", `CONTINUE without a previous block at ${offset}`, {
          field: "ram.flags",
          received: hex(flags, 1),
        });
      }
      return this.#lastBlock;
    }
    const length = c.readU8("ram.idstr.len");
    const name = latin1(c.bytes(length, "ram.idstr"), 0, length);
    const block = this.#blocks.get(name);
    if (!block) {
      throw new WireError("E_STREAM", `Can't find block ${name}`, {
        field: "ram.idstr",
        received: JSON.stringify(name),
        expected: [...this.#blocks.keys()].map((n) => JSON.stringify(n)).join(" or ") ||
          "a block from the block list",
      });
    }
    return block;
  }

  #checkAddress(block: RamBlockInfo, address: number, offset: number): void {
    if (address + this.#pageSize > block.length) {
      throw new WireError("E_STREAM", `Illegal RAM offset at ${offset}`, {
        field: `ram[${block.name}].addr`,
        received: hex(address, 1),
        expected: `< ${hex(block.length, 1)}`,
      });
    }
  }

  #footer(c: ByteCursor, events: MainStreamEvent[], offset: number): undefined {
    const section = this.#section!;
    const marker = c.readU8("footer");
    if (marker !== QEMU_VM_SECTION_FOOTER) {
      throw new WireError("E_STREAM", `Missing section footer for ${section.name}`, {
        field: "footer",
        received: hex(marker, 2),
        expected: hex(QEMU_VM_SECTION_FOOTER, 2),
      });
    }
    const sectionId = c.readU32("footer.section_id");
    if (sectionId !== section.sectionId) {
      throw new WireError("E_STREAM", `Mismatched section footer for ${section.name}`, {
        field: "footer.section_id",
        received: sectionId,
        expected: section.sectionId,
      });
    }
    events.push({ type: "footer", offset, sectionId });
    this.#state = "top";
    return undefined;
  }

  #vmDescription(c: ByteCursor, events: MainStreamEvent[], offset: number): undefined {
    const marker = c.readU8("vmdesc");
    if (marker !== QEMU_VM_VMDESCRIPTION) {
      throw new WireError("E_STREAM", `bytes after QEMU_VM_EOF at ${offset}`, {
        field: "vmdesc",
        received: hex(marker, 2),
        expected: hex(QEMU_VM_VMDESCRIPTION, 2),
      });
    }
    const length = c.readU32("vmdesc.len");
    if (length > this.#maxVmDescriptionBytes) {
      throw new WireError("E_STREAM", "VM description over the limit", {
        field: "vmdesc.len",
        received: length,
        expected: `<= ${this.#maxVmDescriptionBytes}`,
      });
    }
    const description = parseVmDescription(c.bytes(length, "vmdesc.json"));
    events.push({ type: "vmdesc", offset, description });
    this.#state = "done";
    return undefined;
  }

  #end(events: MainStreamEvent[]): void {
    if (this.#state === "devices") {
      try {
        this.#walkDevices(events);
      } catch (error) {
        if (!(error instanceof WireError) || error.errorClass !== "E_TRUNCATED") throw error;
        throw new WireError("E_STREAM", "device section runs past QEMU_VM_EOF", {
          field: error.field,
          received: error.received,
          expected: error.expected,
        });
      }
      this.#state = "done";
      return;
    }
    if (this.#state === "configuration-subsections") this.#flushConfiguration(events);
    if (this.#carryLength > 0) {
      throw new WireError(
        "E_TRUNCATED",
        `main stream ends inside a record at ${this.#offset} (state ${this.#state})`,
        { field: "stream", received: this.#carryLength },
      );
    }
    if (this.#state !== "after-eof" && this.#state !== "done") {
      throw new WireError(
        "E_TRUNCATED",
        `main stream ends before QEMU_VM_EOF (state ${this.#state})`,
        {
          field: "stream",
          received: this.#offset,
        },
      );
    }
  }

  #walkDevices(events: MainStreamEvent[]): void {
    const bytes = this.#devices.subarray(0, this.#devicesLength);
    const base = this.#devicesOffset;
    const at = findVmDescription(bytes);
    if (at === undefined) {
      throw new WireError(
        "E_STREAM",
        "device sections need the VM description, which is not at the end of the stream",
        { field: "vmdesc", received: `${bytes.length} bytes after offset ${base}` },
      );
    }
    const description = parseVmDescription(bytes.subarray(at + 5));
    const devices = new Map(description.devices.map((d) => [`${d.name}\u0000${d.instance_id}`, d]));
    const c = new ByteCursor(bytes.subarray(0, at));
    for (;;) {
      const start = c.offset;
      const offset = base + start;
      const type = c.readU8("section.type");
      if (type === QEMU_VM_EOF) {
        if (c.offset !== at) {
          throw new WireError("E_STREAM", `QEMU_VM_EOF at ${offset} before the VM description`, {
            field: "eof",
            received: offset,
            expected: base + at - 1,
          });
        }
        events.push({ type: "eof", offset });
        break;
      }
      if (type === QEMU_VM_COMMAND) {
        events.push(this.#command(c, offset));
        continue;
      }
      if (type !== QEMU_VM_SECTION_FULL) {
        throw new WireError(
          "E_STREAM",
          `section type ${type} after a device section at ${offset}`,
          {
            field: "section.type",
            received: hex(type, 2),
            expected: `${hex(QEMU_VM_SECTION_FULL, 2)}, ${hex(QEMU_VM_COMMAND, 2)} or 00`,
          },
        );
      }
      const section = this.#sectionHeader(c, offset);
      const desc = devices.get(`${section.name}\u0000${section.instanceId}`);
      if (!desc) {
        throw new WireError("E_STREAM", `no VM description for device section at ${offset}`, {
          field: "section.idstr",
          received: `${JSON.stringify(section.name)} instance ${section.instanceId}`,
        });
      }
      events.push({ type: "section", offset, kind: "full", ...section });
      const state = readVmState(c, desc, {}, section.name);
      this.#section = section;
      const footerOffset = base + c.offset;
      const footerEvents: MainStreamEvent[] = [];
      this.#footer(c, footerEvents, footerOffset);
      events.push({
        type: "device",
        offset,
        ...section,
        state,
        raw: bytes.subarray(start, c.offset),
      }, ...footerEvents);
    }
    events.push({ type: "vmdesc", offset: base + at, description });
  }

  #appendCarry(bytes: Uint8Array): void {
    if (this.#carryLength + bytes.length > this.#carry.length) {
      const grown = new Uint8Array(
        Math.max(this.#carry.length * 2, this.#carryLength + bytes.length, 256),
      );
      grown.set(this.#carry.subarray(0, this.#carryLength));
      this.#carry = grown;
    }
    this.#carry.set(bytes, this.#carryLength);
    this.#carryLength += bytes.length;
  }

  #dropCarry(): void {
    // A fresh buffer next time: events may hold views of this one.
    this.#carry = EMPTY;
    this.#carryLength = 0;
  }

  #checkCarryLimit(): void {
    const limit = this.#state === "after-eof"
      ? this.#maxVmDescriptionBytes + 5
      : this.#maxRecordBytes;
    if (this.#carryLength > limit) {
      throw new WireError("E_STREAM", `record at ${this.#offset} exceeds the record limit`, {
        field: "stream.record",
        received: this.#carryLength,
        expected: `<= ${limit}`,
      });
    }
  }

  #appendDevices(bytes: Uint8Array): void {
    const needed = this.#devicesLength + bytes.length;
    if (needed > this.#maxDeviceBytes) {
      throw new WireError("E_STREAM", "device sections exceed the buffering limit", {
        field: "stream.devices",
        received: needed,
        expected: `<= ${this.#maxDeviceBytes}`,
      });
    }
    if (needed > this.#devices.length) {
      const grown = new Uint8Array(
        Math.min(this.#maxDeviceBytes, Math.max(this.#devices.length * 2, needed, 4096)),
      );
      grown.set(this.#devices.subarray(0, this.#devicesLength));
      this.#devices = grown;
    }
    this.#devices.set(bytes, this.#devicesLength);
    this.#devicesLength = needed;
  }

  #checkName(length: number, field: string, offset: number): void {
    if (length > MAX_NAME) {
      throw new WireError("E_STREAM", `name too long at ${offset}`, {
        field,
        received: length,
        expected: `<= ${MAX_NAME}`,
      });
    }
  }
}

function readU64Number(c: ByteCursor, field: string): number {
  const high = c.readU32(field);
  const low = c.readU32(field);
  return high * 0x1_0000_0000 + low;
}
