// The node lease's timing (src/core/agent/lease-timing.ts, docs/FENCING.md): for any two monotonic
// clocks within the drift bound (rates that may change), integer readings, any offsets, any delay
// between the agent's submit and the controller's apply and any pause of the agent's process, the
// agent's VMs are dead (true time) before the controller may declare the node down (true time).
// Without the drift correction (the controller waiting L instead of Lc) some pair of clocks breaks it.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { CLOCK_DRIFT_BOUND_PPM } from "../../../src/core/env/environment.ts";
import {
  CLOCK_READING_SLACK_US,
  agentLeaseDeadlineUs,
  controllerDeclareDownAfterUs,
  defaultLeaseTiming,
  fenceAtUs,
  leaseAllowsStart,
  validateLeaseTiming,
  type LeaseTiming,
} from "../../../src/core/agent/lease-timing.ts";
import { ModelClock } from "../../support/model-clock.ts";

const bound = CLOCK_DRIFT_BOUND_PPM;
const clockArb = fc
  .record({
    offsetUs: fc.integer({ min: 0, max: 1_000_000_000 }),
    phase: fc.integer({ min: 0, max: 999_999 }),
    segments: fc.array(fc.record({ lengthUs: fc.integer({ min: 1, max: 2_000_000_000 }), driftPpm: fc.integer({ min: -bound, max: bound }) }), { minLength: 1, maxLength: 4 }),
  })
  .map(({ offsetUs, phase, segments }) => new ModelClock(BigInt(offsetUs), segments.map((s) => ({ lengthUs: BigInt(s.lengthUs), driftPpm: BigInt(s.driftPpm) })), BigInt(phase)));

/** A clock at the bound: the agent's slow, the controller's fast, the worst case. */
const atBound = (driftPpm: number, phase = 0n) => new ModelClock(0n, [{ lengthUs: 1n, driftPpm: BigInt(driftPpm) }], phase);

const timingArb = fc
  .record({ leaseDurationUs: fc.integer({ min: 1_000, max: 600_000_000 }), stopPermille: fc.integer({ min: 1, max: 500 }), renewPermille: fc.integer({ min: 1, max: 150 }) })
  .map(({ leaseDurationUs, stopPermille, renewPermille }): LeaseTiming => {
    const stopBoundUs = Math.max(1, Math.floor((leaseDurationUs * stopPermille) / 1000));
    const renewIntervalUs = Math.max(1, Math.floor((leaseDurationUs * renewPermille) / 1000));
    return { leaseDurationUs, renewIntervalUs, stopBoundUs, startBoundUs: Math.max(1, Math.floor(stopBoundUs / 2)) };
  });

/**
 * One renewal: the agent reads s and submits at true ts; a replica applies it at ta >= ts and the
 * controller reads c then. The agent's own fence runs at fenceAtUs unless its process is paused
 * until pauseEndTrue; the guard kills at the deadline whatever the process does. Returns the true
 * times at which every VM is dead and at which the controller may declare the node down.
 */
function scenario(agent: ModelClock, controller: ModelClock, timing: LeaseTiming, tsTrue: bigint, applyDelayUs: bigint, pauseEndTrue: bigint, declareAfterUs: number) {
  const s = Number(agent.read(tsTrue));
  const taTrue = tsTrue + applyDelayUs;
  const c = controller.read(taTrue);
  const guardTrue = agent.firstTimeReaching(BigInt(agentLeaseDeadlineUs(s, timing)), tsTrue);
  const fenceTrue = agent.firstTimeReaching(BigInt(fenceAtUs(s, timing)), tsTrue);
  const agentKillTrue = fenceTrue > pauseEndTrue ? fenceTrue : pauseEndTrue;
  const deadTrue = agentKillTrue < guardTrue ? agentKillTrue : guardTrue;
  const declareTrue = controller.firstTimeReaching(c + BigInt(declareAfterUs), taTrue);
  return { deadTrue, declareTrue, guardTrue };
}

