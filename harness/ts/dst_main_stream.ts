/**
 * The destination's consumer of the main channel, in the order of QEMU's `qemu_loadvm_state()`
 * (`migration/savevm.c`) and `ram_load_precopy()` (`migration/ram.c`): header, configuration,
 * then sections until `QEMU_VM_EOF`, then the VM description. RAM records write straight into the
 * RAM image; sync points wait on the multifd barrier; device sections are decoded through the VM
 * description (see `dst_devices.ts`).
 *
 * @module
 */

import type { ByteReader } from "../net/read.ts";
import { hex, WireError } from "../wire/errors.ts";
import type { FlushStyle } from "../wire/versions.ts";
import {
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
  RAM_SAVE_FLAG_XBZRLE,
  RAM_SAVE_FLAG_ZERO,
} from "../wire/main_stream.ts";
import { formatUuid, uuidEquals } from "../wire/uuid.ts";
import { PAGE_SIZE } from "../ram/pattern.ts";
import { decodeDeviceTail, findVmDescription, MAX_VMDESC } from "./dst_devices.ts";
import { StreamBuffer } from "./dst_stream_buffer.ts";
import type { RamImage } from "./dst_ram_image.ts";
import type { SyncBarrier } from "./dst_sync.ts";
import type { MainRecord, ObservedMain } from "./dst_transcript.ts";

/** Version of the `ram` section every QEMU since 2.x sends (`ram_load`: `version_id != 4`). */
export const RAM_SECTION_VERSION = 4;
/** Longest machine type name accepted in the configuration section. */
const MAX_MACHINE_NAME = 256;
/** Default bound of the stream tail kept to decode device sections. */
export const DEFAULT_MAX_DEVICE_TAIL = 64 * 1024 * 1024;

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

interface RamSectionState {
  sectionId: number;
  lastBlock: string | null;
}

