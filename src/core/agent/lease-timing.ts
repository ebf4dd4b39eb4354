// The node lease's timing, in integer microseconds: when a node agent must have fenced its VMs,
// and when the controller on the Raft leader may declare the node down and place its VMs
// elsewhere. docs/FENCING.md has the argument in full; in short:
//
//   ε = CLOCK_DRIFT_BOUND_PPM / 1e6: every monotonic clock runs within [1-ε, 1+ε] of true time.
//   The agent reads its monotonic clock s BEFORE it submits a heartbeat (or its registration);
//   when that command comes back applied, its lease holds, by its own clock, until s + L. It
//   starts fencing (killing every VM) at s + L - stopBoundUs, and the per-host guard kills
//   whatever is left when the host's clock reaches agentLeaseDeadlineUs(s) (s + L, less two
//   microseconds for integer clock readings, below).
//   Every replica notes, on its own clock, when it applied the node's latest renewal (apply
//   comes after submit in true time). The controller declares the node down only once
//   Lc = ceil(L * (1e6 + ppm) / (1e6 - ppm)) has passed on its clock since then.
//   True time: the VMs are dead by t_s + L / (1-ε) <= t_a + Lc / (1+ε), the declare time.
//
// Integer readings. A clock read twice can show up to one microsecond more or less than the
// exact elapsed time on each side (the floor of a continuous clock). So the agent's deadline is
// s + L - 2: with it, (L - 2 + 1) / (1-ε) <= (Lc - 1) / (1+ε) holds for every L (FENCING.md,
// "Whole microseconds"; test/core/agent/lease-timing.test.ts checks it with integer clocks).

import { assert } from "../assert.ts";
import { CLOCK_DRIFT_BOUND_PPM } from "../env/environment.ts";

const PPM = 1_000_000;

/** The longest lease: one hour, so that L * (1e6 + ppm) is an exact integer in a double. */
export const LEASE_DURATION_US_MAX = 3_600_000_000;

/** What the agent takes off s + L for whole-microsecond clock readings (one per clock). */
export const CLOCK_READING_SLACK_US = 2;

export interface LeaseTiming {
  /** L: how long a renewal holds, on the agent's clock, from the submit of the heartbeat. */
  readonly leaseDurationUs: number;
  /** How often the agent submits a heartbeat. */
  readonly renewIntervalUs: number;
  /** How long the backend may take to stop every VM: fencing starts this long before the deadline. */
  readonly stopBoundUs: number;
  /** How long a VM's start takes at most: no start with less lease than this left before fencing. */
  readonly startBoundUs: number;
}

/** Defaults: a 10 s lease renewed every second; fencing starts 2 s before the deadline; a start needs 2 s of lease. */
export const defaultLeaseTiming: LeaseTiming = {
  leaseDurationUs: 10_000_000,
  renewIntervalUs: 1_000_000,
  stopBoundUs: 2_000_000,
  startBoundUs: 2_000_000,
};

/** At least this many renewals fit between a renewal's submit and the start of fencing. */
export const RENEWALS_BEFORE_FENCE_MIN = 3;

/** Asserts that the timing is usable: integers, and several renewals before fencing starts. */
export function validateLeaseTiming(timing: LeaseTiming): void {
  const { leaseDurationUs, renewIntervalUs, stopBoundUs, startBoundUs } = timing;
  for (const [name, value] of Object.entries(timing)) {
    assert(Number.isSafeInteger(value) && value > 0, () => `lease timing ${name} = ${String(value)} must be a positive integer of microseconds`);
  }
  assert(leaseDurationUs <= LEASE_DURATION_US_MAX, () => `lease ${leaseDurationUs} us longer than ${LEASE_DURATION_US_MAX}`);
  assert(stopBoundUs + CLOCK_READING_SLACK_US < leaseDurationUs, "the stop bound must leave some lease");
  assert(
    renewIntervalUs * RENEWALS_BEFORE_FENCE_MIN <= leaseDurationUs - CLOCK_READING_SLACK_US - stopBoundUs,
    () => `renew interval ${renewIntervalUs} us is not well below lease - stop bound (${leaseDurationUs - stopBoundUs} us): ${RENEWALS_BEFORE_FENCE_MIN} renewals must fit`,
  );
  assert(startBoundUs + stopBoundUs < leaseDurationUs, "a start bound plus the stop bound must fit in a lease");
}

/** The agent's lease deadline (its monotonic clock) after a renewal it submitted at `submittedAtUs`: every VM dead by then. */
export function agentLeaseDeadlineUs(submittedAtUs: number, timing: LeaseTiming): number {
  assert(Number.isSafeInteger(submittedAtUs), "a submit time is an integer of microseconds");
  const deadlineUs = submittedAtUs + timing.leaseDurationUs - CLOCK_READING_SLACK_US;
  assert(deadlineUs > submittedAtUs && Number.isSafeInteger(deadlineUs), "the lease deadline follows its submit");
  return deadlineUs;
}

/** When the agent starts fencing (killing every VM), by its monotonic clock. */
export function fenceAtUs(submittedAtUs: number, timing: LeaseTiming): number {
  const atUs = agentLeaseDeadlineUs(submittedAtUs, timing) - timing.stopBoundUs;
  assert(atUs > submittedAtUs, "fencing starts after the renewal it ends");
  return atUs;
}

/** Whether a VM may be started at `nowUs`: its start bound fits before fencing starts. */
export function leaseAllowsStart(submittedAtUs: number, nowUs: number, timing: LeaseTiming): boolean {
  assert(Number.isSafeInteger(nowUs), "a clock reading is an integer of microseconds");
  return nowUs + timing.startBoundUs <= fenceAtUs(submittedAtUs, timing);
}

/**
 * Lc: how long (the controller's monotonic clock) after applying a node's latest renewal, or after
 * it became leader, whichever is later, the controller waits before declaring the node down.
 */
export function controllerDeclareDownAfterUs(timing: LeaseTiming, driftBoundPpm: number = CLOCK_DRIFT_BOUND_PPM): number {
  assert(Number.isSafeInteger(driftBoundPpm) && driftBoundPpm >= 0 && driftBoundPpm < PPM, "drift bound outside [0, 1e6)");
  const numerator = timing.leaseDurationUs * (PPM + driftBoundPpm);
  assert(Number.isSafeInteger(numerator), "lease too long for exact arithmetic");
  const divisor = PPM - driftBoundPpm;
  // The ceiling of an integer quotient: a float division, then corrected by exact integer products (all below 2^53).
  let afterUs = Math.ceil(numerator / divisor);
  while (afterUs * divisor < numerator) afterUs += 1;
  while ((afterUs - 1) * divisor >= numerator) afterUs -= 1;
  // Postcondition: never shorter than the agent's lease, and exact (the ceiling of the true quotient).
  assert(afterUs >= timing.leaseDurationUs && afterUs * divisor >= numerator && (afterUs - 1) * divisor < numerator, "declare-down wait is the ceiling");
  return afterUs;
}
