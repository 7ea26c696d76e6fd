/**
 * The main migration channel (the "QEVM" stream, `migration/savevm.c` and `migration/ram.c`):
 * constants and encoders for the records a `-M none` guest's stream is made of.
 *
 * @module
 */

/** `QEMU_VM_FILE_MAGIC`: "QEVM", first four bytes of the main channel. */
export const QEMU_VM_FILE_MAGIC = 0x5145564d;
/** `QEMU_VM_FILE_VERSION`. */
export const QEMU_VM_FILE_VERSION = 3;
/** `QEMU_VM_FILE_VERSION_COMPAT`: the obsolete v2 format QEMU refuses. */
export const QEMU_VM_FILE_VERSION_COMPAT = 2;

/** `QEMU_VM_EOF`: end of the device sections. */
export const QEMU_VM_EOF = 0x00;
/** `QEMU_VM_SECTION_START`: first part of an iterative section (RAM). */
export const QEMU_VM_SECTION_START = 0x01;
/** `QEMU_VM_SECTION_PART`: a middle part of an iterative section. */
export const QEMU_VM_SECTION_PART = 0x02;
/** `QEMU_VM_SECTION_END`: the last part of an iterative section. */
export const QEMU_VM_SECTION_END = 0x03;
/** `QEMU_VM_SECTION_FULL`: a whole device section (vmstate), not self-delimiting. */
export const QEMU_VM_SECTION_FULL = 0x04;
/** `QEMU_VM_SUBSECTION`: a vmstate subsection inside a device section. */
export const QEMU_VM_SUBSECTION = 0x05;
/** `QEMU_VM_VMDESCRIPTION`: the JSON trailer after EOF. */
export const QEMU_VM_VMDESCRIPTION = 0x06;
/** `QEMU_VM_CONFIGURATION`: the configuration section after the header. */
export const QEMU_VM_CONFIGURATION = 0x07;
/** `QEMU_VM_COMMAND`: a command record (`MIG_CMD_*`). */
export const QEMU_VM_COMMAND = 0x08;
/** `QEMU_VM_SECTION_FOOTER`: closes a section, followed by its be32 section id. */
export const QEMU_VM_SECTION_FOOTER = 0x7e;

/** `MIG_CMD_SWITCHOVER_START` (QEMU 10.0+, 4e55cb3cde). */
export const MIG_CMD_SWITCHOVER_START = 11;

/** `RAM_SAVE_FLAG_ZERO`: a page filled with one byte (always 0 from QEMU). */
export const RAM_SAVE_FLAG_ZERO = 0x02;
/** `RAM_SAVE_FLAG_MEM_SIZE`: the block list at the start of the RAM section. */
export const RAM_SAVE_FLAG_MEM_SIZE = 0x04;
/** `RAM_SAVE_FLAG_PAGE`: a raw page follows. */
export const RAM_SAVE_FLAG_PAGE = 0x08;
/** `RAM_SAVE_FLAG_EOS`: end of this RAM section part. */
export const RAM_SAVE_FLAG_EOS = 0x10;
/** `RAM_SAVE_FLAG_CONTINUE`: same block as the previous page, no idstr follows. */
export const RAM_SAVE_FLAG_CONTINUE = 0x20;
/** `RAM_SAVE_FLAG_XBZRLE`: an XBZRLE-encoded page. */
export const RAM_SAVE_FLAG_XBZRLE = 0x40;
/** `RAM_SAVE_FLAG_COMPRESS_PAGE`: a zlib-compressed page (removed in 9.1). */
export const RAM_SAVE_FLAG_COMPRESS_PAGE = 0x100;
/** `RAM_SAVE_FLAG_MULTIFD_FLUSH`: sync the multifd channels (QEMU 8.1+, 294e5a4034). */
export const RAM_SAVE_FLAG_MULTIFD_FLUSH = 0x200;
/** The flag bits of a RAM record's be64 (below the page-aligned address). */
export const RAM_SAVE_FLAG_MASK = 0xfff;

/** `MIG_CMD_*` names and fixed payload lengths (`-1`: variable), from `savevm.c mig_cmd_args`. */
export const MIG_COMMANDS: Readonly<
  Record<number, { readonly name: string; readonly len: number }>
> = {
  1: { name: "OPEN_RETURN_PATH", len: 0 },
  2: { name: "PING", len: 4 },
  3: { name: "POSTCOPY_ADVISE", len: -1 },
  4: { name: "POSTCOPY_LISTEN", len: 0 },
  5: { name: "POSTCOPY_RUN", len: 0 },
  6: { name: "POSTCOPY_RAM_DISCARD", len: -1 },
  7: { name: "POSTCOPY_RESUME", len: 0 },
  8: { name: "PACKAGED", len: 4 },
  9: { name: "RECV_BITMAP", len: -1 },
  10: { name: "ENABLE_COLO", len: 0 },
  11: { name: "SWITCHOVER_START", len: 0 },
};

