// The replica's tick schedule (src/core/replica/tick-schedule.ts): one timer for the core's next
// deadline, ticks handed over before inputs, clamped against clock jumps; on the simulator's
// event queue, clock and timers.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Environment } from "../../../src/core/env/environment.ts";
import { RawNode } from "../../../src/core/raft/raw-node.ts";
import type { RaftCore } from "../../../src/core/raft/types.ts";
import { defaultRaftTuning } from "../../../src/core/replica/replica.ts";
import { TickSchedule } from "../../../src/core/replica/tick-schedule.ts";
import { EventQueue } from "../../../src/core/sim/event-queue.ts";
import { Prng } from "../../../src/core/sim/prng.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { SimClock, SimTimers } from "../../../src/core/sim/sim-clock.ts";

const TICK_MS = 10;

function world(driftPpm = 0) {
  const queue = new EventQueue(100_000);
  const clock = new SimClock(queue, 5_000_000, driftPpm);
  /** While true time is below this, timer callbacks wait (a paused process: its timers run late). */
  let pausedUntilUs = 0;
  const dispatch = (callback: () => void): void => {
    if (queue.timeUs < pausedUntilUs) queue.at(pausedUntilUs, callback);
    else callback();
  };
  const timers = new SimTimers(queue, clock, dispatch, 1000);
  const env = { nodeId: 1, monotonic: clock, wall: clock, timers } as unknown as Environment;
  const pauseUntilMs = (ms: number) => (pausedUntilUs = ms * 1000);
  /** Runs every event due by `ms` of true time and leaves the queue's time there. */
  const runUntilMs = (ms: number) => {
    queue.at(ms * 1000, () => {});
    while ((queue.peekTimeUs() ?? Infinity) <= ms * 1000) queue.runNext();
  };
  return { queue, clock, env, runUntilMs, pauseUntilMs };
}

/** A core whose only deadline is `deadline` ticks after its start; it records every tickBy. */
class DeadlineCore {
  elapsed = 0;
  readonly handed: number[] = [];
  constructor(public deadline: number) {}
  ticksUntilDue(): number {
    return Math.max(1, this.deadline - this.elapsed);
  }
  tickBy(ticks: number): void {
    this.handed.push(ticks);
    this.elapsed += ticks;
  }
}

describe("tick schedule", () => {
  test("an idle follower wakes once per election timeout, and each wake-up is an election", () => {
    const { env, runUntilMs } = world(90_000);
    const core = new RawNode(
      { ...defaultRaftTuning, preVote: false, checkQuorum: false, id: 1, random: Prng.stream(seedFromNumber(3), "raft") },
      { hardState: { term: 0, vote: 0, commit: 0 }, snapshot: undefined, entries: [], confState: { voters: [1, 2, 3], learners: [] } },
    );
    let wakeUps = 0;
    const schedule = new TickSchedule(env, core, TICK_MS, () => {
      wakeUps += 1;
      if (core.hasReady()) {
        core.ready();
        core.advance();
      }
    });
    schedule.start();
    runUntilMs(10_000);
    // Election timeouts are 10-19 ticks of 10 ms: at most 100 elections in 10 s, where a timer
    // per tick would have woken the node 1,000 times.
    assert.equal(core.currentTerm(), wakeUps, "every wake-up was an election timeout");
    assert.ok(wakeUps >= 50 && wakeUps <= 100, `${wakeUps} wake-ups in 10 s`);
  });

  test("ticks that passed are handed over before an input, never the deadline's tick; the wall clock is not read", () => {
    const { clock, env, runUntilMs, pauseUntilMs } = world();
    const core = new DeadlineCore(10);
    const schedule = new TickSchedule(env, core as unknown as RaftCore, TICK_MS, () => {});
    schedule.start();
    runUntilMs(35);
    schedule.beforeInput();
    assert.deepEqual(core.handed, [3], "3 whole ticks passed after 35 ms");
    clock.jump(3_600_000_000); // the wall clock steps an hour forward: nothing changes
    schedule.beforeInput();
    assert.deepEqual(core.handed, [3]);
    pauseUntilMs(500); // the process stops: its timer (due at 100 ms) runs late
    runUntilMs(300);
    schedule.beforeInput();
    assert.deepEqual(core.handed, [3, 6], "clamped to the tick before the deadline");
    runUntilMs(500);
    assert.deepEqual(core.handed, [3, 6, 1], "the late timer delivers the deadline's tick");
  });

  test("a deadline that moves earlier re-arms the timer on the same tick grid", () => {
    const { env, runUntilMs } = world();
    const core = new DeadlineCore(20);
    const schedule = new TickSchedule(env, core as unknown as RaftCore, TICK_MS, () => {});
    schedule.start();
    runUntilMs(37);
    schedule.beforeInput();
    core.deadline = core.elapsed + 2; // an input made something due two ticks from now
    schedule.afterInput();
    runUntilMs(49);
    assert.deepEqual(core.handed, [3]);
    runUntilMs(50);
    assert.deepEqual(core.handed, [3, 2], "fires at tick 5 of the grid, 50 ms after the start");
  });

  test("a deadline that moves later lets the timer fire early and hand over quiet ticks", () => {
    const { env, runUntilMs } = world();
    const core = new DeadlineCore(10);
    let wakeUps = 0;
    const schedule = new TickSchedule(env, core as unknown as RaftCore, TICK_MS, () => (wakeUps += 1));
    schedule.start();
    core.deadline = 30;
    schedule.afterInput(); // nothing re-armed
    runUntilMs(100);
    assert.deepEqual(core.handed, [10]);
    runUntilMs(300);
    assert.deepEqual(core.handed, [10, 20]);
    assert.equal(wakeUps, 2);
    schedule.stop();
    runUntilMs(10_000);
    assert.equal(wakeUps, 2, "nothing fires after stop()");
  });
});
