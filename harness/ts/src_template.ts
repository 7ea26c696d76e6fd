/**
 * The template of a main stream: a captured QEMU main stream cut into the parts the source replays
 * verbatim (header and configuration; commands between the RAM parts; device sections, EOF and
 * the VM description) around the RAM section it regenerates for its own RAM size.
 *
 * @module
 */

import { WireError } from "../wire/errors.ts";
import { MainStreamDecoder, type MainStreamEvent } from "../wire/main_stream_decoder.ts";
import { PAGE_SIZE } from "../ram/pattern.ts";

/** A captured main stream, cut for replay. */
export interface MainTemplate {
  /** Header and configuration section: everything before the RAM section's START. */
  readonly prologue: Uint8Array;
  /** Section id, instance id and version of the RAM section (`ram`, version 4). */
  readonly ramSectionId: number;
  readonly ramInstanceId: number;
  readonly ramVersionId: number;
  /** Idstr of the RAM section's one block (`ram` for `-M none`). */
  readonly ramBlock: string;
  /** Raw `QEMU_VM_COMMAND` records seen between the RAM section's START and END. */
  readonly commands: readonly Uint8Array[];
  /** Everything after the RAM section's END: device sections, EOF, VM description. */
  readonly epilogue: Uint8Array;
  /** Whether the capture used `RAM_SAVE_FLAG_MULTIFD_FLUSH` (QEMU 8.1+ style). */
  readonly multifdFlush: boolean;
}

/**
 * Cuts a captured main stream (`-M none`, one RAM block) into a {@linkcode MainTemplate}. The
 * wire's {@linkcode MainStreamDecoder} decodes it, device sections included, so a template is a
 * stream QEMU would load.
 *
 * @throws {WireError} `E_STREAM` naming the offending record when the capture is not such a
 * stream, `E_TRUNCATED` when it stops early.
 * @example
 * ```ts ignore
 * import { parseMainTemplate } from "./src_template.ts";
 * const template = parseMainTemplate(await Deno.readFile("fixtures/vectors/main-10.0.bin"));
 * console.log(template.ramBlock); // "ram"
 * ```
 */
export function parseMainTemplate(stream: Uint8Array): MainTemplate {
  const decoder = new MainStreamDecoder({ pageSize: PAGE_SIZE });
  const events: MainStreamEvent[] = [];
  decoder.push(stream, events);
  decoder.end(events);
  let ram: Extract<MainStreamEvent, { type: "section" }> | undefined;
  let kind: string | undefined;
  let ramBlock: string | undefined;
  let multifdFlush = false;
  let epilogueAt: number | undefined;
  const commands: Uint8Array[] = [];
  for (const event of events) {
    const inside = ram !== undefined && epilogueAt === undefined;
    switch (event.type) {
      case "section":
        // Device sections come last: the decoder takes nothing but EOF after the first one.
        if (event.kind === "full") break;
        if (event.kind === "start") ram = event;
        kind = event.kind;
        break;
      case "ram-blocks":
        if (kind !== "start" || ramBlock !== undefined) {
          throw templateError("block list outside the RAM section's START", event.offset);
        }
        if (event.blocks.length !== 1) {
          throw templateError("not one RAM block", event.offset, event.blocks.length, 1);
        }
        ramBlock = event.blocks[0].name;
        break;
      case "multifd-flush":
        multifdFlush = true;
        break;
      case "command":
        if (inside) commands.push(stream.slice(event.offset, event.offset + 5 + event.data.length));
        break;
      case "footer":
        if (kind === "end" && event.sectionId === ram?.sectionId) epilogueAt ??= event.offset + 5;
        break;
    }
  }
  if (!ram || ramBlock === undefined || epilogueAt === undefined) {
    throw templateError("no RAM section with a block list and an END", stream.length);
  }
  return {
    prologue: stream.slice(0, ram.offset),
    ramSectionId: ram.sectionId,
    ramInstanceId: ram.instanceId,
    ramVersionId: ram.versionId,
    ramBlock,
    commands,
    epilogue: stream.slice(epilogueAt),
    multifdFlush,
  };
}

function templateError(
  summary: string,
  offset: number,
  received?: number,
  expected?: number,
): WireError {
  return new WireError("E_STREAM", `main-stream template: ${summary} at ${offset}`, {
    field: "template",
    received,
    expected,
  });
}
