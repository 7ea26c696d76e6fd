/**
 * The RAM section of the main stream, regenerated for the source's RAM, with the pages sent over
 * the multifd channels, in the layout of the target version (spec §1.2):
 *
 * - 8.1+ (`multifd-flush`): START {block list, FLUSH, EOS}, PART {pages on multifd, FLUSH at the
 *   end of the round, EOS}, commands (10.0: `MIG_CMD_SWITCHOVER_START`), END {FLUSH, EOS}.
 * - 7.2 (`eos`): the same sections without FLUSH; every EOS is a sync point. Before 9.0 zero pages
 *   travel on the main stream as `ZERO` records, only normal pages on multifd.
 *
 * Every sync point first writes one SYNC packet per channel and waits until they are written,
 * then puts the marker on the main stream, as `multifd_send_sync_main()` does.
 *
 * @module
 */

import {
  MIG_CMD_SWITCHOVER_START,
  QEMU_VM_COMMAND,
  QEMU_VM_SECTION_END,
  QEMU_VM_SECTION_FOOTER,
  QEMU_VM_SECTION_PART,
  QEMU_VM_SECTION_START,
  RAM_SAVE_FLAG_CONTINUE,
  RAM_SAVE_FLAG_EOS,
  RAM_SAVE_FLAG_MEM_SIZE,
  RAM_SAVE_FLAG_MULTIFD_FLUSH,
  RAM_SAVE_FLAG_ZERO,
} from "../wire/main_stream.ts";
import { PAGE_SIZE } from "../ram/pattern.ts";
import { type PacketSender, PROGRESS_EVERY, throwIfAborted } from "./src_multifd.ts";
import { type PagePacker, PAGES_PER_PACKET } from "./src_packer.ts";
import type { SourceProfile } from "./src_profile.ts";
import type { MainStreamWriter } from "./src_stream.ts";
import type { MainTemplate } from "./src_template.ts";
import type { SourceEvent } from "./source_options.ts";

/** What {@linkcode sendRamSection} works with. */
export interface RamSectionContext {
  readonly main: MainStreamWriter;
  readonly sender: PacketSender;
  readonly packer: PagePacker;
  readonly profile: SourceProfile;
  readonly template: MainTemplate;
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: SourceEvent) => void;
}

/** Counts of what was sent. */
export interface RamSectionStats {
  /** Pages sent as normal pages (payload). */
  normalPages: number;
  /** Zero pages (in packets, or as main-stream records). */
  zeroPages: number;
  /** Sync points (SYNC rounds). */
  syncs: number;
}

/**
 * Writes the RAM section START … END (with the commands between PART and END) and sends every
 * page over multifd. The template's prologue must already be on the main stream; its epilogue
 * follows.
 *
 * @example
 * ```ts ignore
 * import { sendRamSection } from "./src_ram_section.ts";
 * const stats = await sendRamSection(context);
 * ```
 */
export async function sendRamSection(context: RamSectionContext): Promise<RamSectionStats> {
  const { main, packer, profile, template } = context;
  const stats: RamSectionStats = { normalPages: 0, zeroPages: 0, syncs: 0 };
  const id = template.ramSectionId;

  main.u8(QEMU_VM_SECTION_START);
  main.u32(id);
  main.idstr("ram");
  main.u32(template.ramInstanceId);
  main.u32(template.ramVersionId);
  main.u64(packer.ram.byteLength + RAM_SAVE_FLAG_MEM_SIZE);
  main.idstr(packer.ramBlock);
  main.u64(packer.ram.byteLength);
  await syncPoint(context, stats);
  endSection(main, id);
  await main.flush();

  main.u8(QEMU_VM_SECTION_PART);
  main.u32(id);
  if (profile.zeroPagesOnMultifd) await sendAllPages(context);
  else await sendNormalPages(context, stats);
  // The end of the round: 8.1+ syncs here with FLUSH; 7.2 syncs on this section's EOS.
  await syncPoint(context, stats);
  endSection(main, id);
  await main.flush();

  if (profile.switchoverStart) {
    if (template.commands.length > 0) {
      for (const command of template.commands) main.bytes(command);
    } else {
      main.u8(QEMU_VM_COMMAND);
      main.u16(MIG_CMD_SWITCHOVER_START);
      main.u16(0);
    }
  }
  main.u8(QEMU_VM_SECTION_END);
  main.u32(id);
  await syncPoint(context, stats);
  endSection(main, id);
  await main.flush();
  // Every packet has been written (the last sync point waited for them): the counts are final.
  stats.normalPages = context.sender.counts.normalPages;
  stats.zeroPages += context.sender.counts.zeroPages;
  return stats;
}

/**
 * One sync point, once per section: SYNC on every channel, then `MULTIFD_FLUSH` (8.1+) on the
 * main stream; before 8.1 the section's EOS that follows is the marker.
 */
async function syncPoint(context: RamSectionContext, stats: RamSectionStats): Promise<void> {
  await context.main.flush(false);
  await context.sender.sync();
  stats.syncs++;
  if (context.profile.multifdFlush) context.main.u64(RAM_SAVE_FLAG_MULTIFD_FLUSH);
}

function endSection(main: MainStreamWriter, id: number): void {
  main.u64(RAM_SAVE_FLAG_EOS);
  main.u8(QEMU_VM_SECTION_FOOTER);
  main.u32(id);
}

/** 9.0+: every page goes in a packet; 128 consecutive pages per packet. */
function sendAllPages(context: RamSectionContext): Promise<void> {
  throwIfAborted(context.signal);
  return context.sender.sendRun(0, context.packer.pages, (pages) => progress(context, pages));
}

/** Before 9.0: zero pages as `ZERO` records on the main stream, normal pages in packets. */
async function sendNormalPages(context: RamSectionContext, stats: RamSectionStats): Promise<void> {
  const { sender, packer, main } = context;
  const pending = new Int32Array(PAGES_PER_PACKET);
  let count = 0;
  let packets = 0;
  let blockSent = false;
  let normal = 0;
  const flushPending = async (): Promise<void> => {
    await sender.sendPages(pending, count);
    normal += count;
    count = 0;
    if (++packets % PROGRESS_EVERY === 0) progress(context, normal + stats.zeroPages);
  };
  for (let page = 0; page < packer.pages; page++) {
    if (packer.isZero(page)) {
      // save_zero_page: be64 offset|ZERO (|CONTINUE after the first), idstr once, byte 0.
      const offset = page * PAGE_SIZE;
      if (blockSent) main.u64(offset + (RAM_SAVE_FLAG_ZERO | RAM_SAVE_FLAG_CONTINUE));
      else {
        main.u64(offset + RAM_SAVE_FLAG_ZERO);
        main.idstr(packer.ramBlock);
        blockSent = true;
      }
      main.u8(0);
      stats.zeroPages++;
      const flushing = main.maybeFlush();
      if (flushing) {
        throwIfAborted(context.signal);
        await flushing;
      }
      continue;
    }
    pending[count++] = page;
    if (count === PAGES_PER_PACKET) {
      throwIfAborted(context.signal);
      await flushPending();
    }
  }
  if (count > 0) await flushPending();
}

function progress(context: RamSectionContext, pages: number): void {
  context.onEvent?.({
    event: "progress",
    pages,
    bytes: context.sender.counts.bytes + context.main.position,
  });
}
