/**
 * The template of a main stream: a captured QEMU main stream cut into the parts the source replays
 * verbatim (header and configuration; commands between the RAM parts; device sections, EOF and
 * the VM description) around the RAM section it regenerates for its own RAM size.
 *
 * @module
 */

import { ByteCursor, latin1 } from "../wire/bytes.ts";
import { hex, WireError } from "../wire/errors.ts";
import {
  QEMU_VM_COMMAND,
  QEMU_VM_CONFIGURATION,
  QEMU_VM_FILE_MAGIC,
  QEMU_VM_FILE_VERSION,
  QEMU_VM_SECTION_END,
  QEMU_VM_SECTION_FOOTER,
  QEMU_VM_SECTION_PART,
  QEMU_VM_SECTION_START,
  QEMU_VM_SUBSECTION,
  RAM_SAVE_FLAG_CONTINUE,
  RAM_SAVE_FLAG_EOS,
  RAM_SAVE_FLAG_MASK,
  RAM_SAVE_FLAG_MEM_SIZE,
  RAM_SAVE_FLAG_MULTIFD_FLUSH,
  RAM_SAVE_FLAG_PAGE,
  RAM_SAVE_FLAG_ZERO,
} from "../wire/main_stream.ts";
import { PAGE_SIZE } from "../ram/pattern.ts";

/** A captured main stream, cut for replay. */
export interface MainTemplate {
  /** Header and configuration section: everything before the RAM section's START. */
  readonly prologue: Uint8Array;
  /** Section id, instance id and version of the RAM section (`ram`, version 4). */
  readonly ramSectionId: number;
  readonly ramInstanceId: number;
  readonly ramVersionId: number;
  /** Idstr of the RAM section's first block (`ram` for `-M none`). */
  readonly ramBlock: string;
  /** Raw `QEMU_VM_COMMAND` records seen between the RAM section's START and END. */
  readonly commands: readonly Uint8Array[];
  /** Everything after the RAM section's END: device sections, EOF, VM description. */
  readonly epilogue: Uint8Array;
  /** Whether the capture used `RAM_SAVE_FLAG_MULTIFD_FLUSH` (QEMU 8.1+ style). */
  readonly multifdFlush: boolean;
}

const COMMAND_HEADER = 4;
const MAX_COMMAND_LENGTH = 65535;

/**
 * Cuts a captured main stream (`-M none`, one RAM block) into a {@linkcode MainTemplate}.
 *
 * @throws {WireError} `E_STREAM` naming the offending record when the capture is not such a stream.
 * @example
 * ```ts ignore
 * import { parseMainTemplate } from "./src_template.ts";
 * const template = parseMainTemplate(await Deno.readFile("fixtures/vectors/main-10.0.bin"));
 * console.log(template.ramBlock); // "ram"
 * ```
 */
export function parseMainTemplate(stream: Uint8Array): MainTemplate {
  const cursor = new ByteCursor(stream);
  const magic = cursor.readU32("main.magic");
  if (magic !== QEMU_VM_FILE_MAGIC) {
    throw streamError("not a main stream", "main.magic", hex(magic), hex(QEMU_VM_FILE_MAGIC));
  }
  const version = cursor.readU32("main.version");
  if (version !== QEMU_VM_FILE_VERSION) {
    throw streamError("unsupported stream version", "main.version", version, QEMU_VM_FILE_VERSION);
  }
  if (cursor.data[cursor.offset] === QEMU_VM_CONFIGURATION) skipConfiguration(cursor);
  const prologue = stream.slice(0, cursor.offset);

  const start = cursor.readU8("section.type");
  if (start !== QEMU_VM_SECTION_START) {
    throw streamError("expected the RAM section START", "section.type", start, 1);
  }
  const ramSectionId = cursor.readU32("section.id");
  const idstr = readIdstr(cursor, "section.idstr");
  if (idstr !== "ram") {
    throw streamError("first section is not RAM", "section.idstr", JSON.stringify(idstr), '"ram"');
  }
  const ramInstanceId = cursor.readU32("section.instance_id");
  const ramVersionId = cursor.readU32("section.version_id");
  const state = { ramBlock: "", multifdFlush: false };
  skipRamRecords(cursor, state, true);
  skipFooter(cursor, ramSectionId);

  const commands: Uint8Array[] = [];
  for (;;) {
    const at = cursor.offset;
    const type = cursor.readU8("section.type");
    if (type === QEMU_VM_COMMAND) {
      cursor.skip(2, "command.cmd");
      const length = cursor.readU16("command.len");
      if (length > MAX_COMMAND_LENGTH) {
        throw streamError("command too long", "command.len", length, MAX_COMMAND_LENGTH);
      }
      cursor.skip(length, "command.data");
      commands.push(stream.slice(at, at + COMMAND_HEADER + 1 + length));
      continue;
    }
    if (type !== QEMU_VM_SECTION_PART && type !== QEMU_VM_SECTION_END) {
      throw streamError("expected a RAM PART or END", "section.type", type, "2 or 3");
    }
    const id = cursor.readU32("section.id");
    if (id !== ramSectionId) {
      throw streamError("iterative section other than RAM", "section.id", id, ramSectionId);
    }
    skipRamRecords(cursor, state, false);
    skipFooter(cursor, ramSectionId);
    if (type === QEMU_VM_SECTION_END) break;
  }
  if (!state.ramBlock) throw streamError("no RAM block list", "ram.mem_size", "none", "a block");
  return {
    prologue,
    ramSectionId,
    ramInstanceId,
    ramVersionId,
    ramBlock: state.ramBlock,
    commands,
    epilogue: stream.slice(cursor.offset),
    multifdFlush: state.multifdFlush,
  };
}

