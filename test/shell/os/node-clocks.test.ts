// The real node's clock faults (src/shell/os/node-clocks.ts) on a hand-driven time source: the
// wall clock's offset, bumps and strobe; the monotonic clock's drift, within the bound, without a
// jump at a change and never decreasing; and the timers measured on the drifted clock (real time).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { CLOCK_DRIFT_BOUND_PPM } from "../../../src/core/env/environment.ts";
import { CLOCK_OFFSET_MS_MAX } from "../../../src/shell/os/clock-fault-spec.ts";
import { NodeClocks, type TimeSource } from "../../../src/shell/os/node-clocks.ts";
import { SystemTimers } from "../../../src/shell/os/system-environment.ts";

/** A host whose time moves only when the test says so. */
class ManualTime implements TimeSource {
  us = 5_000_000;
  readonly epochStartMs = 1_780_000_000_000;
  realUs(): number {
    return this.us;
  }
  epochMs(): number {
    return this.epochStartMs + this.us / 1000;
  }
  advanceMs(ms: number): void {
    this.us += ms * 1000;
  }
}

function clocks(): { time: ManualTime; clocks: NodeClocks } {
  const time = new ManualTime();
  return { time, clocks: new NodeClocks(time) };
}

describe("the wall clock's faults", () => {
  test("an offset moves every reading by it, either way; a clear brings the host's time back", () => {
    const { time, clocks: c } = clocks();
    assert.equal(c.wall.nowMs(), time.epochMs());
    assert.equal(c.changeWall({ kind: "offset", offsetMs: 90_000, strobe: undefined }), undefined);
    assert.equal(c.wall.nowMs(), time.epochMs() + 90_000);
    time.advanceMs(1_234);
    assert.equal(c.wall.nowMs(), time.epochMs() + 90_000);
    c.changeWall({ kind: "offset", offsetMs: -45_000, strobe: undefined });
    assert.equal(c.wall.nowMs(), time.epochMs() - 45_000);
    assert.deepEqual(c.wallStatus(), { arg: "offset:-45000", evaluated: 1, fired: 1 });
    assert.equal(c.clearWall(), true);
    assert.equal(c.wall.nowMs(), time.epochMs());
    assert.equal(c.wallStatus(), undefined);
    assert.equal(c.clearWall(), false);
  });

  test("a bump steps the offset in force once, and a bump past the limit is refused with nothing changed", () => {
    const { time, clocks: c } = clocks();
    c.changeWall({ kind: "bump", deltaMs: 5_000 });
    c.changeWall({ kind: "bump", deltaMs: -7_000 });
    assert.equal(c.wall.nowMs(), time.epochMs() - 2_000);
    assert.equal(c.wallStatus()?.arg, "offset:-2000");
    c.changeWall({ kind: "offset", offsetMs: CLOCK_OFFSET_MS_MAX - 10, strobe: undefined });
    const refused = c.changeWall({ kind: "bump", deltaMs: 11 });
    assert.match(refused ?? "", /^clock\.wall: a bump of 11 ms would leave the offset at 2592000001 ms, beyond 2592000000 ms \(30 days\)/);
    assert.equal(c.wall.nowMs(), time.epochMs() + CLOCK_OFFSET_MS_MAX - 10);
  });

  test("a strobe flips every period between the offset in force and that plus its delta, then stops", () => {
    const { time, clocks: c } = clocks();
    c.changeWall({ kind: "offset", offsetMs: 1_000, strobe: undefined });
    c.changeWall({ kind: "strobe", strobe: { deltaMs: 60_000, periodMs: 100, durationMs: 1_000 } });
    const shifts: number[] = [];
    for (let i = 0; i < 12; i++) {
      shifts.push(c.wall.nowMs() - time.epochMs());
      time.advanceMs(100);
    }
    assert.deepEqual(shifts, [61_000, 1_000, 61_000, 1_000, 61_000, 1_000, 61_000, 1_000, 61_000, 1_000, 1_000, 1_000]);
    assert.equal(c.wallStatus()?.arg, "offset:+1000", "the strobe is over: only the offset is left");
  });

  test("the status of a running strobe says what is left of it, in the syntax that sets it again", () => {
    const { time, clocks: c } = clocks();
    c.changeWall({ kind: "offset", offsetMs: -3, strobe: { deltaMs: -500, periodMs: 20, durationMs: 2_000 } });
    time.advanceMs(500);
    assert.equal(c.wallStatus()?.arg, "offset:-3 strobe:-500,20,1500");
  });

  test("no fault: readings are the host's own and nothing is counted", () => {
    const { time, clocks: c } = clocks();
    for (let i = 0; i < 3; i++) {
      assert.equal(c.wall.nowMs(), time.epochMs());
      assert.equal(c.monotonic.nowUs(), time.realUs());
      time.advanceMs(7);
    }
    assert.equal(c.wallStatus(), undefined);
    assert.equal(c.monotonicStatus(), undefined);
  });
});

