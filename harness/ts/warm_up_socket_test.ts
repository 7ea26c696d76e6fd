import assert from "node:assert/strict";
import { F_GETFL, loadLibc, MSG_DONTWAIT } from "../net/libc.ts";
import { openWarmUpSocketPair } from "./warm_up_socket.ts";

Deno.test({
  name: "openWarmUpSocketPair: the socket's bytes reach the peer, and disposal closes both ends",
  ignore: loadLibc() === null,
}, () => {
  const abort = new Int32Array(new SharedArrayBuffer(4));
  let fds: number[];
  {
    using pair = openWarmUpSocketPair(abort);
    fds = [pair.socket.fd, pair.peer];
    pair.socket.writeAll(Uint8Array.of(1, 2, 3));
    const got = new Uint8Array(8);
    assert.equal(Number(pair.lib.recv(pair.peer, got, 8n, MSG_DONTWAIT)), 3);
    assert.deepEqual(got.subarray(0, 3), Uint8Array.of(1, 2, 3));
  }
  for (const fd of fds) assert.equal(loadLibc()!.fcntl(fd, F_GETFL, 0), -1, `fd ${fd} still open`);
});

Deno.test({
  name: "openWarmUpSocketPair: a raised abort flag stops the socket's calls",
  ignore: loadLibc() === null,
}, () => {
  const abort = new Int32Array(new SharedArrayBuffer(4));
  using pair = openWarmUpSocketPair(abort);
  Atomics.store(abort, 0, 1);
  assert.throws(() => pair.socket.writeAll(Uint8Array.of(1)), /aborted/);
});
