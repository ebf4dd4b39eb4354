// Waiting on simulated time: run a test cluster's event queue until a condition holds, with a
// deadline of simulated time (the simulator's counterpart of wait-until.ts, which waits on real time).
import assert from "node:assert/strict";
import type { EventQueue } from "../../src/core/sim/event-queue.ts";

/** Runs events until `condition()` holds; fails the test when the queue empties or passes `budgetMs` of simulated time first. */
export function runQueueUntil(queue: EventQueue, condition: () => boolean, budgetMs: number): void {
  const deadlineUs = queue.timeUs + budgetMs * 1000;
  while (!condition()) {
    const next = queue.peekTimeUs();
    assert.ok(next !== undefined && next <= deadlineUs, `condition not reached within ${budgetMs} ms of simulated time`);
    queue.runNext();
  }
}
