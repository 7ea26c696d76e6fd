import assert from "node:assert/strict";
import { WireError } from "../wire/errors.ts";
import { MainStreamWriter, RAM_SAVE_FLAG_EOS } from "../wire/main_stream.ts";
import { parseMainTemplate } from "./src_template.ts";
import { loadMainTemplate, templateCandidates } from "./src_template_load.ts";

const streams = new URL("../../fixtures/vectors/streams/", import.meta.url);

Deno.test("the QEMU 10.0 main stream cuts into prologue, RAM section, SWITCHOVER_START, epilogue", async () => {
  const bytes = await Deno.readFile(new URL("qemu-10.0-multifd2.bin", streams));
  const template = parseMainTemplate(bytes);
  assert.equal(template.ramBlock, "ram");
  assert.equal(template.ramVersionId, 4);
  assert.equal(template.multifdFlush, true);
  assert.deepEqual(template.commands, [Uint8Array.of(0x08, 0x00, 0x0b, 0x00, 0x00)]);
  // "QEVM", version 3, configuration "none".
  assert.deepEqual(
    template.prologue,
    Uint8Array.of(0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3, 7, 0, 0, 0, 4, 0x6e, 0x6f, 0x6e, 0x65),
  );
  // Device sections start right after the RAM END footer; the stream ends with the VM description.
  assert.equal(template.epilogue[0], 0x04);
  assert.ok(new TextDecoder().decode(template.epilogue).includes('"vmsd_name": "globalstate"'));
  assert.deepEqual(await loadMainTemplate("10.0"), template);
});

Deno.test("the QEMU 7.2 main stream has no flush marker and no command", async () => {
  const bytes = await Deno.readFile(new URL("qemu-7.2-multifd2.bin", streams));
  const template = parseMainTemplate(bytes);
  assert.equal(template.multifdFlush, false);
  assert.deepEqual(template.commands, []);
  assert.equal(template.ramBlock, "ram");
  assert.equal(template.epilogue[0], 0x04);
});

Deno.test("a stream that is not a recorded main stream is E_STREAM naming the field", async (t) => {
  const good = await Deno.readFile(new URL("qemu-10.0-multifd2.bin", streams));
  const cases: [string, (b: Uint8Array) => Uint8Array, RegExp][] = [
    ["bad magic", (b) => b.map((x, i) => (i === 0 ? 0 : x)), /stream\.magic/],
    ["bad version", (b) => b.map((x, i) => (i === 7 ? 2 : x)), /stream\.version/],
    // A PART of a section that was never started.
    ["first section not START", (b) => b.map((x, i) => (i === 17 ? 2 : x)), /section_id/],
  ];
  for (const [name, mutate, field] of cases) {
    await t.step(name, () => {
      assert.throws(() => parseMainTemplate(mutate(good)), (e: unknown) => {
        assert.ok(e instanceof WireError);
        assert.equal(e.errorClass, "E_STREAM");
        assert.match(e.message, field);
        return true;
      });
    });
  }
  await t.step("not one RAM block, or a block list outside START", () => {
    const ram = { sectionId: 2, name: "ram", instanceId: 0, versionId: 4 };
    const two = new MainStreamWriter().header().configuration("none").sectionStart(ram)
      .ramBlocks([{ name: "ram", length: 4096 }, { name: "rom", length: 4096 }])
      .ramFlags(RAM_SAVE_FLAG_EOS).footer(2).sectionEnd(2).ramFlags(RAM_SAVE_FLAG_EOS).footer(2)
      .eof().take();
    const late = new MainStreamWriter().header().configuration("none").sectionStart(ram)
      .ramFlags(RAM_SAVE_FLAG_EOS).footer(2).sectionEnd(2).ramBlocks([{
        name: "ram",
        length: 4096,
      }])
      .ramFlags(RAM_SAVE_FLAG_EOS).footer(2).eof().take();
    for (const [bytes, message] of [[two, /not one RAM block/], [late, /outside/]] as const) {
      assert.throws(() => parseMainTemplate(bytes), (e: unknown) => {
        assert.ok(e instanceof WireError);
        assert.equal(e.errorClass, "E_STREAM");
        assert.match(e.message, message);
        return true;
      });
    }
  });
  await t.step("cut short", () => {
    assert.throws(() => parseMainTemplate(good.subarray(0, 40)), (e: unknown) => {
      assert.ok(e instanceof WireError);
      assert.equal(e.errorClass, "E_TRUNCATED");
      return true;
    });
  });
});

Deno.test("no recorded stream for a version is E_STREAM naming the versions there are", async () => {
  assert.ok(templateCandidates("9.1").length > 0);
  await assert.rejects(loadMainTemplate("9.1"), (e: unknown) => {
    assert.ok(e instanceof WireError);
    assert.equal(e.errorClass, "E_STREAM");
    assert.match(e.message, /7\.2, 10\.0/);
    return true;
  });
});

Deno.test("a capture's main connection serves as template through its manifest", async () => {
  const manifest = new URL(
    "../../fixtures/captures/qemu-10.0-plain-2/manifest.json",
    import.meta.url,
  );
  const fromVector = parseMainTemplate(
    await Deno.readFile(new URL("qemu-10.0-multifd2.bin", streams)),
  );
  const fromCapture = await loadMainTemplate("10.0", manifest.pathname);
  assert.deepEqual(fromCapture.prologue, fromVector.prologue);
  assert.deepEqual(fromCapture.commands, fromVector.commands);
  assert.equal(fromCapture.ramSectionId, fromVector.ramSectionId);
});

Deno.test("streams with pages on the main channel (no multifd) parse too", async () => {
  for (const name of ["qemu-10.0-pages.bin", "qemu-7.2-pages.bin"]) {
    const template = parseMainTemplate(await Deno.readFile(new URL(name, streams)));
    assert.equal(template.ramBlock, "ram");
  }
});
