/**
 * A seeded generator for the codec's round-trip tests, so a failure can be replayed from its seed.
 *
 * @module
 */

/** A small xorshift32 generator. */
export class SeededRandom {
  #state: number;

  constructor(seed: number) {
    this.#state = (seed | 0) || 0x6d2b79f5;
  }

  /** A uniform u32. */
  u32(): number {
    let x = this.#state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x;
    return x >>> 0;
  }

  /** A uniform integer in `[0, n)`. */
  below(n: number): number {
    return Math.floor((this.u32() / 0x1_0000_0000) * n);
  }

  /** `length` random bytes. */
  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = this.u32() & 0xff;
    return out;
  }

  /** A u64 as a bigint. */
  u64(): bigint {
    return (BigInt(this.u32()) << 32n) | BigInt(this.u32());
  }

  /** Printable ASCII of `length` characters. */
  ascii(length: number): string {
    let text = "";
    for (let i = 0; i < length; i++) text += String.fromCharCode(0x21 + this.below(94));
    return text;
  }
}