/** A RAM block as announced in the RAM section's block list. */
export interface RamBlockInfo {
  /** The RAMBlock idstr, `ram` for `-M none`. */
  readonly name: string;
  /** `used_length` in bytes. */
  readonly length: number;
  /** Guest-physical address, only sent with capability `x-ignore-shared`. */
  readonly addr?: number;
}

/** Optional parts of the configuration section (`vmstate_configuration` subsections). */
export interface ConfigurationOptions {
  /** `configuration/target-page-bits` (only sent when above the target's minimum). */
  readonly targetPageBits?: number;
  /** `configuration/capabilities`: validated capabilities that are on, e.g. `x-ignore-shared`. */
  readonly capabilities?: readonly string[];
  /** `configuration/uuid` (sent with `-uuid` and capability `validate-uuid`). */
  readonly uuid?: Uint8Array;
}

/** Identity of a section in SECTION_START and SECTION_FULL records. */
export interface SectionIdentity {
  readonly sectionId: number;
  /** idstr, e.g. `ram`, `timer`, `globalstate`. */
  readonly name: string;
  readonly instanceId: number;
  readonly versionId: number;
}

/**
 * Builds a main stream record by record into a growing buffer. Every method appends the record as
 * QEMU's `savevm.c`/`ram.c` writes it; `take()` hands out what was written since the last call, so
 * a source can write in batches.
 *
 * @example A minimal stream a `-M none` destination accepts the start of
 * ```ts
 * import { MainStreamWriter, RAM_SAVE_FLAG_EOS } from "./main_stream.ts";
 * const writer = new MainStreamWriter()
 *   .header()
 *   .configuration("none")
 *   .sectionStart({ sectionId: 2, name: "ram", instanceId: 0, versionId: 4 })
 *   .ramBlocks([{ name: "ram", length: 16 << 20 }])
 *   .ramFlags(RAM_SAVE_FLAG_EOS)
 *   .footer(2);
 * console.log(writer.take().length);
 * ```
 */
export class MainStreamWriter {
  #buffer: Uint8Array;
  #view: DataView;
  #length = 0;

  constructor(initialCapacity = 4096) {
    this.#buffer = new Uint8Array(initialCapacity);
    this.#view = new DataView(this.#buffer.buffer);
  }

  /** Bytes written and not yet taken. */
  get length(): number {
    return this.#length;
  }

  /** Returns a copy of the bytes written since the last `take()` and empties the writer. */
  take(): Uint8Array {
    const out = this.#buffer.slice(0, this.#length);
    this.#length = 0;
    return out;
  }

  /** `QEVM` and the file version (overridable for rejection tests). */
  header(magic: number = QEMU_VM_FILE_MAGIC, version: number = QEMU_VM_FILE_VERSION): this {
    return this.u32(magic).u32(version);
  }

  /** `QEMU_VM_CONFIGURATION`, the machine name and the subsections asked for. */
  configuration(machine: string, options: ConfigurationOptions = {}): this {
    this.u8(QEMU_VM_CONFIGURATION).u32(machine.length).latin1(machine);
    if (options.targetPageBits !== undefined) {
      this.subsection("configuration/target-page-bits", 1).u32(options.targetPageBits);
    }
    if (options.capabilities && options.capabilities.length > 0) {
      this.subsection("configuration/capabilities", 1).u32(options.capabilities.length);
      for (const capability of options.capabilities) this.u8(capability.length).latin1(capability);
    }
    if (options.uuid) this.subsection("configuration/uuid", 1).raw(options.uuid);
    return this;
  }

  /** A vmstate subsection header: `0x05`, name, be32 version. */
  subsection(name: string, versionId: number): this {
    return this.u8(QEMU_VM_SUBSECTION).u8(name.length).latin1(name).u32(versionId);
  }

  /** `QEMU_VM_SECTION_START` with its identity. */
  sectionStart(section: SectionIdentity): this {
    return this.#sectionHeader(QEMU_VM_SECTION_START, section);
  }

  /** `QEMU_VM_SECTION_FULL` with its identity; the vmstate fields follow. */
  sectionFull(section: SectionIdentity): this {
    return this.#sectionHeader(QEMU_VM_SECTION_FULL, section);
  }

  /** `QEMU_VM_SECTION_PART` for a started section. */
  sectionPart(sectionId: number): this {
    return this.u8(QEMU_VM_SECTION_PART).u32(sectionId);
  }

