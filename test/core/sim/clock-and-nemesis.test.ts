import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { EventQueue } from "../../../src/core/sim/event-queue.ts";
import { CLOCK_DRIFT_PPM_MAX, SIM_WALL_CLOCK_START_US, SimClock, SimTimers, drawClockDriftPpm } from "../../../src/core/sim/sim-clock.ts";

/** Wall-clock milliseconds since the simulated wall clocks' common start. */
const START_MS = SIM_WALL_CLOCK_START_US / 1000;
import { Nemesis, type NemesisTarget } from "../../../src/core/sim/nemesis.ts";
import { FAULT_PROFILES, type FaultKind, type FaultProfile } from "../../../src/core/sim/fault-profile.ts";
import { DEFAULT_NETWORK_LIMITS, SimNetwork } from "../../../src/core/sim/network.ts";
import { Prng } from "../../../src/core/sim/prng.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";

describe("node clocks and timers", () => {
  test("a clock reads start + offset + drifted true time + jumps; the node never sees true time", () => {
    const queue = new EventQueue(100);
    const clock = new SimClock(queue, 5_000_000, 100_000); // +5 s, runs 10% fast
    assert.equal(clock.nowMs() - START_MS, 5000);
    assert.ok(clock.nowMs() > Date.UTC(2025, 0, 1), "a wall clock reads a real date, as production's does");
    queue.at(1_000_000, () => {});
    queue.runNext();
    assert.equal(clock.nowMs() - START_MS, 5000 + 1100);
    clock.jump(-2_000_000);
    assert.equal(clock.nowMs() - START_MS, 3000 + 1100);
    clock.jump(-9_000_000);
    assert.ok(clock.nowMs() > 0, "stepped back past the run's start, it still reads after 1970");
  });

  test("the monotonic clock never jumps: nowUs ignores offset and jumps, only drift moves its rate", () => {
    const queue = new EventQueue(100);
    const clock = new SimClock(queue, 5_000_000, -100_000);
    queue.at(1_000_000, () => {});
    queue.runNext();
    assert.equal(clock.nowUs(), 900_000);
    clock.jump(-2_000_000);
    assert.equal(clock.nowUs(), 900_000, "a wall-clock jump leaves the monotonic clock alone");
    assert.equal(clock.nowMs() - START_MS, (5_000_000 + 900_000 - 2_000_000) / 1000);
  });

  test("drift draws: uniform within the profile's bound, or exactly at it (the lease profile), from one draw either way", () => {
    const uniform = Prng.stream(seedFromNumber(1), "clocks");
    const atBound = Prng.stream(seedFromNumber(1), "clocks");
    let slow = 0;
    for (let i = 0; i < 200; i++) {
      const drawn = drawClockDriftPpm(uniform, 100_000, false);
      const edge = drawClockDriftPpm(atBound, 100_000, true);
      assert.ok(Math.abs(drawn) <= 100_000);
      assert.equal(edge, drawn < 0 ? -100_000 : 100_000, "the same draw, pushed to the bound with its sign");
      if (edge < 0) slow++;
    }
    assert.ok(slow > 50 && slow < 150, `${slow} of 200 slow`);
    assert.equal(drawClockDriftPpm(uniform, 0, true), 0);
    assert.throws(() => drawClockDriftPpm(uniform, CLOCK_DRIFT_PPM_MAX + 1, false), /outside/);
    assert.equal(FAULT_PROFILES.lease!.clockDriftAtBound, true);
    assert.equal(FAULT_PROFILES.lease!.clockDriftMaxPpm, CLOCK_DRIFT_PPM_MAX);
  });

  test("timers measure local time at the drifted rate, never early, and ignore jumps", () => {
    const queue = new EventQueue(100);
    const slow = new SimClock(queue, 0, -100_000); // 10% slow: 100 local ms take ~111 true ms
    const fired: number[] = [];
    const timers = new SimTimers(queue, slow, (callback) => callback(), 10);
    timers.after(100, () => fired.push(queue.timeUs));
    slow.jump(50_000_000);
    while (queue.runNext());
    assert.equal(fired.length, 1);
    assert.ok(fired[0]! >= 111_111 && fired[0]! <= 111_112, `fired at ${fired[0]}`);
  });

  test("cancel and shutdown stop timers; the live bound is asserted", () => {
    const queue = new EventQueue(100);
    const timers = new SimTimers(queue, new SimClock(queue, 0, 0), (callback) => callback(), 3);
    const fired: string[] = [];
    const a = timers.after(1, () => fired.push("a"));
    timers.after(2, () => fired.push("b"));
    timers.cancel(a);
    timers.cancel(a);
    timers.after(3, () => fired.push("c"));
    assert.equal(timers.armed, 2);
    queue.runNext();
    queue.runNext();
    timers.shutdown();
    while (queue.runNext());
    assert.deepEqual(fired, ["b"]);
    const bounded = new SimTimers(queue, new SimClock(queue, 0, 0), (callback) => callback(), 1);
    bounded.after(1, () => {});
    assert.throws(() => bounded.after(1, () => {}));
  });
});