function skipConfiguration(cursor: ByteCursor): void {
  cursor.skip(1, "configuration");
  const length = cursor.readU32("configuration.len");
  if (length > 255) throw streamError("machine name too long", "configuration.len", length, 255);
  cursor.skip(length, "configuration.name");
  while (cursor.data[cursor.offset] === QEMU_VM_SUBSECTION) {
    cursor.skip(1, "subsection");
    const name = readIdstr(cursor, "subsection.name");
    cursor.skip(4, "subsection.version_id");
    if (name === "configuration/target-page-bits") {
      cursor.skip(4, "target_page_bits");
    } else if (name === "configuration/uuid") {
      cursor.skip(16, "uuid");
    } else if (name === "configuration/capabilities") {
      const count = cursor.readU32("capabilities.count");
      for (let i = 0; i < count; i++) readIdstr(cursor, `capabilities[${i}]`);
    } else {
      throw streamError("unknown configuration subsection", "subsection.name", name, "known");
    }
  }
}

function skipRamRecords(
  cursor: ByteCursor,
  state: { ramBlock: string; multifdFlush: boolean },
  start: boolean,
): void {
  for (;;) {
    const high = cursor.readU32("ram.addr");
    const low = cursor.readU32("ram.addr");
    const flags = low & RAM_SAVE_FLAG_MASK;
    const addr = high * 0x1_0000_0000 + (low - flags);
    if (flags & RAM_SAVE_FLAG_MEM_SIZE) {
      if (!start) throw streamError("block list outside START", "ram.flags", hex(flags, 3), "");
      let total = addr;
      while (total > 0) {
        const name = readIdstr(cursor, "ram.block.idstr");
        const length = Number(cursor.readU64("ram.block.used_length"));
        if (!state.ramBlock) state.ramBlock = name;
        else throw streamError("more than one RAM block", "ram.block.idstr", name, "one block");
        if (length > total) throw streamError("block list overruns", "ram.mem_size", length, total);
        total -= length;
      }
      continue;
    }
    if (flags === RAM_SAVE_FLAG_EOS) return;
    if (flags === RAM_SAVE_FLAG_MULTIFD_FLUSH) {
      state.multifdFlush = true;
      continue;
    }
    const kind = flags & ~RAM_SAVE_FLAG_CONTINUE;
    if (!(flags & RAM_SAVE_FLAG_CONTINUE)) readIdstr(cursor, "ram.page.idstr");
    if (kind === RAM_SAVE_FLAG_ZERO) cursor.skip(1, "ram.zero.byte");
    else if (kind === RAM_SAVE_FLAG_PAGE) cursor.skip(PAGE_SIZE, "ram.page");
    else throw streamError("unsupported RAM record", "ram.flags", hex(flags, 3), "ZERO or PAGE");
  }
}

function skipFooter(cursor: ByteCursor, sectionId: number): void {
  const footer = cursor.readU8("section.footer");
  if (footer !== QEMU_VM_SECTION_FOOTER) {
    throw streamError("missing section footer", "section.footer", hex(footer, 2), "0x7e");
  }
  const id = cursor.readU32("section.footer.id");
  if (id !== sectionId) throw streamError("footer of another section", "section.id", id, sectionId);
}

function readIdstr(cursor: ByteCursor, field: string): string {
  const length = cursor.readU8(`${field}.len`);
  const bytes = cursor.bytes(length, field);
  return latin1(bytes, 0, bytes.length);
}

function streamError(
  summary: string,
  field: string,
  received: string | number,
  expected: string | number,
): WireError {
  return new WireError("E_STREAM", `main-stream template: ${summary}`, {
    field,
    received,
    expected,
  });
}
