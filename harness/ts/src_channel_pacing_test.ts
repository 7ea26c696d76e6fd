import assert from "node:assert/strict";
import {
  AF_INET,
  AF_UNIX,
  getIntOption,
  IPPROTO_TCP,
  loadLibc,
  SOCK_CLOEXEC,
  SOCK_STREAM,
  TCP_NOTSENT_LOWAT,
} from "../net/libc.ts";
import { CHANNEL_UNSENT_LIMIT, limitUnsent } from "./src_channel_pacing.ts";

Deno.test({
  name: "limitUnsent: a TCP socket holds at most CHANNEL_UNSENT_LIMIT unsent bytes; others refuse",
  ignore: loadLibc() === null,
}, () => {
  const lib = loadLibc()!;
  const tcp = lib.socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert.ok(tcp >= 0, "socket() failed");
  try {
    assert.notEqual(getIntOption(lib, tcp, IPPROTO_TCP, TCP_NOTSENT_LOWAT), CHANNEL_UNSENT_LIMIT);
    assert.equal(limitUnsent(lib, tcp), true);
    assert.equal(getIntOption(lib, tcp, IPPROTO_TCP, TCP_NOTSENT_LOWAT), CHANNEL_UNSENT_LIMIT);
  } finally {
    lib.close(tcp);
  }
  const fds = new Int32Array(2);
  assert.equal(
    lib.socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, new Uint8Array(fds.buffer)),
    0,
  );
  try {
    assert.equal(limitUnsent(lib, fds[0]), false);
  } finally {
    lib.close(fds[0]);
    lib.close(fds[1]);
  }
});
