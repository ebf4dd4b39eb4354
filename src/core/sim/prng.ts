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

  /**
   * An exponential variate with the given mean (mean >= 0), for latency tails, in [0, EXPONENTIAL_MEANS_MAX * mean].
   *
   * Von Neumann's method (1951; Knuth, TAOCP vol. 2, 3.4.1; Devroye, "Non-Uniform Random
   * Variate Generation", IV.2): no logarithm, only comparisons of uniform draws, so one seed
   * gives the same value on every engine (Math.log's last bits are not fixed by the language).
   * A trial draws x, then u1, u2, ... while x > u1 > u2 > ...; the chance that the descent
   * stops after an odd number of draws is 1 - x + x^2/2! - x^3/3! + ... = e^-x, so an odd
   * stop accepts x with density proportional to e^-x on [0, 1). Each rejected trial adds one
   * whole mean (rejection has probability 1/e, so the whole part is the floor of an
   * exponential). About 4.3 uniform draws per variate on average.
   */
  exponential(mean: number): number {
    assert(Number.isFinite(mean) && mean >= 0, () => `exponential mean ${mean} must be finite and >= 0`);
    if (mean === 0) return 0;
    let whole = 0;
    for (; whole < EXPONENTIAL_MEANS_MAX; whole++) {
      const fraction = this.float();
      if (this.descentStopsOdd(fraction)) {
        const value = mean * (whole + fraction);
        assert(value >= 0 && value <= mean * EXPONENTIAL_MEANS_MAX, "exponential variate within its bound");
        return value;
      }
    }
    // Every trial rejected (probability e^-40, about 4e-18): the bound itself.
    assert(whole === EXPONENTIAL_MEANS_MAX, "the trial loop ran to its bound");
    return mean * EXPONENTIAL_MEANS_MAX;
  }

  /** Draws u1, u2, ... while start > u1 > u2 > ...; true when the first draw that breaks the descent is an odd one (u1, u3, ...). */
  private descentStopsOdd(start: number): boolean {
    assert(start >= 0 && start < 1, "descent starts in [0, 1)");
    let previous = start;
    for (let draws = 1; draws <= DESCENT_DRAWS_MAX; draws++) {
      const next = this.float();
      if (next >= previous) return draws % 2 === 1;
      previous = next;
    }
    // A descent this long has probability below 1/24! (about 2e-24): count it as stopping at the next (odd) draw.
    return (DESCENT_DRAWS_MAX + 1) % 2 === 1;
  }
}

/** The exponential sampler's bound in means: -log(1 - u) with 53-bit u never exceeded 37 either. */
export const EXPONENTIAL_MEANS_MAX = 40;
/** Longest descent drawn in one trial of the exponential sampler (even, so the cut-off counts as an odd stop). */
const DESCENT_DRAWS_MAX = 24;

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
