import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { systemRandom, SystemTimers, systemMonotonicClock } from "../../../src/shell/os/system-environment.ts";

describe("system environment", () => {
  test("the clock is monotonic", () => {
    let previous = systemMonotonicClock.nowUs();
    for (let i = 0; i < 10_000; i++) {
      const now = systemMonotonicClock.nowUs();
      assert.ok(now >= previous);
      previous = now;
    }
  });

  test("timers fire once, in delay order, and cancelled ones never", async () => {
    const timers = new SystemTimers();
    const fired: string[] = [];
    timers.after(20, () => fired.push("late"));
    const cancelled = timers.after(5, () => fired.push("cancelled"));
    timers.after(0, () => fired.push("early"));
    timers.cancel(cancelled);
    timers.cancel(cancelled); // a second cancel is a no-op
    await new Promise((resolve) => timers.after(40, () => resolve(undefined)));
    assert.deepEqual(fired, ["early", "late"]);
    assert.equal(timers.pendingCount, 0);
  });

  test("the PRNG is reproducible from a seed and stays in range", () => {
    const seed = new Uint8Array(16).map((_, i) => i * 17);
    const a = systemRandom(seed);
    const b = systemRandom(seed);
    const counts = new Array<number>(10).fill(0);
    for (let i = 0; i < 20_000; i++) {
      const x = a.intBelow(10);
      assert.equal(x, b.intBelow(10));
      counts[x]! += 1;
      const f = a.float();
      assert.ok(f >= 0 && f < 1);
      b.float();
    }
    // Roughly uniform: each bucket within 20% of its expectation.
    for (const count of counts) assert.ok(count > 1_600 && count < 2_400, `bucket count ${count}`);
    // Two unseeded generators (seeded from node:crypto) differ.
    assert.notEqual(systemRandom().float(), systemRandom().float());
  });
});
