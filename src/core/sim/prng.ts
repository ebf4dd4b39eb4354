// Seeded pseudo-random streams. Each component of a run draws from its own named
// stream ("network", "workload", "faults", "node-3/raft", "disk-2", ...) derived from
// the root seed and the name alone, so adding a draw in one component (a new fault)
// never reshuffles another (the workload). xoshiro128** on 32-bit integer math: fast,
// small state, and identical on every machine (no floating point in the state update).

import { assert } from "../assert.ts";
import type { Random } from "../env/environment.ts";
import type { Seed } from "./seed.ts";

const TWO_POW_32 = 0x100000000;
const TWO_POW_53 = 9007199254740992;

/** murmur3's 32-bit finalizer: every input bit affects every output bit. */
export function mix32(value: number): number {
  let h = value | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Four independent 32-bit hashes of (seed, name): the initial state of that stream. */
export function streamState(seed: Seed, name: string): [number, number, number, number] {
  const lanes = [0x9e3779b9, 0x7f4a7c15, 0x6a09e667, 0xbb67ae85];
  const state: [number, number, number, number] = [0, 0, 0, 0];
  for (let lane = 0; lane < 4; lane++) {
    let h = lanes[lane]!;
    const absorb = (word: number): void => {
      h = mix32(h ^ Math.imul(word >>> 0, 0xcc9e2d51) ^ lane);
      h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
    };
    for (const word of seed.words) absorb(word);
    absorb(0xfeedface); // separates the seed from the name
    for (let i = 0; i < name.length; i++) absorb(name.charCodeAt(i));
    absorb(name.length);
    state[lane] = mix32(h);
  }
  if ((state[0] | state[1] | state[2] | state[3]) === 0) state[0] = 1; // xoshiro's one forbidden state
  return state;
}

export class Prng implements Random {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(state: readonly [number, number, number, number]) {
    this.s0 = state[0] >>> 0;
    this.s1 = state[1] >>> 0;
    this.s2 = state[2] >>> 0;
    this.s3 = state[3] >>> 0;
    assert((this.s0 | this.s1 | this.s2 | this.s3) !== 0, "xoshiro state must not be all zero");
  }

  static stream(seed: Seed, name: string): Prng {
    return new Prng(streamState(seed, name));
  }

  /** The next 32 random bits as an unsigned integer (xoshiro128**). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, bound), unbiased (rejection sampling) for bound <= 2^32. */
  intBelow(bound: number): number {
    assert(Number.isSafeInteger(bound) && bound > 0, () => `intBelow bound ${bound} must be a positive safe integer`);
    if (bound <= TWO_POW_32) {
      const limit = TWO_POW_32 - (TWO_POW_32 % bound);
      for (;;) {
        const r = this.nextUint32();
        if (r < limit) return r % bound;
      }
    }
    // Beyond 2^32: a 53-bit float scaled; the bias (< 2^-20 for any safe bound) is irrelevant to simulation.
    return Math.floor(this.float() * bound);
  }

  /** Uniform in [0, 1) with 53 random bits. */
  float(): number {
    const high = this.nextUint32() >>> 5; // 27 bits
    const low = this.nextUint32() >>> 6; // 26 bits
    return (high * 67108864 + low) / TWO_POW_53;
  }

  /** Uniform integer in [min, max] (both inclusive). */
  intBetween(min: number, max: number): number {
    assert(Number.isSafeInteger(min) && Number.isSafeInteger(max) && min <= max, () => `intBetween(${min}, ${max}) is not a range`);
    return min + this.intBelow(max - min + 1);
  }

  /** True with probability p (p in [0, 1]); draws nothing when p is 0 or 1, so disabled faults do not consume randomness. */
  chance(p: number): boolean {
    assert(p >= 0 && p <= 1, () => `probability ${p} outside [0, 1]`);
    if (p === 0) return false;
    if (p === 1) return true;
    return this.float() < p;
  }

  /** One element of a non-empty array, uniformly. */
  pick<T>(items: readonly T[]): T {
    assert(items.length > 0, "pick from an empty array");
    return items[this.intBelow(items.length)]!;
  }

  /** An exponential variate with the given mean (mean >= 0), for latency tails. */
  exponential(mean: number): number {
    assert(mean >= 0, "exponential mean must be >= 0");
    if (mean === 0) return 0;
    return -mean * Math.log(1 - this.float());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
