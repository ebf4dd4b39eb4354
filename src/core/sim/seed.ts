// The root seed of a simulation run: a 64-bit unsigned integer written in decimal, or
// a 40-hex-digit git commit hash (so CI can replay "the seed of this commit", as
// TigerBeetle's VOPR does). Everything random in a run derives from it through named
// streams (prng.ts), so the seed alone reproduces the run.

import { assert } from "../assert.ts";

export interface Seed {
  /** The seed as the user should type it again: decimal without leading zeros, or lowercase hex. */
  readonly text: string;
  /** The seed's bits as 32-bit words, prefixed by a kind tag so "1" and a hash never collide. */
  readonly words: readonly number[];
}

const SEED_KIND_DECIMAL = 0x64656331; // "dec1"
const SEED_KIND_COMMIT = 0x67697431; // "git1"
const UINT64_MAX = (1n << 64n) - 1n;

/** A parsed seed, or a one-line reason why `text` is not one. */
export function parseSeed(text: string): Seed | { readonly error: string } {
  const trimmed = text.trim();
  if (/^[0-9]+$/.test(trimmed)) {
    if (trimmed.length > 20) return { error: `seed "${text}" exceeds 2^64-1` };
    const value = BigInt(trimmed);
    if (value > UINT64_MAX) return { error: `seed "${text}" exceeds 2^64-1` };
    return seedFromBigInt(value);
  }
  if (/^[0-9a-fA-F]{40}$/.test(trimmed)) {
    const hex = trimmed.toLowerCase();
    const words = [SEED_KIND_COMMIT];
    for (let i = 0; i < 40; i += 8) words.push(Number.parseInt(hex.slice(i, i + 8), 16) >>> 0);
    return { text: hex, words };
  }
  return { error: `seed "${text}" is neither a 64-bit unsigned decimal integer nor a 40-hex-digit commit hash` };
}

export function seedFromBigInt(value: bigint): Seed {
  assert(value >= 0n && value <= UINT64_MAX, "seed out of range");
  const low = Number(value & 0xffffffffn) >>> 0;
  const high = Number(value >> 32n) >>> 0;
  return { text: value.toString(10), words: [SEED_KIND_DECIMAL, low, high] };
}

/** For tests and harnesses: seed n as a Seed. */
export function seedFromNumber(value: number): Seed {
  assert(Number.isSafeInteger(value) && value >= 0, "seed must be a non-negative safe integer");
  return seedFromBigInt(BigInt(value));
}

export function isSeed(value: Seed | { readonly error: string }): value is Seed {
  return (value as Seed).words !== undefined;
}
