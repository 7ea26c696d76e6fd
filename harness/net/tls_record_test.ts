import assert from "node:assert/strict";
import { mayBeCloseNotify, type TlsRecordInfo, TlsRecordTracker } from "./tls_record.ts";

function record(type: number, length: number): Uint8Array {
  const out = new Uint8Array(5 + length);
  out.set([type, 3, 3, length >> 8, length & 0xff]);
  out.fill(0xaa, 5);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

Deno.test("TlsRecordTracker follows records fed in any split", () => {
  const stream = concat(record(22, 100), record(23, 16384), record(23, 7), record(21, 26));
  for (const step of [1, 3, 5, 6, 4096, stream.length]) {
    const tracker = new TlsRecordTracker();
    const seen: TlsRecordInfo[] = [];
    tracker.onRecord = (r) => seen.push(r);
    for (let i = 0; i < stream.length; i += step) tracker.feed(stream.subarray(i, i + step));
    assert.deepEqual(seen.map((r) => [r.type, r.length, r.offset]), [
      [22, 100, 0],
      [23, 16384, 105],
      [23, 7, 105 + 16389],
      [21, 26, 105 + 16389 + 12],
    ]);
    assert.equal(tracker.atBoundary, true);
    assert.equal(tracker.alerts, 1);
    assert.equal(tracker.records, 4);
    assert.equal(tracker.lastRecord?.type, 21);
    assert.equal(tracker.bytes, stream.length);
    assert.equal(tracker.invalid, null);
  }
});

Deno.test("TlsRecordTracker knows when the stream stops inside a record", () => {
  const tracker = new TlsRecordTracker();
  tracker.feed(record(23, 50).subarray(0, 3));
  assert.equal(tracker.atBoundary, false);
  assert.equal(tracker.recordStart, 0);
  tracker.feed(record(23, 50).subarray(3, 20));
  assert.equal(tracker.atBoundary, false);
  tracker.feed(record(23, 50).subarray(20));
  assert.equal(tracker.atBoundary, true);
  assert.equal(tracker.recordStart, 55);
});

Deno.test("TlsRecordTracker flags a stream that is not TLS", () => {
  const tracker = new TlsRecordTracker();
  tracker.feed(new Uint8Array([0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3]));
  assert.match(tracker.invalid ?? "", /not a TLS record at offset 0: type 81/);
});

Deno.test("mayBeCloseNotify matches TLS 1.2 alerts and TLS 1.3 alert-sized records", () => {
  const r = (type: number, length: number) => ({ type, length, version: 0x0303, offset: 0 });
  assert.equal(mayBeCloseNotify(r(21, 26)), true);
  assert.equal(mayBeCloseNotify(r(23, 19)), true);
  assert.equal(mayBeCloseNotify(r(23, 29)), false);
  assert.equal(mayBeCloseNotify(r(22, 19)), false);
});

Deno.test("TlsRecordTracker.feed reports the spans of each record", () => {
  const stream = concat(record(23, 10), record(21, 2), record(23, 3));
  const kept: number[] = [];
  const tracker = new TlsRecordTracker();
  for (const [a, b] of [[0, 7], [7, 17], [17, 20], [20, stream.length]]) {
    tracker.feed(stream.subarray(a, b), (type, start, end) => {
      if (type !== 21) { for (let i = start; i < end; i++) kept.push(a + i); }
    });
  }
  const expected = [...Array(15).keys(), ...Array.from({ length: 8 }, (_, i) => 22 + i)];
  assert.deepEqual(kept, expected);
});
