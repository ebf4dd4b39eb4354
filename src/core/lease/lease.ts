// Leases: the arithmetic of a time-limited right that one node (the holder) uses on the
// strength of promises made by others (the promisers), in integer microseconds of the
// holder's own monotonic clock, safe under the published drift bound (CLOCK_DRIFT_BOUND_PPM).
//
// Users:
//   - Raft's leader lease (lease-based linearizable reads, src/core/replica/replica.ts): each
//     follower that answers a leader's heartbeat round promises "I will not vote for another
//     candidate for `promiseUs` of my clock after I received your round" (the CheckQuorum
//     lease in src/core/raft/raw-node.ts); the leader holds the lease once a quorum answered.
//   - The orchestrator's fencing lease (next): a grantor (the replicated state) promises "I will
//     not grant this lease to anyone else for `promiseUs` of my clock after I granted or renewed
//     it to you"; the holder (a node agent) acts only while it holds the lease, and stops first.
// Both reuse exactly this: the holder reads its monotonic clock BEFORE it sends the round
// (or the grant request) that the promises answer, and from then on it may rely on the lease
// until
//
//     startUs + holderDurationUs(promiseUs, driftBoundPpm)      (holder's monotonic clock)
//
//     holderDurationUs(P, rho) = floor((P - 1) * (1e6 - rho) / (1e6 + rho))
//
// Why this ends before every promise does, in true time (docs/CLOCKS.md has the long form):
// let the round leave at true time t0 and reach a promiser at tr >= t0. A monotonic clock's
// rate against true time lies in [1 - rho, 1 + rho] (rho = driftBoundPpm / 1e6). The promise
// lasts until the promiser's clock has advanced P from tr: at least P / (1 + rho) of true time.
// The lease lasts until the holder's clock has advanced D from t0: at most D / (1 - rho) of
// true time. D / (1 - rho) <= P / (1 + rho) is D <= P (1 - rho) / (1 + rho). Clocks read whole
// microseconds, so a difference of two readings can overstate the promiser's elapsed time by
// less than one microsecond: the `- 1` absorbs it (test/core/lease/lease.test.ts checks the
// claim for any pair of clocks within the bound, with integer readings).
//
// Never a wall clock here: a wall clock may jump either way, and a backward jump would stretch a
// lease past every promise (planted bug "lease-from-wall-clock", docs/PLANTED-BUGS.md). Never a
// duration that ignores the bound: the holder's slow clock would outlive a fast promiser's
// promise (planted bug "lease-ignores-drift").

import { assert } from "../assert.ts";
import { CLOCK_DRIFT_BOUND_PPM } from "../env/environment.ts";

/** The longest promise a lease may rest on: one hour, so that every product below is an exact integer. */
export const LEASE_PROMISE_US_MAX = 3_600_000_000;

const PPM = 1_000_000;

/**
 * How long (holder's clock) a holder may rely on promises of `promiseUs` (promisers' clocks),
 * given clocks whose rates are within `driftBoundPpm` of true time. Integer arithmetic only.
 */
export function holderDurationUs(promiseUs: number, driftBoundPpm: number = CLOCK_DRIFT_BOUND_PPM): number {
  assert(Number.isSafeInteger(promiseUs) && promiseUs >= 1 && promiseUs <= LEASE_PROMISE_US_MAX, () => `lease promise ${promiseUs} us outside [1, ${LEASE_PROMISE_US_MAX}]`);
  assert(Number.isSafeInteger(driftBoundPpm) && driftBoundPpm >= 0 && driftBoundPpm < PPM, () => `drift bound ${driftBoundPpm} ppm outside [0, 1e6)`);
  const durationUs = Math.floor(((promiseUs - 1) * (PPM - driftBoundPpm)) / (PPM + driftBoundPpm));
  // Postconditions: never longer than the promise, and shrinks (weakly) as the bound grows.
  assert(Number.isSafeInteger(durationUs) && durationUs >= 0 && durationUs < promiseUs, "lease duration must be a non-negative integer below its promise");
  return durationUs;
}

/** A lease as the holder keeps it: integer microseconds of its own monotonic clock. */
export interface HeldLease {
  /** The holder's clock when it sent the round whose answers granted the lease. */
  readonly startUs: number;
  /** The first reading of the holder's clock at which the lease no longer holds. */
  readonly endUs: number;
}

/** The lease granted by answers to a round sent at `startUs` (holder's clock), resting on promises of `promiseUs`. */
export function leaseFromRound(startUs: number, promiseUs: number, driftBoundPpm: number = CLOCK_DRIFT_BOUND_PPM): HeldLease {
  assert(Number.isSafeInteger(startUs), () => `lease start ${startUs} must be an integer of microseconds`);
  const endUs = startUs + holderDurationUs(promiseUs, driftBoundPpm);
  assert(Number.isSafeInteger(endUs) && endUs >= startUs, "lease end overflows");
  return { startUs, endUs };
}

/**
 * Whether the lease holds at the holder's clock reading `nowUs` (the end is exclusive). Only the
 * end is compared: a monotonic reading is never below the start (the caller asserts its clock
 * never goes back), and a wall reading, which may be, is exactly what a lease must not use.
 */
export function leaseHolds(lease: HeldLease | undefined, nowUs: number): boolean {
  if (lease === undefined) return false;
  assert(Number.isFinite(nowUs), "a clock reading must be finite");
  return nowUs < lease.endUs;
}

/**
 * The lease after another granting round: rounds may be answered out of order, so a renewal
 * never shortens what an earlier (later-started) round already granted.
 */
export function renewLease(current: HeldLease | undefined, renewal: HeldLease): HeldLease {
  if (current === undefined || renewal.endUs > current.endUs) return renewal;
  return current;
}

/**
 * The promiser's side: the first reading of the promiser's clock at which it is free again,
 * having received the holder's round at `receivedUs` (its own clock) and promised `promiseUs`.
 */
export function promiseEndUs(receivedUs: number, promiseUs: number): number {
  assert(Number.isSafeInteger(receivedUs), "a promise starts at an integer of microseconds");
  assert(Number.isSafeInteger(promiseUs) && promiseUs >= 1 && promiseUs <= LEASE_PROMISE_US_MAX, "promise out of range");
  return receivedUs + promiseUs;
}
