// Small non-cryptographic hashes on 32-bit integer math, identical on every machine:
// the trace hash of a run, and content hashes the property checker compares.

import { mix32 } from "./prng.ts";

/**
 * FNV-1a over little-endian 32-bit words (the last 0-3 bytes one at a time), finished with a
 * mixer. A word per multiply instead of a byte: four times fewer steps, and as sensitive: each
 * step (xor a word, multiply by an odd constant) is a bijection of the running value for a
 * fixed word and tells different words apart, so two inputs of the same length that differ
 * anywhere hash differently before the mixer; the length is folded in at the end.
 */
export function hashBytes(bytes: Uint8Array, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  const length = bytes.length;
  const wordsEnd = length - (length & 3);
  let i = 0;
  for (; i < wordsEnd; i += 4) {
    h ^= bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    h = Math.imul(h, 0x01000193);
  }
  for (; i < length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h ^ length);
}

/** Combines a running 32-bit hash with one more 32-bit value (order-sensitive). */
export function combine(h: number, value: number): number {
  return mix32((Math.imul(h ^ (value | 0), 0x9e3779b1) + 0x7f4a7c15) | 0);
}

/**
 * A running 64-bit hash over a sequence of numbers (two independent 32-bit lanes).
 * Numbers are folded as two 32-bit halves, so values up to 2^53 hash exactly.
 */
export class RunningHash {
  private a = 0x6a09e667;
  private b = 0xbb67ae85;
  private count = 0;

  add(value: number): void {
    const low = value >>> 0;
    const high = Math.floor(value / 0x100000000) >>> 0;
    this.a = mix32(Math.imul(this.a ^ low, 0x9e3779b1) + high);
    this.b = mix32(Math.imul(this.b ^ high, 0x85ebca6b) + low + 0x632be5ab);
    this.count++;
  }

  get length(): number {
    return this.count;
  }

  /** 16 lowercase hex digits. */
  hex(): string {
    const a = mix32(this.a ^ this.count);
    const b = mix32(this.b ^ Math.imul(this.count, 0x27d4eb2f));
    return a.toString(16).padStart(8, "0") + b.toString(16).padStart(8, "0");
  }
}
