import assert from "node:assert/strict";
import { AF_UNIX, loadLibc, SHUT_WR, SOCK_CLOEXEC, SOCK_STREAM } from "../net/libc.ts";
import { SyncSocket } from "../net/native_sync.ts";
import { WireError } from "../wire/errors.ts";
import { ChannelInput } from "./dst_channel_input.ts";

const lib = loadLibc();

/** A connected socket pair: this thread writes one end and reads the other with blocking calls. */
function socketPair(): { reader: SyncSocket; writer: SyncSocket; endWrite(): void } & Disposable {
  const fds = new Int32Array(2);
  assert.equal(
    lib!.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, new Uint8Array(fds.buffer)),
    0,
  );
  return {
    reader: new SyncSocket(fds[0], { timeoutMs: 2000, name: "test channel" }),
    writer: new SyncSocket(fds[1], { timeoutMs: 2000, name: "test channel" }),
    endWrite: () => void lib!.shutdown(fds[1], SHUT_WR),
    [Symbol.dispose]() {
      lib!.close(fds[0]);
      lib!.close(fds[1]);
    },
  };
}

function bytes(length: number, seed: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (i * 7 + seed) & 0xff);
}

Deno.test({ name: "ChannelInput reads the lent leftover before the socket", ignore: !lib }, () => {
  using pair = socketPair();
  const leftover = bytes(5, 1);
  const sent = bytes(7, 2);
  pair.writer.writeAll(sent);
  const input = new ChannelInput(pair.reader, leftover, "test channel");
  const into = new Uint8Array(12);
  assert.equal(input.read(into, "packet header", false, 0), true);
  assert.deepEqual(into, Uint8Array.from([...leftover, ...sent]));
  assert.equal(input.bytesRead, 12);
});

Deno.test({
  name: "ChannelInput: a small read takes its read-ahead along and no more",
  ignore: !lib,
}, () => {
  using pair = socketPair();
  const sent = bytes(100, 3);
  pair.writer.writeAll(sent);
  const input = new ChannelInput(pair.reader, new Uint8Array(0), "test channel");
  const header = new Uint8Array(12);
  const body = new Uint8Array(20);
  assert.equal(input.read(header, "packet header", true, 20), true);
  // One call brought header and body; the rest stays in the socket for a read into place.
  assert.equal(pair.reader.bytesRead, 32);
  assert.equal(input.read(body, "packet body", false, 0), true);
  assert.equal(pair.reader.bytesRead, 32);
  assert.deepEqual([...header, ...body], [...sent.subarray(0, 32)]);
});

Deno.test({
  name: "ChannelInput: a payload read goes straight into a shared buffer",
  ignore: !lib,
}, () => {
  using pair = socketPair();
  const sent = bytes(3 * 4096 + 100, 4);
  pair.writer.writeAll(sent);
  const input = new ChannelInput(pair.reader, new Uint8Array(0), "test channel");
  const ram = new Uint8Array(new SharedArrayBuffer(3 * 4096));
  assert.equal(input.read(ram, "page payload", false, Infinity), true);
  assert.deepEqual(ram, sent.subarray(0, ram.length));
  // Read in place: a staged read would have taken the 100 bytes after it along.
  assert.equal(pair.reader.bytesRead, ram.length);
});

Deno.test({
  name: "ChannelInput: a clean end is false where allowed, a cut read is E_TRUNCATED",
  ignore: !lib,
}, () => {
  {
    using pair = socketPair();
    pair.endWrite();
    const input = new ChannelInput(pair.reader, new Uint8Array(0), "test channel");
    assert.equal(input.read(new Uint8Array(12), "packet header", true, 0), false);
  }
  using pair = socketPair();
  pair.writer.writeAll(bytes(5, 5));
  pair.endWrite();
  const input = new ChannelInput(pair.reader, new Uint8Array(0), "test channel");
  assert.throws(
    () => input.read(new Uint8Array(12), "packet header", true, 0),
    (error: unknown) =>
      error instanceof WireError && error.errorClass === "E_TRUNCATED" &&
      error.message.startsWith("E_TRUNCATED: end of stream on test channel after 5 of 12 bytes"),
  );
});
