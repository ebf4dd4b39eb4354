import { test, describe } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { EventQueue } from "../../../src/core/sim/event-queue.ts";
import { AssertionFailure } from "../../../src/core/assert.ts";

describe("event queue", () => {
  test("runs events in (time, insertion) order and jumps time", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 200 }), (times) => {
        const queue = new EventQueue(1000);
        const ran: Array<[number, number]> = [];
        times.forEach((time, i) => queue.at(time, () => ran.push([queue.timeUs, i])));
        while (queue.runNext());
        const expected = times.map((time, i) => [time, i] as [number, number]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        assert.deepEqual(ran, expected);
      }),
    );
  });

  test("events scheduled while running keep the tie rule", () => {
    const queue = new EventQueue(10);
    const order: string[] = [];
    queue.at(5, () => {
      order.push("a");
      queue.after(0, () => order.push("c"));
    });
    queue.at(5, () => order.push("b"));
    while (queue.runNext());
    assert.deepEqual(order, ["a", "b", "c"]);
    assert.equal(queue.timeUs, 5);
    assert.equal(queue.eventsExecuted, 3);
  });

  test("rejects the past and overflow", () => {
    const queue = new EventQueue(2);
    queue.at(10, () => {});
    queue.runNext();
    assert.throws(() => queue.at(9, () => {}), AssertionFailure);
    queue.at(11, () => {});
    queue.at(12, () => {});
    assert.throws(() => queue.at(13, () => {}), AssertionFailure);
  });

  test("target events (code, payload) and closures share one order: time, then insertion", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.boolean()), { maxLength: 60 }), (events) => {
        const queue = new EventQueue(100);
        const ran: number[] = [];
        const target = { fire: (code: number, payload: unknown) => ran.push(code * 1000 + (payload as { n: number }).n) };
        events.forEach(([timeUs, viaTarget], n) => {
          if (viaTarget) queue.atTarget(timeUs, target, 7, { n });
          else queue.at(timeUs, () => ran.push(n));
        });
        while (queue.runNext());
        const expected = events
          .map(([timeUs, viaTarget], n) => ({ timeUs, n, value: viaTarget ? 7000 + n : n }))
          .sort((a, b) => a.timeUs - b.timeUs || a.n - b.n)
          .map((e) => e.value);
        assert.deepEqual(ran, expected);
      }),
    );
  });
});