  /** `QEMU_VM_SECTION_END` for a started section. */
  sectionEnd(sectionId: number): this {
    return this.u8(QEMU_VM_SECTION_END).u32(sectionId);
  }

  /** `QEMU_VM_SECTION_FOOTER` closing section `sectionId`. */
  footer(sectionId: number): this {
    return this.u8(QEMU_VM_SECTION_FOOTER).u32(sectionId);
  }

  /** The RAM block list: `total | MEM_SIZE`, then each block's name and length. */
  ramBlocks(blocks: readonly RamBlockInfo[], total?: number): this {
    const sum = blocks.reduce((n, block) => n + block.length, 0);
    this.u64((total ?? sum) + RAM_SAVE_FLAG_MEM_SIZE);
    for (const block of blocks) {
      this.u8(block.name.length).latin1(block.name).u64(block.length);
      if (block.addr !== undefined) this.u64(block.addr);
    }
    return this;
  }

  /**
   * A zero page: `address | ZERO`, the block name unless `block` is undefined (then CONTINUE),
   * and the fill byte.
   */
  zeroPage(address: number, block?: string, fill = 0): this {
    this.#pageHeader(address, RAM_SAVE_FLAG_ZERO, block);
    return this.u8(fill);
  }

  /** A normal page: `address | PAGE`, the block name unless CONTINUE, and the page bytes. */
  page(address: number, data: Uint8Array, block?: string): this {
    this.#pageHeader(address, RAM_SAVE_FLAG_PAGE, block);
    return this.raw(data);
  }

  /** A bare RAM flag word such as `RAM_SAVE_FLAG_EOS` or `RAM_SAVE_FLAG_MULTIFD_FLUSH`. */
  ramFlags(flags: number, address = 0): this {
    return this.u64(address + flags);
  }

  /** `QEMU_VM_COMMAND`: be16 command, be16 length, data. */
  command(command: number, data: Uint8Array = new Uint8Array(0)): this {
    return this.u8(QEMU_VM_COMMAND).u16(command).u16(data.length).raw(data);
  }

  /** `QEMU_VM_EOF`. */
  eof(): this {
    return this.u8(QEMU_VM_EOF);
  }

  /** The VM description trailer: `0x06`, be32 length, JSON. */
  vmDescription(description: unknown): this {
    const json = new TextEncoder().encode(
      typeof description === "string" ? description : JSON.stringify(description),
    );
    return this.u8(QEMU_VM_VMDESCRIPTION).u32(json.length).raw(json);
  }

  /** Appends one byte. */
  u8(value: number): this {
    this.#reserve(1);
    this.#buffer[this.#length++] = value;
    return this;
  }

  /** Appends a big-endian u16. */
  u16(value: number): this {
    this.#reserve(2);
    this.#view.setUint16(this.#length, value);
    this.#length += 2;
    return this;
  }

  /** Appends a big-endian u32. */
  u32(value: number): this {
    this.#reserve(4);
    this.#view.setUint32(this.#length, value >>> 0);
    this.#length += 4;
    return this;
  }

  /** Appends a big-endian u64 (number up to 2^53, or bigint). */
  u64(value: number | bigint): this {
    this.#reserve(8);
    if (typeof value === "bigint") {
      this.#view.setBigUint64(this.#length, BigInt.asUintN(64, value));
    } else {
      this.#view.setUint32(this.#length, Math.floor(value / 0x1_0000_0000));
      this.#view.setUint32(this.#length + 4, value >>> 0);
    }
    this.#length += 8;
    return this;
  }

  /** Appends raw bytes. */
  raw(bytes: Uint8Array): this {
    this.#reserve(bytes.length);
    this.#buffer.set(bytes, this.#length);
    this.#length += bytes.length;
    return this;
  }

  /** Appends text as Latin-1 bytes. */
  latin1(text: string): this {
    this.#reserve(text.length);
    for (let i = 0; i < text.length; i++) this.#buffer[this.#length++] = text.charCodeAt(i);
    return this;
  }

  #sectionHeader(type: number, section: SectionIdentity): this {
    return this.u8(type).u32(section.sectionId).u8(section.name.length).latin1(section.name)
      .u32(section.instanceId).u32(section.versionId);
  }

  #pageHeader(address: number, flag: number, block: string | undefined): void {
    if (block === undefined) {
      this.u64(address + flag + RAM_SAVE_FLAG_CONTINUE);
    } else {
      this.u64(address + flag).u8(block.length).latin1(block);
    }
  }

  #reserve(extra: number): void {
    if (this.#length + extra <= this.#buffer.length) return;
    let capacity = this.#buffer.length * 2;
    while (capacity < this.#length + extra) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.#buffer.subarray(0, this.#length));
    this.#buffer = grown;
    this.#view = new DataView(grown.buffer);
  }
}
