import assert from "node:assert/strict";
import { WireError } from "../wire/errors.ts";
import {
  connectNative,
  listenNative,
  nativeTcpAvailable,
  type NativeTcpConn,
} from "./native_tcp.ts";
import { SyncSocket } from "./native_sync.ts";

const available = nativeTcpAvailable();

async function pair(): Promise<{ client: NativeTcpConn; server: NativeTcpConn } & Disposable> {
  const listener = listenNative({ hostname: "127.0.0.1", port: 0 });
  try {
    const [client, server] = await Promise.all([connectNative(listener.addr), listener.accept()]);
    return {
      client,
      server,
      [Symbol.dispose]() {
        client.close();
        server.close();
      },
    };
  } finally {
    listener.close();
  }
}

function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed) & 0xff;
  return bytes;
}

/** Another process that connects to `port` as `c` and runs `body`; its stdout is piped. */
function peerProcess(port: number, body: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `const c = await Deno.connect({ hostname: "127.0.0.1", port: ${port} });\n${body}`,
    ],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
}

function shared(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(new SharedArrayBuffer(bytes.length));
  copy.set(bytes);
  return copy;
}

Deno.test({
  name: "SyncSocket reads a lent socket into shared memory and sees the end of stream",
  ignore: !available,
}, async () => {
  using conns = await pair();
  // Small enough for the socket buffers: this thread blocks in the reads, so the write must not wait.
  const data = pattern(200_005, 1);
  const written = conns.client.write(data);
  const fd = conns.server.lend("read");
  const target = new Uint8Array(new SharedArrayBuffer(data.length + 100));
  const socket = new SyncSocket(fd, { timeoutMs: 5000, name: "test channel" });
  // A read bounded by `length` stops there, whatever the buffer's size and the socket holds.
  const first = socket.read(target, "prefix", 3);
  assert.ok(first >= 1 && first <= 3, `read ${first} bytes with a bound of 3`);
  assert.equal(socket.readFull(target.subarray(first, 12)), 12 - first);
  assert.equal(socket.readFull(target.subarray(12, data.length)), data.length - 12);
  assert.equal(await written, data.length);
  await conns.client.closeWrite();
  assert.equal(socket.readFull(target.subarray(data.length)), 0);
  conns.server.giveBack("read");
  assert.deepEqual(target.subarray(0, data.length), data);
  assert.equal(socket.bytesRead, data.length);
});

Deno.test({
  name: "SyncSocket writes many buffers, also views of shared memory, in order with sendmsg",
  ignore: !available,
}, async () => {
  // The reader is another process: this thread blocks in the writes.
  const listener = listenNative({ hostname: "127.0.0.1", port: 0 });
  const reader = peerProcess(
    listener.addr.port,
    `const bytes = new Uint8Array(await new Response(c.readable).arrayBuffer());
     const hash = await crypto.subtle.digest("SHA-256", bytes);
     console.log(bytes.length, Array.from(new Uint8Array(hash)).join(","));`,
  );
  const server = await listener.accept();
  listener.close();
  try {
    // Views into two shared buffers, back and forth and at odd offsets, as a source's RAM views.
    const ramA = shared(pattern(3 * 4096, 5));
    const ramB = shared(pattern(8192, 6));
    const parts = [
      pattern(1300, 2),
      new Uint8Array(0),
      pattern(4 * 1024 * 1024, 3),
      ramA.subarray(4096, 8192),
      ramB.subarray(1, 4000),
      ramA.subarray(1, 100),
      ramA.subarray(8192),
      pattern(7, 4),
    ];
    const total = parts.reduce((sum, p) => sum + p.length, 0);
    const socket = new SyncSocket(server.lend("write"), { timeoutMs: 10_000, name: "channel" });
    socket.writeAllv(parts);
    server.giveBack("write");
    assert.equal(socket.bytesWritten, total);
    await server.closeWrite();
    const whole = new Uint8Array(total);
    let at = 0;
    for (const part of parts) {
      whole.set(part, at);
      at += part.length;
    }
    const expected = new Uint8Array(await crypto.subtle.digest("SHA-256", whole)).join(",");
    const { stdout } = await reader.output();
    assert.equal(new TextDecoder().decode(stdout).trim(), `${total} ${expected}`);
  } finally {
    server.close();
  }
});

Deno.test({
  name: "SyncSocket ends a read without progress with E_TIMEOUT naming the wait",
  ignore: !available,
}, async () => {
  using conns = await pair();
  await conns.client.write(new Uint8Array(3));
  const socket = new SyncSocket(conns.server.lend("read"), { timeoutMs: 1000, name: "channel 2" });
  const started = performance.now();
  assert.throws(
    () => socket.readFull(new Uint8Array(8), "packet header"),
    (error: unknown) =>
      error instanceof WireError && error.errorClass === "E_TIMEOUT" &&
      /packet header on channel 2 \(3 of 8 bytes\)/.test(error.message),
  );
  // One timeout: the 3 bytes a first call returned at its end came at its start.
  assert.ok(performance.now() - started < 1800, `${performance.now() - started} ms`);
  conns.server.giveBack("read");
});

Deno.test({
  name: "SyncSocket keeps reading a slow stream that makes progress within each timeout",
  ignore: !available,
}, async () => {
  const listener = listenNative({ hostname: "127.0.0.1", port: 0 });
  // The writer is another process: this thread blocks in the read.
  const writer = peerProcess(
    listener.addr.port,
    `for (let i = 0; i < 6; i++) {
       await c.write(new Uint8Array([i + 1]));
       await new Promise((r) => setTimeout(r, 150));
     }
     c.close();`,
  );
  const server = await listener.accept();
  listener.close();
  try {
    const socket = new SyncSocket(server.lend("read"), { timeoutMs: 400, name: "slow channel" });
    const target = new Uint8Array(6);
    assert.equal(socket.readFull(target, "page payload"), 6);
    assert.deepEqual(target, new Uint8Array([1, 2, 3, 4, 5, 6]));
    server.giveBack("read");
  } finally {
    server.close();
    await writer.output();
  }
});

Deno.test({
  name: "SyncSocket stops when the lending thread raises the abort flag and shuts the socket",
  ignore: !available,
}, async () => {
  using conns = await pair();
  const abort = new Int32Array(new SharedArrayBuffer(4));
  const socket = new SyncSocket(conns.server.lend("read"), {
    timeoutMs: 5000,
    name: "channel 0",
    abort,
  });
  Atomics.store(abort, 0, 1);
  conns.server.close(); // Shuts down; the descriptor is closed once given back.
  assert.throws(
    () => socket.readFull(new Uint8Array(8), "page payload"),
    (error: unknown) => error instanceof WireError && /aborted/.test(error.message),
  );
  conns.server.giveBack("read");
});

Deno.test({
  name: "SyncSocket reports a reset peer as E_IO",
  ignore: !available,
}, async () => {
  using conns = await pair();
  // Bytes the client never reads make its close a reset.
  await conns.server.write(new Uint8Array(10));
  await new Promise((resolve) => setTimeout(resolve, 50));
  conns.client.close();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const socket = new SyncSocket(conns.server.lend("read"), { timeoutMs: 2000, name: "channel 1" });
  assert.throws(
    () => socket.readFull(new Uint8Array(8), "packet header"),
    (error: unknown) => error instanceof WireError && error.errorClass === "E_IO",
  );
  conns.server.giveBack("read");
});
