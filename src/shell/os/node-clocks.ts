// A real node's two clocks (src/core/env/environment.ts) with the clock faults an operator or the
// Jepsen nemesis sets through the points clock.wall and clock.monotonic (docs/FAILPOINTS.md,
// "Clock faults"; the language is clock-fault-spec.ts):
//   wall       Date.now() plus an offset, stepped by bumps, and flipped by a strobe for a while:
//              what an NTP step, a bad operator or a flapping time source does to a host;
//   monotonic  performance.now() in integer microseconds, running fast or slow by a drift within
//              CLOCK_DRIFT_BOUND_PPM. A drift change re-anchors the clock at its current reading,
//              so it never goes backwards and never jumps; SystemTimers measures its delays on
//              the same drifted rate (onDriftChange), so the node's notion of elapsed time really
//              runs fast or slow, as the simulator's drift does (src/core/sim/sim-clock.ts).
// The wall clock does not follow the drift: each clock has its own faults, and healing the wall
// clock brings it back to the host's time.
//
// Off costs one branch per reading (the fault's field is undefined).

import { performance } from "node:perf_hooks";
import { assert } from "../../core/assert.ts";
import { CLOCK_DRIFT_BOUND_PPM, type MonotonicClock, type WallClock } from "../../core/env/environment.ts";
import { CLOCK_OFFSET_MS_MAX, renderMonotonicArg, renderWallArg, type ClockStrobe, type MonotonicClockChange, type WallClockChange } from "./clock-fault-spec.ts";

/** Where true time comes from: the host's monotonic microseconds and its epoch milliseconds. Tests hand in their own. */
export interface TimeSource {
  /** Integer microseconds, never decreasing. */
  realUs(): number;
  epochMs(): number;
}

export const systemTimeSource: TimeSource = {
  realUs: () => Math.floor(performance.now() * 1000),
  epochMs: () => Date.now(),
};

/** A clock point's state for `failpoint list`: the argument that sets it again from now, and its readings. */
export interface ClockFaultStatus {
  readonly arg: string;
  /** Readings of the faulted clock since the point was set. */
  readonly evaluated: number;
  /** Those the fault moved away from the host's own reading. */
  readonly fired: number;
}

interface RunningStrobe extends ClockStrobe {
  readonly startUs: number;
}

interface WallFault {
  offsetMs: number;
  strobe: RunningStrobe | undefined;
  evaluated: number;
  fired: number;
}

interface DriftFault {
  readonly ppm: number;
  /** The real and monotonic readings when this drift began: the clock is continuous there. */
  readonly anchorRealUs: number;
  readonly anchorMonotonicUs: number;
  evaluated: number;
}

const MICROS_PER_SECOND = 1_000_000;

export class NodeClocks {
  private wallFault: WallFault | undefined;
  private drift: DriftFault | undefined;
  /** Monotonic minus real while no drift runs: what the drifts so far have added up to. */
  private monotonicCorrectionUs = 0;
  private lastMonotonicUs = Number.NEGATIVE_INFINITY;
  private driftListeners: (() => void)[] = [];

  readonly monotonic: MonotonicClock = { nowUs: () => (this.drift === undefined ? this.checked(this.source.realUs() + this.monotonicCorrectionUs) : this.drifted(this.drift)) };
  readonly wall: WallClock = { nowMs: () => (this.wallFault === undefined ? this.source.epochMs() : this.shifted(this.wallFault)) };

  constructor(private readonly source: TimeSource = systemTimeSource) {}

  /** The drift in force (0: none), in parts per million. */
  get driftPpm(): number {
    return this.drift?.ppm ?? 0;
  }

  /** Applies a wall clock change; a problem (a bump that would leave the offset beyond its limit) changes nothing. */
  changeWall(change: WallClockChange): string | undefined {
    const fault = this.wallFault ?? { offsetMs: 0, strobe: undefined, evaluated: 0, fired: 0 };
    const startUs = this.source.realUs();
    switch (change.kind) {
      case "offset":
        this.wallFault = { offsetMs: change.offsetMs, strobe: change.strobe === undefined ? undefined : { ...change.strobe, startUs }, evaluated: 0, fired: 0 };
        break;
      case "bump": {
        const offsetMs = fault.offsetMs + change.deltaMs;
        if (Math.abs(offsetMs) > CLOCK_OFFSET_MS_MAX) return `clock.wall: a bump of ${change.deltaMs} ms would leave the offset at ${offsetMs} ms, beyond ${CLOCK_OFFSET_MS_MAX} ms (30 days) either way`;
        // A step of the clock in force: a strobe running keeps running around the new offset.
        this.wallFault = { ...fault, offsetMs, evaluated: 0, fired: 0 };
        break;
      }
      case "strobe":
        this.wallFault = { ...fault, strobe: { ...change.strobe, startUs }, evaluated: 0, fired: 0 };
        break;
      default: {
        const unreachable: never = change;
        return unreachable;
      }
    }
    assert(Math.abs(this.wallFault.offsetMs) <= CLOCK_OFFSET_MS_MAX, "a wall clock offset within its limit");
    return undefined;
  }