/**
 * Reads and applies a whole main stream. Resolves once `QEMU_VM_EOF` (and the VM description, if
 * any) has been read.
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
  const stream = new MainStreamReader(ctx);
  await stream.run();
}

class MainStreamReader {
  readonly #ctx: MainStreamContext;
  readonly #in: StreamBuffer;
  #main!: ObservedMain;
  #ram: RamSectionState | null = null;

  constructor(ctx: MainStreamContext) {
    this.#ctx = ctx;
    this.#in = new StreamBuffer(ctx.reader, (what) => this.#wait(what));
  }

  async run(): Promise<void> {
    const magic = await this.#u32("main.magic");
    const version = await this.#u32("main.version");
    this.#main = {
      magic,
      version,
      records: [],
      syncPoints: 0,
      flushes: 0,
      eos: 0,
      zeroPages: 0,
      normalPages: 0,
      eof: false,
    };
    this.#ctx.observed(this.#main);
    if (magic !== QEMU_VM_FILE_MAGIC) {
      throw new WireError("E_MAGIC", "not a migration stream", {
        field: "main.magic",
        received: hex(magic),
        expected: hex(QEMU_VM_FILE_MAGIC),
      });
    }
    if (version !== QEMU_VM_FILE_VERSION) {
      const why = version === QEMU_VM_FILE_VERSION_COMPAT
        ? "SaveVM v2 format is obsolete"
        : "unsupported migration stream version";
      throw new WireError("E_VERSION", why, {
        field: "main.version",
        received: version,
        expected: QEMU_VM_FILE_VERSION,
      });
    }
    await this.#ctx.afterHeader?.();
    await this.#configuration();
    for (;;) {
      const at = this.#in.position;
      const type = await this.#u8("main.section_type");
      switch (type) {
        case QEMU_VM_SECTION_START:
        case QEMU_VM_SECTION_FULL: {
          const sectionId = await this.#u32("main.section_id");
          const idstr = await this.#string("main.idstr");
          const instanceId = await this.#u32("main.instance_id");
          const versionId = await this.#u32("main.version_id");
          const header = { sectionId, idstr, instanceId, versionId };
          if (idstr === "ram" && type === QEMU_VM_SECTION_START) {
            if (this.#ram) throw this.#streamError("second ram section", "main.idstr", idstr);
            if (versionId !== RAM_SECTION_VERSION) {
              throw new WireError("E_STREAM", "ram section version", {
                field: "main.ram.version_id",
                received: versionId,
                expected: RAM_SECTION_VERSION,
              });
            }
            this.#ram = { sectionId, lastBlock: null };
            await this.#ramPart("start", at, header);
            break;
          }
          if (type === QEMU_VM_SECTION_START) {
            throw this.#streamError(
              "iterative section of an unknown device",
              "main.idstr",
              `${JSON.stringify(idstr)} instance ${instanceId}`,
              '"ram"',
            );
          }
          await this.#deviceTail(at, header);
          return;
        }
        case QEMU_VM_SECTION_PART:
        case QEMU_VM_SECTION_END: {
          const sectionId = await this.#u32("main.section_id");
          if (!this.#ram || sectionId !== this.#ram.sectionId) {
            throw this.#streamError(
              "part of a section that was never started",
              "main.section_id",
              sectionId,
              this.#ram ? this.#ram.sectionId : "a started section",
            );
          }
          await this.#ramPart(type === QEMU_VM_SECTION_PART ? "part" : "end", at, { sectionId });
          break;
        }
        case QEMU_VM_COMMAND: {
          const cmd = await this.#u16("main.command.cmd");
          const length = await this.#u16("main.command.len");
          if (length > 0) await this.#skip(length, "main.command.data");
          this.#main.records.push({ type: "command", at, command: { cmd, length } });
          break;
        }
        case QEMU_VM_EOF:
          this.#main.records.push({ type: "eof", at });
          this.#main.eof = true;
          await this.#vmDescription();
          return;
        default:
          throw this.#streamError(
            "unknown section type",
            "main.section_type",
            `${hex(type, 2)} at ${at}`,
            "a QEMU_VM_* record type",
          );
      }
    }
  }

  /** `QEMU_VM_CONFIGURATION` with `vmstate_configuration` and its subsections. */
  async #configuration(): Promise<void> {
    const at = this.#in.position;
    const type = await this.#u8("main.configuration");
    if (type !== QEMU_VM_CONFIGURATION) {
      throw this.#streamError(
        "configuration section missing",
        "main.configuration",
        hex(type, 2),
        "0x07",
      );
    }
    const length = await this.#u32("main.configuration.len");
    if (length > MAX_MACHINE_NAME) {
      throw this.#streamError(
        "machine type name too long",
        "main.configuration.len",
        length,
        `<= ${MAX_MACHINE_NAME}`,
      );
    }
    const machine = await this.#latin1(length, "main.configuration.name");
    this.#main.records.push({ type: "configuration", at, machine });
    // Subsections follow while the next byte is QEMU_VM_SUBSECTION (vmstate_subsection_load).
    while ((await this.#peekU8("main.configuration.subsection")) === QEMU_VM_SUBSECTION) {
      await this.#u8("main.configuration.subsection");
      const name = await this.#string("main.configuration.subsection.name");
      await this.#u32("main.configuration.subsection.version_id");
      this.#main.records.push({ type: "subsection", at, idstr: name });
      if (name === "configuration/target-page-bits") {
        const bits = await this.#u32("main.configuration.target_page_bits");
        if (bits !== 12) {
          throw this.#streamError(
            "target page bits differ",
            "main.configuration.target_page_bits",
            bits,
            12,
          );
        }
      } else if (name === "configuration/capabilities") {
        const count = await this.#u32("main.configuration.caps_count");
        const caps: string[] = [];
        for (let i = 0; i < Math.min(count, 256); i++) {
          caps.push(await this.#string(`main.configuration.capabilities[${i}]`));
        }
        throw this.#streamError(
          "capability on in the source but off here",
          "main.configuration.capabilities",
          caps.join(",") || String(count),
          "none (the TypeScript destination supports no validated capability)",
        );
      } else if (name === "configuration/uuid") {
        await this.#in.fill(16, "main.configuration.uuid");
        const received = this.#in.take(16).slice();
        if (!uuidEquals(received, this.#ctx.uuid)) {
          throw new WireError("E_UUID", "configuration UUID is not the destination's", {
            field: "main.configuration.uuid",
            received: formatUuid(received),
            expected: formatUuid(this.#ctx.uuid),
          });
        }
      } else {
        throw this.#streamError(
          "unknown configuration subsection",
          "main.configuration.subsection",
          name,
        );
      }
    }
  }

  /** One START/PART/END of the `ram` section: records until `RAM_SAVE_FLAG_EOS`, then footer. */
  async #ramPart(
    kind: "start" | "part" | "end",
    at: number,
    header: Omit<MainRecord, "type" | "at">,
  ): Promise<void> {
    const ram = { zeroPages: 0, normalPages: 0, flushes: 0, eos: 0 } as NonNullable<
      MainRecord["ram"]
    >;
    this.#main.records.push({ type: kind, at, ...header, ram });
    const image = this.#ctx.ram;
    for (;;) {
      // Hot path: records are parsed from the read-ahead buffer without awaiting.
      const input = this.#in;
      if (input.available < 8) await input.fill(8, "main.ram.addr");
      const hi = input.u32();
      const lo = input.u32();
      const flags = lo & (PAGE_SIZE - 1);
      const addr = hi * 0x1_0000_0000 + ((lo - flags) >>> 0);
      let block: string | null = null;
      if (flags & (RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_PAGE | RAM_SAVE_FLAG_XBZRLE)) {
        block = flags & RAM_SAVE_FLAG_CONTINUE && this.#ram!.lastBlock !== null
          ? this.#ram!.lastBlock
          : await this.#blockFromStream(flags);
        const length = image.block(block)?.length ?? 0;
        if (addr > length - PAGE_SIZE) {
          throw this.#streamError(
            "illegal RAM offset",
            "main.ram.addr",
            hex(addr, 1),
            `<= ${hex(length - PAGE_SIZE, 1)} in ${block}`,
          );
        }
      }
      switch (flags & ~RAM_SAVE_FLAG_CONTINUE) {
        case RAM_SAVE_FLAG_MEM_SIZE:
          ram.blocks = await this.#blockList(addr);
          image.setBlocks(ram.blocks);
          break;
        case RAM_SAVE_FLAG_ZERO: {
          if (input.available < 1) await input.fill(1, "main.ram.zero_fill");
          const fill = input.u8();
          if (fill !== 0) {
            // QEMU 7.2 memset the page with it; 9.0+ refuse ("Found a zero page with value").
            throw this.#streamError(
              "zero page with a non-zero fill byte",
              "main.ram.zero_fill",
              fill,
              0,
            );
          }
          image.zero(block!, addr, 1);
          ram.zeroPages++;
          this.#main.zeroPages++;
          break;
        }
        case RAM_SAVE_FLAG_PAGE:
          await input.readInto(image.page(block!, addr, 1), "main.ram.page");
          ram.normalPages++;
          this.#main.normalPages++;
          break;
        case RAM_SAVE_FLAG_MULTIFD_FLUSH:
          if (this.#ctx.flushStyle !== "multifd-flush") {
            throw this.#streamError(
              "unknown combination of migration flags",
              "main.ram.flags",
              hex(flags, 3),
              "no RAM_SAVE_FLAG_MULTIFD_FLUSH from a source that flushes on EOS (QEMU < 8.1)",
            );
          }
          ram.flushes++;
          this.#main.flushes++;
          await this.#sync();
          break;
        case RAM_SAVE_FLAG_EOS:
          ram.eos++;
          this.#main.eos++;
          if (this.#ctx.flushStyle === "eos") await this.#sync();
          await this.#footer(this.#ram!.sectionId);
          return;
        default:
          throw this.#streamError(
            "unknown combination of migration flags",
            "main.ram.flags",
            hex(flags, 3),
            "ZERO, PAGE, MEM_SIZE, EOS or MULTIFD_FLUSH",
          );
      }
    }
  }

  async #sync(): Promise<void> {
    // Channels time out on their own reads first; this bound catches channels that stopped
    // reading (e.g. waiting for a block list that never comes).
    await this.#ctx.barrier.syncMain(this.#ctx.signal, 2 * this.#ctx.readTimeoutMs);
    this.#main.syncPoints = this.#ctx.barrier.syncPoints;
  }

  /** `ram_block_from_stream`: the block named here, or the previous one with CONTINUE. */
  async #blockFromStream(flags: number): Promise<string> {
    const state = this.#ram!;
    if (flags & RAM_SAVE_FLAG_CONTINUE) {
      if (state.lastBlock === null) {
        throw this.#streamError(
          "CONTINUE before any block was named",
          "main.ram.flags",
          hex(flags, 3),
          "a block idstr first",
        );
      }
      return state.lastBlock;
    }
    const name = await this.#string("main.ram.idstr");
    if (!this.#ctx.ram.block(name)) {
      throw this.#streamError(
        "unknown RAM block",
        "main.ram.idstr",
        JSON.stringify(name),
        this.#ctx.ram.blocks.map((b) => JSON.stringify(b.name)).join(" or ") ||
          "a block from the block list",
      );
    }
    state.lastBlock = name;
    return name;
  }

  /** The block list after `RAM_SAVE_FLAG_MEM_SIZE` (`parse_ramblocks`). */
  async #blockList(total: number): Promise<{ name: string; length: number }[]> {
    const blocks: { name: string; length: number }[] = [];
    let left = total;
    while (left > 0) {
      if (blocks.length >= 1024) {
        throw this.#streamError(
          "too many RAM blocks",
          "main.ram.mem_size",
          blocks.length,
          "<= 1024",
        );
      }
      const name = await this.#string("main.ram.block.idstr");
      await this.#in.fill(8, "main.ram.block.used_length");
      const length = this.#in.u32() * 0x1_0000_0000 + this.#in.u32();
      if (length > left) {
        throw this.#streamError(
          "RAM block longer than the total announced",
          `main.ram.block[${JSON.stringify(name)}].used_length`,
          length,
          `<= ${left}`,
        );
      }
      blocks.push({ name, length });
      left -= length;
    }
    return blocks;
  }

  async #footer(sectionId: number): Promise<void> {
    const marker = await this.#u8("main.section_footer");
    if (marker !== QEMU_VM_SECTION_FOOTER) {
      throw this.#streamError(
        "section footer missing",
        "main.section_footer",
        hex(marker, 2),
        "0x7e",
      );
    }
    const id = await this.#u32("main.section_footer.id");
    if (id !== sectionId) {
      throw this.#streamError(
        "section footer for another section",
        "main.section_footer.id",
        id,
        sectionId,
      );
    }
  }

  /** Keeps the rest of the stream (bounded) and decodes the device sections in it. */
  async #deviceTail(
    at: number,
    header: { sectionId: number; idstr: string; instanceId: number; versionId: number },
  ): Promise<void> {
    const max = this.#ctx.maxDeviceTail ?? DEFAULT_MAX_DEVICE_TAIL;
    let tail = new Uint8Array(64 * 1024);
    let length = 0;
    for (;;) {
      if (length === tail.length) {
        if (tail.length >= max) {
          throw this.#streamError(
            "device sections longer than the limit",
            "main.device_tail",
            `> ${max} bytes`,
            `<= ${max}`,
          );
        }
        const grown = new Uint8Array(Math.min(max, tail.length * 2));
        grown.set(tail);
        tail = grown;
      }
      const n = await this.#in.read(tail.subarray(length), "main.device_sections");
      if (n === null) break;
      length += n;
      // Stop after the VM description, as QEMU does: the source may close without a clean end
      // (TLS main channels never get close_notify).
      if (tail[length - 1] === 0x7d && isCompleteTail(tail.subarray(0, length))) break;
    }
    const decoded = decodeDeviceTail(header, tail.subarray(0, length));
    for (const section of decoded.sections) {
      this.#main.records.push({
        type: "full",
        at: at + section.at,
        sectionId: section.sectionId,
        idstr: section.idstr,
        instanceId: section.instanceId,
        versionId: section.versionId,
        fields: section.fields,
      });
    }
    this.#main.records.push({
      type: "eof",
      at: at + length - (decoded.vmdescriptionLength ?? 0) - 6,
    });
    this.#main.eof = decoded.eof;
    this.#main.vmdescription = decoded.vmdescription;
    this.#main.records.push({
      type: "vmdescription",
      at: at + length - (decoded.vmdescriptionLength ?? 0) - 5,
    });
  }

  /** After `QEMU_VM_EOF` of a stream without device sections: the VM description, if any. */
  async #vmDescription(): Promise<void> {
    const at = this.#in.position;
    if (await this.#in.ended("main.vmdescription")) return;
    const type = await this.#u8("main.vmdescription");
    if (type !== QEMU_VM_VMDESCRIPTION) {
      throw this.#streamError(
        "bytes after QEMU_VM_EOF",
        "main.vmdescription",
        hex(type, 2),
        "0x06 or end of stream",
      );
    }
    const length = await this.#u32("main.vmdescription.length");
    if (length > MAX_VMDESC) {
      throw this.#streamError(
        "VM description too long",
        "main.vmdescription.length",
        length,
        `<= ${MAX_VMDESC}`,
      );
    }
    const json = new Uint8Array(length);
    await this.#in.readInto(json, "main.vmdescription");
    try {
      this.#main.vmdescription = JSON.parse(new TextDecoder().decode(json));
    } catch {
      this.#main.vmdescription = undefined;
    }
    this.#main.records.push({ type: "vmdescription", at });
  }

  #wait(what: string): { signal: AbortSignal; timeoutMs: number; what: string } {
    return { signal: this.#ctx.signal, timeoutMs: this.#ctx.readTimeoutMs, what };
  }

  async #u8(what: string): Promise<number> {
    if (this.#in.available < 1) await this.#in.fill(1, what);
    return this.#in.u8();
  }

  async #peekU8(what: string): Promise<number> {
    if (this.#in.available < 1) await this.#in.fill(1, what);
    return this.#in.peekU8();
  }

  async #u16(what: string): Promise<number> {
    if (this.#in.available < 2) await this.#in.fill(2, what);
    return this.#in.u16();
  }

  async #u32(what: string): Promise<number> {
    if (this.#in.available < 4) await this.#in.fill(4, what);
    return this.#in.u32();
  }

  async #skip(n: number, what: string): Promise<void> {
    await this.#in.skip(n, what);
  }

  /** A u8 length then that many Latin-1 bytes (idstrs are at most 255 bytes, no NUL). */
  async #string(what: string): Promise<string> {
    const length = await this.#u8(`${what}_len`);
    return await this.#latin1(length, what);
  }

  async #latin1(length: number, what: string): Promise<string> {
    if (this.#in.available < length) await this.#in.fill(length, what);
    const bytes = this.#in.take(length);
    let text = "";
    for (let i = 0; i < length; i++) text += String.fromCharCode(bytes[i]);
    return text;
  }

  #streamError(
    summary: string,
    field: string,
    received?: string | number,
    expected?: string | number,
  ): WireError {
    return new WireError("E_STREAM", summary, { field, received, expected });
  }
}

/** Whether `tail` ends with a whole VM description (a JSON object after `EOF, 0x06, length`). */
function isCompleteTail(tail: Uint8Array): boolean {
  const marker = findVmDescription(tail);
  if (marker < 0) return false;
  try {
    JSON.parse(new TextDecoder().decode(tail.subarray(marker + 5)));
    return true;
  } catch {
    return false;
  }
}
