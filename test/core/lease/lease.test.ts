// The lease arithmetic (src/core/lease/lease.ts): for any two monotonic clocks whose rates stay
// within the drift bound (constant or changing), with integer readings and any offsets, a lease
// computed by the holder ends in true time before the promise it rests on; without the drift
// correction (what the planted bug "lease-ignores-drift" does) some pair of clocks breaks that.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { CLOCK_DRIFT_BOUND_PPM } from "../../../src/core/env/environment.ts";
import { LEASE_PROMISE_US_MAX, holderDurationUs, leaseFromRound, leaseHolds, promiseEndUs, renewLease } from "../../../src/core/lease/lease.ts";
import { ModelClock } from "../../support/model-clock.ts";

const bound = CLOCK_DRIFT_BOUND_PPM;
const drift = fc.integer({ min: -bound, max: bound });
const segments = fc.array(fc.record({ lengthUs: fc.integer({ min: 1, max: 2_000_000 }), driftPpm: drift }), { minLength: 1, maxLength: 4 });
const clock = fc
  .record({ offsetUs: fc.integer({ min: 0, max: 1_000_000_000 }), segments })
  .map(({ offsetUs, segments }) => new ModelClock(BigInt(offsetUs), segments.map((s) => ({ lengthUs: BigInt(s.lengthUs), driftPpm: BigInt(s.driftPpm) }))));

/**
 * The true time at which the holder stops relying on the lease (the last true time at which
 * leaseHolds says yes), and the first true time at which the promiser is free: the first must be
 * before the second. `t0` the holder reads its clock and sends; `tr` (>= t0) the promiser receives.
 */
function leaseEndsBeforePromise(holder: ModelClock, promiser: ModelClock, t0: bigint, tr: bigint, promiseUs: number, durationUs: (promiseUs: number) => number): boolean {
  const startUs = Number(holder.read(t0));
  const endUs = startUs + durationUs(promiseUs);
  // First true time at which the holder's reading reaches the end: the lease held until just before.
  const leaseGoneAt = holder.firstTimeReaching(BigInt(endUs), t0);
  const promiseGoneAt = promiser.firstTimeReaching(BigInt(promiseEndUs(Number(promiser.read(tr)), promiseUs)), tr);
  // The holder's last moment of holding (leaseGoneAt - 1) is strictly before the promise ends,
  // or the lease was already gone before the promise even began (then nothing relied on it).
  return leaseGoneAt - 1n < promiseGoneAt || leaseGoneAt <= tr;
}

describe("lease arithmetic", () => {
  test("the holder's duration shrinks the promise by the drift bound, in integers", () => {
    assert.equal(holderDurationUs(1_000_001, 0), 1_000_000);
    // 1e6 * 0.9 / 1.1 = 818181.8...
    assert.equal(holderDurationUs(1_000_001, 100_000), 818_181);
    assert.equal(holderDurationUs(1_000_001), 818_181, "the published bound is the default");
    assert.equal(holderDurationUs(1, 100_000), 0);
    assert.equal(holderDurationUs(LEASE_PROMISE_US_MAX, 100_000), Math.floor(((LEASE_PROMISE_US_MAX - 1) * 900_000) / 1_100_000));
    assert.throws(() => holderDurationUs(0), /lease promise/);
    assert.throws(() => holderDurationUs(LEASE_PROMISE_US_MAX + 1), /lease promise/);
    assert.throws(() => holderDurationUs(1.5), /lease promise/);
    assert.throws(() => holderDurationUs(10, 1_000_000), /drift bound/);
  });

  test("a lease holds from its start to just before its end; a renewal never shortens it", () => {
    const lease = leaseFromRound(5_000, 1_000_001, 0);
    assert.deepEqual(lease, { startUs: 5_000, endUs: 1_005_000 });
    assert.equal(leaseHolds(lease, 5_000), true);
    assert.equal(leaseHolds(lease, 1_004_999), true);
    assert.equal(leaseHolds(lease, 1_005_000), false);
    assert.equal(leaseHolds(undefined, 0), false);
    const earlier = leaseFromRound(4_000, 1_000_001, 0);
    assert.equal(renewLease(lease, earlier), lease, "an answer to an older round arriving late changes nothing");
    const later = leaseFromRound(6_000, 1_000_001, 0);
    assert.equal(renewLease(lease, later), later);
    assert.equal(renewLease(undefined, earlier), earlier);
  });

  test("property: for any two clocks within the bound, the lease ends (true time) before the promise", () => {
    fc.assert(
      fc.property(
        clock,
        clock,
        fc.integer({ min: 0, max: 5_000_000 }),
        fc.integer({ min: 0, max: 200_000 }),
        fc.integer({ min: 1, max: 5_000_000 }),
        (holder, promiser, t0, delayUs, promiseUs) =>
          leaseEndsBeforePromise(holder, promiser, BigInt(t0), BigInt(t0 + delayUs), promiseUs, (p) => holderDurationUs(p)),
      ),
      { seed: 7, numRuns: 2_000 },
    );
  });

  test("property: the same holds at the edge, the holder slowest and the promiser fastest the bound allows", () => {
    const slow = (offsetUs: number) => new ModelClock(BigInt(offsetUs), [{ lengthUs: 1n, driftPpm: BigInt(-bound) }]);
    const fast = (offsetUs: number) => new ModelClock(BigInt(offsetUs), [{ lengthUs: 1n, driftPpm: BigInt(bound) }]);
    fc.assert(
      fc.property(fc.nat(1_000_000), fc.nat(1_000_000), fc.nat(5_000_000), fc.integer({ min: 1, max: 5_000_000 }), (offsetHolder, offsetPromiser, t0, promiseUs) =>
        leaseEndsBeforePromise(slow(offsetHolder), fast(offsetPromiser), BigInt(t0), BigInt(t0), promiseUs, (p) => holderDurationUs(p)),
      ),
      { seed: 8, numRuns: 2_000 },
    );
  });

  test("without the drift correction (planted bug lease-ignores-drift) a slow holder outlives a fast promiser", () => {
    const slow = new ModelClock(0n, [{ lengthUs: 1n, driftPpm: BigInt(-bound) }]);
    const fast = new ModelClock(0n, [{ lengthUs: 1n, driftPpm: BigInt(bound) }]);
    assert.equal(leaseEndsBeforePromise(slow, fast, 0n, 0n, 100_000, (p) => p), false);
    // With clocks at the same rate the uncorrected duration would have been safe: the bug needs drift.
    const same = new ModelClock(0n, [{ lengthUs: 1n, driftPpm: 0n }]);
    assert.equal(leaseEndsBeforePromise(same, same, 0n, 0n, 100_000, (p) => p - 1), true);
    // The corrected duration is safe for the same pair.
    assert.equal(leaseEndsBeforePromise(slow, fast, 0n, 0n, 100_000, (p) => holderDurationUs(p)), true);
  });

  test("the correction is close to tight: a duration a little longer than the corrected one breaks at the edge", () => {
    const slow = new ModelClock(0n, [{ lengthUs: 1n, driftPpm: BigInt(-bound) }]);
    const fast = new ModelClock(0n, [{ lengthUs: 1n, driftPpm: BigInt(bound) }]);
    const promiseUs = 1_000_000;
    assert.equal(leaseEndsBeforePromise(slow, fast, 0n, 0n, promiseUs, (p) => holderDurationUs(p) + 1_000), false);
  });
});