describe("nemesis", () => {
  function world(profile: FaultProfile, nodeCount = 5) {
    const queue = new EventQueue(100_000);
    const network = new SimNetwork<unknown>(queue, Prng.stream(seedFromNumber(1), "n"), nodeCount, { latencyMinUs: 1, latencyTailMeanUs: 0, latencyMaxUs: 1, lossProbability: 0, duplicateProbability: 0, reorder: false }, { ...DEFAULT_NETWORK_LIMITS, perLinkQueue: { messagesMax: 10, bytesMax: 1 << 20 } }, () => {}, () => 0);
    const up = new Set(Array.from({ length: nodeCount }, (_, i) => i + 1));
    let maxDown = 0;
    const target: NemesisTarget = {
      nodeIds: [...up],
      isUp: (id) => up.has(id),
      crash: (id) => {
        assert.ok(up.delete(id));
        maxDown = Math.max(maxDown, nodeCount - up.size);
      },
      restart: (id) => {
        assert.ok(!up.has(id));
        up.add(id);
      },
      jumpClock: () => {},
      leaderId: () => 1,
      pause: () => {},
      fillDisk: () => {},
      freeDisk: () => {},
      network,
      note: () => {},
    };
    const nemesis = new Nemesis(queue, Prng.stream(seedFromNumber(2), "faults"), profile, target);
    return { queue, network, up, nemesis, maxDown: () => maxDown };
  }

  test("standard faults keep a quorum up, and everything heals at the heal point", () => {
    const { queue, network, up, nemesis, maxDown } = world(FAULT_PROFILES.standard!);
    nemesis.start(60_000_000);
    let blockedAtSomePoint = false;
    while (queue.runNext()) {
      for (let a = 1; a <= 5; a++) for (let b = 1; b <= 5; b++) if (a !== b && network.isBlocked(a, b)) blockedAtSomePoint = true;
    }
    assert.ok(nemesis.isHealed);
    assert.ok(blockedAtSomePoint);
    assert.ok(maxDown() >= 1 && maxDown() <= 2, `at most a minority down, saw ${maxDown()}`);
    assert.equal(up.size, 5);
    for (let a = 1; a <= 5; a++) for (let b = 1; b <= 5; b++) if (a !== b) assert.equal(network.isBlocked(a, b), false);
    // Every kind the profile enables (disk-full has its own profile).
    for (const [kind, count] of Object.entries(nemesis.counts)) assert.ok(count > 0 || FAULT_PROFILES.standard!.weights[kind as FaultKind] === 0, kind);
    assert.ok(queue.timeUs >= 60_000_000);
  });

  test("the same seed draws the same schedule; none injects nothing", () => {
    const a = world(FAULT_PROFILES.heavy!);
    const b = world(FAULT_PROFILES.heavy!);
    a.nemesis.start(10_000_000);
    b.nemesis.start(10_000_000);
    while (a.queue.runNext());
    while (b.queue.runNext());
    assert.deepEqual(a.nemesis.counts, b.nemesis.counts);
    const calm = world(FAULT_PROFILES.none!);
    calm.nemesis.start(10_000_000);
    while (calm.queue.runNext());
    assert.ok(Object.values(calm.nemesis.counts).every((count) => count === 0));
  });
});