describe("the monotonic clock's drift", () => {
  test("a drift runs the clock fast or slow by its parts per million, and a clear keeps the reading where it is", () => {
    const { time, clocks: c } = clocks();
    const start = c.monotonic.nowUs();
    c.changeMonotonic({ kind: "drift", ppm: 100_000 });
    assert.equal(c.monotonic.nowUs(), start, "no jump at the change");
    time.advanceMs(1_000);
    assert.equal(c.monotonic.nowUs() - start, 1_100_000);
    c.changeMonotonic({ kind: "drift", ppm: -50_000 });
    time.advanceMs(2_000);
    assert.equal(c.monotonic.nowUs() - start, 1_100_000 + 1_900_000);
    assert.equal(c.monotonicStatus()?.arg, "drift:-50000");
    assert.equal(c.clearMonotonic(), true);
    assert.equal(c.monotonic.nowUs() - start, 3_000_000, "no jump at the clear");
    time.advanceMs(1_000);
    assert.equal(c.monotonic.nowUs() - start, 4_000_000, "the host's rate again");
    assert.equal(c.clearMonotonic(), false);
  });

  test("a drift beyond the bound is a programmer error here (the spec refuses it first)", () => {
    const { clocks: c } = clocks();
    assert.throws(() => c.changeMonotonic({ kind: "drift", ppm: CLOCK_DRIFT_BOUND_PPM + 1 }), /beyond the bound/);
    assert.equal(c.driftPpm, 0);
  });

  test("the promise is asserted: a host time that goes back fails the reading, drifting or not, instead of handing the core a clock that decreases", () => {
    for (const ppm of [0, -100_000, 100_000]) {
      const { time, clocks: c } = clocks();
      if (ppm !== 0) c.changeMonotonic({ kind: "drift", ppm });
      time.advanceMs(10);
      c.monotonic.nowUs();
      time.us -= 1;
      assert.throws(() => c.monotonic.nowUs(), /went back|went backwards/, `drift ${ppm}`);
    }
  });

  test("property: under any drifts within the bound the clock never decreases, never jumps at a change, and each stretch runs at its drift", () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant("advance" as const), us: fc.integer({ min: 0, max: 50_000_000_000 }) }),
      fc.record({ kind: fc.constant("drift" as const), ppm: fc.integer({ min: -CLOCK_DRIFT_BOUND_PPM, max: CLOCK_DRIFT_BOUND_PPM }) }),
      fc.constant({ kind: "clear" as const }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const { time, clocks: c } = clocks();
        let previous = c.monotonic.nowUs();
        for (const s of steps) {
          if (s.kind === "advance") {
            const ppm = c.driftPpm;
            time.us += s.us;
            const now = c.monotonic.nowUs();
            const elapsed = now - previous;
            // Exactly the drifted elapsed time, give or take the whole microsecond a reading rounds off.
            const expected = s.us + (s.us * ppm) / 1_000_000;
            if (!(elapsed >= 0 && Math.abs(elapsed - expected) <= 1)) return false;
            if (elapsed < Math.floor((s.us * (1_000_000 - CLOCK_DRIFT_BOUND_PPM)) / 1_000_000) - 1) return false;
            previous = now;
          } else {
            if (s.kind === "drift") c.changeMonotonic({ kind: "drift", ppm: s.ppm });
            else c.clearMonotonic();
            if (c.monotonic.nowUs() !== previous) return false;
          }
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });
});

describe("the timers on a drifting clock (real time)", () => {
  const measure = (timers: SystemTimers, delayMs: number): Promise<{ realMs: number; monotonicMs: number }> =>
    new Promise((done) => {
      const real = performance.now();
      const monotonic = timers.clocks.monotonic.nowUs();
      timers.after(delayMs, () => done({ realMs: performance.now() - real, monotonicMs: (timers.clocks.monotonic.nowUs() - monotonic) / 1000 }));
    });

  test("a slow clock's timer waits longer in real time and a fast one's less, and neither fires before its delay of the node's clock", async () => {
    const slow = new SystemTimers(new NodeClocks());
    slow.clocks.changeMonotonic({ kind: "drift", ppm: -100_000 });
    const fast = new SystemTimers(new NodeClocks());
    fast.clocks.changeMonotonic({ kind: "drift", ppm: 100_000 });
    const [s, f] = await Promise.all([measure(slow, 200), measure(fast, 200)]);
    assert.ok(s.monotonicMs >= 200 && f.monotonicMs >= 200, JSON.stringify({ s, f }));
    // 200 ms of a clock 10% slow is 222 ms of real time; of one 10% fast, 182 ms.
    assert.ok(s.realMs >= 221, `slow: ${JSON.stringify(s)}`);
    assert.ok(f.realMs < s.realMs, `fast ${JSON.stringify(f)} against slow ${JSON.stringify(s)}`);
  });

  test("a drift set while a timer waits re-arms it on the new rate: it still waits its whole delay of the node's clock", async () => {
    const timers = new SystemTimers(new NodeClocks());
    const waited = measure(timers, 150);
    await new Promise((r) => setTimeout(r, 50));
    timers.clocks.changeMonotonic({ kind: "drift", ppm: -100_000 });
    const during = measure(timers, 100);
    const cancelled = timers.after(10, () => assert.fail("a cancelled timer fired"));
    timers.cancel(cancelled);
    const [w, d] = await Promise.all([waited, during]);
    assert.ok(w.monotonicMs >= 150, JSON.stringify(w));
    assert.ok(d.monotonicMs >= 100 && d.realMs >= 110, JSON.stringify(d));
    timers.clocks.clearMonotonic();
    const after = await measure(timers, 50);
    assert.ok(after.monotonicMs >= 50, JSON.stringify(after));
    assert.equal(timers.pendingCount, 0);
  });
});