describe("lease timing", () => {
  test("the default timing is valid, and the numbers are what FENCING.md says", () => {
    validateLeaseTiming(defaultLeaseTiming);
    assert.equal(agentLeaseDeadlineUs(1_000, defaultLeaseTiming), 1_000 + 10_000_000 - CLOCK_READING_SLACK_US);
    assert.equal(fenceAtUs(1_000, defaultLeaseTiming), 1_000 + 8_000_000 - CLOCK_READING_SLACK_US);
    // Lc = ceil(10 s * 1.1 / 0.9) = 12.222223 s at the 100,000 ppm bound.
    assert.equal(controllerDeclareDownAfterUs(defaultLeaseTiming), 12_222_223);
    assert.equal(controllerDeclareDownAfterUs(defaultLeaseTiming, 0), 10_000_000);
  });

  test("a start needs its start bound before fencing begins", () => {
    const fenceUs = fenceAtUs(0, defaultLeaseTiming);
    assert.equal(leaseAllowsStart(0, fenceUs - defaultLeaseTiming.startBoundUs, defaultLeaseTiming), true);
    assert.equal(leaseAllowsStart(0, fenceUs - defaultLeaseTiming.startBoundUs + 1, defaultLeaseTiming), false);
  });

  test("validation refuses a renew interval that is not well below the lease minus the stop bound", () => {
    assert.throws(() => validateLeaseTiming({ ...defaultLeaseTiming, renewIntervalUs: 3_000_000 }), /renew interval/);
    assert.throws(() => validateLeaseTiming({ ...defaultLeaseTiming, stopBoundUs: 10_000_000 }), /stop bound/);
    assert.throws(() => validateLeaseTiming({ ...defaultLeaseTiming, leaseDurationUs: 1.5 }), /positive integer/);
  });

  test("property: for any clocks within the drift bound and any pause, the VMs are dead before the controller's declare time", () => {
    fc.assert(
      fc.property(
        timingArb,
        clockArb,
        clockArb,
        fc.integer({ min: 0, max: 1_000_000_000 }),
        fc.integer({ min: 0, max: 100_000_000 }),
        fc.integer({ min: 0, max: 2_000_000_000 }),
        (timing, agent, controller, tsTrue, applyDelayUs, pauseUs) => {
          validateLeaseTiming(timing);
          const ts = BigInt(tsTrue);
          const { deadTrue, declareTrue } = scenario(agent, controller, timing, ts, BigInt(applyDelayUs), ts + BigInt(pauseUs), controllerDeclareDownAfterUs(timing));
          assert.ok(deadTrue <= declareTrue, `VMs dead at ${deadTrue}, controller declares at ${declareTrue}`);
        },
      ),
      { numRuns: 2_000 },
    );
  });

  test("at the bound (agent 10% slow, controller 10% fast, apply at once) the margin is a few microseconds, and positive", () => {
    for (const leaseDurationUs of [1_000, 999_983, 10_000_000, 123_456_789]) {
      const timing: LeaseTiming = { leaseDurationUs, renewIntervalUs: Math.floor(leaseDurationUs / 10), stopBoundUs: Math.floor(leaseDurationUs / 5), startBoundUs: 1 };
      for (const tsTrue of [0n, 7n, 1_000_003n]) {
        const { deadTrue, declareTrue } = scenario(atBound(-bound), atBound(bound, 999_999n), timing, tsTrue, 0n, 0n, controllerDeclareDownAfterUs(timing));
        assert.ok(deadTrue <= declareTrue, `L=${leaseDurationUs} ts=${tsTrue}: dead ${deadTrue} > declare ${declareTrue}`);
      }
    }
  });

  test("the two microseconds of slack matter: a guard at s + L fires one microsecond after the controller declares", () => {
    const timing: LeaseTiming = { leaseDurationUs: 1_000, renewIntervalUs: 10, stopBoundUs: 100, startBoundUs: 1 };
    // The controller's clock is a hair before its next tick at true time 0: its first microsecond reads early.
    const agent = atBound(-bound);
    const controller = atBound(bound, 999_999n);
    const tsTrue = 0n;
    const s = agent.read(tsTrue);
    const declareTrue = controller.firstTimeReaching(controller.read(tsTrue) + BigInt(controllerDeclareDownAfterUs(timing)), tsTrue);
    const guardWithoutSlackTrue = agent.firstTimeReaching(s + BigInt(timing.leaseDurationUs), tsTrue);
    const guardTrue = agent.firstTimeReaching(BigInt(agentLeaseDeadlineUs(Number(s), timing)), tsTrue);
    assert.equal(guardWithoutSlackTrue, declareTrue + 1n);
    assert.ok(guardTrue <= declareTrue);
  });

  test("the check can fail: a controller that waits only L (no drift correction) declares before the VMs are dead", () => {
    const timing = defaultLeaseTiming;
    const { guardTrue, declareTrue } = scenario(atBound(-bound), atBound(bound), timing, 0n, 0n, 0n, timing.leaseDurationUs);
    assert.ok(guardTrue > declareTrue, "without the drift correction the slow agent's guard fires after the fast controller declares");
    assert.throws(() =>
      fc.assert(
        fc.property(clockArb, clockArb, (agent, controller) => {
          const r = scenario(agent, controller, timing, 0n, 0n, 2_000_000_000n, timing.leaseDurationUs);
          assert.ok(r.deadTrue <= r.declareTrue);
        }),
        { numRuns: 2_000 },
      ),
    );
  });
});