  /** Takes every wall clock fault away (offset, bumps, strobe); false when there was none. */
  clearWall(): boolean {
    const was = this.wallFault !== undefined;
    this.wallFault = undefined;
    return was;
  }

  /** Runs the monotonic clock at the drift, from its current reading on (no jump). */
  changeMonotonic(change: MonotonicClockChange): void {
    assert(Number.isSafeInteger(change.ppm) && Math.abs(change.ppm) <= CLOCK_DRIFT_BOUND_PPM, () => `a drift of ${change.ppm} ppm is beyond the bound (the spec refuses it)`);
    this.setDrift(change.ppm);
  }

  /** Runs the monotonic clock at the host's rate again, from its current reading on; false when it was not drifting. */
  clearMonotonic(): boolean {
    const was = this.drift !== undefined;
    if (was) this.setDrift(0);
    return was;
  }

  /** Calls `listener` after every drift change (the timers re-arm on the new rate). Returns the unsubscribe. */
  onDriftChange(listener: () => void): () => void {
    this.driftListeners.push(listener);
    return () => {
      this.driftListeners = this.driftListeners.filter((l) => l !== listener);
    };
  }

  /** Real microseconds in which the monotonic clock measures `monotonicUs` at the drift in force, rounded up (never early). */
  realDelayUs(monotonicUs: number): number {
    assert(monotonicUs >= 0 && Number.isFinite(monotonicUs), () => `a delay of ${monotonicUs} us`);
    const ppm = this.driftPpm;
    return ppm === 0 ? monotonicUs : Math.ceil((monotonicUs * MICROS_PER_SECOND) / (MICROS_PER_SECOND + ppm));
  }

  wallStatus(): ClockFaultStatus | undefined {
    const fault = this.wallFault;
    if (fault === undefined) return undefined;
    const strobe = this.strobeLeft(fault, this.source.realUs());
    return { arg: renderWallArg({ kind: "offset", offsetMs: fault.offsetMs, strobe }), evaluated: fault.evaluated, fired: fault.fired };
  }

  monotonicStatus(): ClockFaultStatus | undefined {
    const drift = this.drift;
    if (drift === undefined) return undefined;
    return { arg: renderMonotonicArg({ kind: "drift", ppm: drift.ppm }), evaluated: drift.evaluated, fired: drift.evaluated };
  }

  private setDrift(ppm: number): void {
    const realUs = this.source.realUs();
    const nowUs = this.monotonic.nowUs();
    if (ppm === 0) {
      this.drift = undefined;
      this.monotonicCorrectionUs = nowUs - realUs;
    } else {
      this.drift = { ppm, anchorRealUs: realUs, anchorMonotonicUs: nowUs, evaluated: 0 };
    }
    for (const listener of [...this.driftListeners]) listener();
  }

  private drifted(drift: DriftFault): number {
    drift.evaluated++;
    const elapsedUs = this.source.realUs() - drift.anchorRealUs;
    assert(elapsedUs >= 0, "the host's monotonic time went backwards");
    // floor(elapsed * (1e6 + ppm) / 1e6) in exact integers: whole seconds times ppm, then the
    // rest, each product well inside 2^53 (a double's exact integers) for years of elapsed time.
    const seconds = Math.floor(elapsedUs / MICROS_PER_SECOND);
    const restUs = elapsedUs - seconds * MICROS_PER_SECOND;
    const skewUs = seconds * drift.ppm + Math.floor((restUs * drift.ppm) / MICROS_PER_SECOND);
    return this.checked(drift.anchorMonotonicUs + elapsedUs + skewUs);
  }

  /** Asserts the Environment's promise: a monotonic reading never decreases. */
  private checked(nowUs: number): number {
    assert(nowUs >= this.lastMonotonicUs, () => `the monotonic clock went back from ${this.lastMonotonicUs} to ${nowUs} us`);
    this.lastMonotonicUs = nowUs;
    return nowUs;
  }

  private shifted(fault: WallFault): number {
    fault.evaluated++;
    const realUs = this.source.realUs();
    const strobe = this.strobeLeft(fault, realUs);
    // The strobe's first period is the shifted one, so it is in force as soon as it is set.
    const flipped = strobe !== undefined && Math.floor((realUs - strobe.startUs) / (strobe.periodMs * 1000)) % 2 === 0;
    const shiftMs = fault.offsetMs + (flipped ? strobe.deltaMs : 0);
    if (shiftMs !== 0) fault.fired++;
    return this.source.epochMs() + shiftMs;
  }

  /** The strobe still running at `realUs` (forgotten once its duration is over), as what is left of it. */
  private strobeLeft(fault: WallFault, realUs: number): (RunningStrobe & { readonly durationMs: number }) | undefined {
    const strobe = fault.strobe;
    if (strobe === undefined) return undefined;
    const leftMs = strobe.durationMs - Math.floor((realUs - strobe.startUs) / 1000);
    if (leftMs <= 0) {
      fault.strobe = undefined;
      return undefined;
    }
    return { ...strobe, durationMs: leftMs };
  }
}
