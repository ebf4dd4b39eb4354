import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { EXPONENTIAL_MEANS_MAX, Prng } from "../../../src/core/sim/prng.ts";
import { isSeed, parseSeed, seedFromNumber } from "../../../src/core/sim/seed.ts";

describe("seed parsing", () => {
  test("accepts 64-bit decimals and 40-hex commit hashes", () => {
    const one = parseSeed("1");
    assert.ok(isSeed(one));
    assert.equal(one.text, "1");
    const max = parseSeed("18446744073709551615");
    assert.ok(isSeed(max));
    const hash = parseSeed("0123456789ABCDEF0123456789abcdef01234567");
    assert.ok(isSeed(hash));
    assert.equal(hash.text, "0123456789abcdef0123456789abcdef01234567");
  });

  test("rejects malformed seeds with a one-line reason", () => {
    for (const text of ["", "-1", "1.5", "abc", "18446744073709551616", "0x10", "0123456789abcdef0123456789abcdef0123456", "1e3"]) {
      const result = parseSeed(text);
      assert.ok(!isSeed(result), text);
      assert.ok(!result.error.includes("\n"));
    }
  });

  test("leading zeros name the same seed", () => {
    const a = parseSeed("007");
    const b = parseSeed("7");
    assert.ok(isSeed(a) && isSeed(b));
    assert.deepEqual(a.words, b.words);
    assert.equal(a.text, "7");
  });
});

describe("prng streams", () => {
  test("the same seed and name give the same sequence; other names and seeds differ", () => {
    const draw = (seed: number, name: string) => {
      const prng = Prng.stream(seedFromNumber(seed), name);
      return Array.from({ length: 8 }, () => prng.nextUint32());
    };
    assert.deepEqual(draw(1, "network"), draw(1, "network"));
    assert.notDeepEqual(draw(1, "network"), draw(1, "workload"));
    assert.notDeepEqual(draw(1, "network"), draw(2, "network"));
    assert.notDeepEqual(draw(1, "node-1/raft"), draw(1, "node-2/raft"));
  });

  test("known first outputs (the sequence is part of the replay contract)", () => {
    const prng = Prng.stream(seedFromNumber(1), "workload");
    const first = [prng.nextUint32(), prng.nextUint32(), prng.nextUint32()];
    const again = Prng.stream(seedFromNumber(1), "workload");
    assert.deepEqual(first, [again.nextUint32(), again.nextUint32(), again.nextUint32()]);
    // xoshiro128** reference: state (1, 2, 3, 4) gives 11520, 0, 5927040 first.
    const reference = new Prng([1, 2, 3, 4]);
    assert.deepEqual([reference.nextUint32(), reference.nextUint32(), reference.nextUint32()], [11520, 0, 5927040]);
  });

  test("intBelow stays in range and float in [0, 1)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), (seed, bound) => {
        const prng = Prng.stream(seedFromNumber(seed), "t");
        for (let i = 0; i < 20; i++) {
          const n = prng.intBelow(bound);
          assert.ok(Number.isInteger(n) && n >= 0 && n < bound);
          const f = prng.float();
          assert.ok(f >= 0 && f < 1);
        }
      }),
    );
  });

  test("intBelow is roughly uniform", () => {
    const prng = Prng.stream(seedFromNumber(42), "uniform");
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) counts[prng.intBelow(10)]!++;
    for (const count of counts) assert.ok(count > 9_000 && count < 11_000, `bucket count ${count}`);
  });

  test("chance(0) and chance(1) draw nothing", () => {
    const a = Prng.stream(seedFromNumber(3), "c");
    const b = Prng.stream(seedFromNumber(3), "c");
    assert.equal(a.chance(0), false);
    assert.equal(a.chance(1), true);
    assert.equal(a.nextUint32(), b.nextUint32());
  });

  test("exponential: the mean within 2%, the tail shaped like e^-x (P(X > 1), P(X > 3))", () => {
    for (const [seed, mean] of [[1, 1], [2, 250], [3, 7_000]] as const) {
      const prng = Prng.stream(seedFromNumber(seed), "latency");
      const samples = 100_000;
      let sum = 0;
      let aboveOneMean = 0;
      let aboveThreeMeans = 0;
      for (let i = 0; i < samples; i++) {
        const value = prng.exponential(mean);
        sum += value;
        if (value > mean) aboveOneMean++;
        if (value > 3 * mean) aboveThreeMeans++;
      }
      const observed = sum / samples;
      assert.ok(Math.abs(observed - mean) < 0.02 * mean, `seed ${seed}: mean ${observed}, expected ${mean}`);
      assert.ok(Math.abs(aboveOneMean / samples - Math.exp(-1)) < 0.01, `seed ${seed}: P(X > mean) = ${aboveOneMean / samples}`);
      assert.ok(Math.abs(aboveThreeMeans / samples - Math.exp(-3)) < 0.005, `seed ${seed}: P(X > 3 mean) = ${aboveThreeMeans / samples}`);
    }
  });

  test("exponential: every variate is finite and in [0, EXPONENTIAL_MEANS_MAX * mean]", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.double({ min: 0, max: 1e9, noNaN: true }), (seed, mean) => {
        const prng = Prng.stream(seedFromNumber(seed), "bounded");
        for (let i = 0; i < 50; i++) {
          const value = prng.exponential(mean);
          assert.ok(Number.isFinite(value) && value >= 0 && value <= EXPONENTIAL_MEANS_MAX * mean, `exponential(${mean}) gave ${value}`);
        }
      }),
    );
  });

  test("exponential: mean 0 gives 0 and draws nothing; a bad mean is an assertion", () => {
    const a = Prng.stream(seedFromNumber(4), "e");
    const b = Prng.stream(seedFromNumber(4), "e");
    assert.equal(a.exponential(0), 0);
    assert.equal(a.nextUint32(), b.nextUint32());
    assert.throws(() => a.exponential(-1));
    assert.throws(() => a.exponential(Number.POSITIVE_INFINITY));
    assert.throws(() => a.exponential(Number.NaN));
  });

  test("exponential: known first outputs (part of the replay contract; no Math.log, so the same on every engine)", () => {
    const prng = new Prng([1, 2, 3, 4]);
    const first = [prng.exponential(1000), prng.exponential(1000), prng.exponential(1000), prng.exponential(1000)];
    assert.deepEqual(first, [0.002682209014892578, 1078.6569528196228, 1125.608014873887, 84.17493503934482]);
  });
});
