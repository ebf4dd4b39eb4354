import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { DEFAULT_PEER_QUEUE_LIMITS, PeerQueueBound } from "../../../src/core/wire/peer-queue.ts";

describe("peer queue bound (shared by the TCP transport and the simulated network)", () => {
  test("admits up to the message bound, then drops and counts", () => {
    const bound = new PeerQueueBound({ messagesMax: 3, bytesMax: 1_000_000 });
    assert.deepEqual([1, 2, 3, 4, 5].map(() => bound.tryAdmit(10)), [true, true, true, false, false]);
    assert.equal(bound.queuedMessages, 3);
    assert.equal(bound.droppedMessages, 2);
    assert.equal(bound.droppedBytes, 20);
    bound.release(1, 10);
    assert.equal(bound.tryAdmit(10), true);
  });

  test("admits up to the byte bound: a message that would cross it is dropped, a smaller one still fits", () => {
    const bound = new PeerQueueBound({ messagesMax: 100, bytesMax: 100 });
    assert.equal(bound.tryAdmit(60), true);
    assert.equal(bound.tryAdmit(50), false);
    assert.equal(bound.tryAdmit(40), true);
    assert.equal(bound.queuedBytes, 100);
    bound.releaseAll();
    assert.equal(bound.queuedMessages, 0);
    assert.equal(bound.queuedBytes, 0);
  });

  test("releasing more than is queued is a programmer error", () => {
    const bound = new PeerQueueBound();
    bound.tryAdmit(10);
    assert.throws(() => bound.release(2, 10), /releasing/);
    assert.throws(() => new PeerQueueBound({ messagesMax: 0, bytesMax: 1 }), /positive/);
  });

  test("property: what is queued never exceeds either bound, and every message is either queued, released or counted as dropped", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 1, max: 500 }), fc.constant(-1)), { maxLength: 200 }), (operations) => {
        const bound = new PeerQueueBound({ messagesMax: 7, bytesMax: 1_000 });
        const queued: number[] = [];
        let offered = 0;
        let released = 0;
        for (const operation of operations) {
          if (operation === -1) {
            const size = queued.shift();
            if (size !== undefined) {
              bound.release(1, size);
              released++;
            }
            continue;
          }
          offered++;
          if (bound.tryAdmit(operation)) queued.push(operation);
          assert.ok(bound.queuedMessages <= 7 && bound.queuedBytes <= 1_000);
        }
        assert.equal(bound.queuedMessages, queued.length);
        assert.equal(offered, bound.queuedMessages + released + bound.droppedMessages);
      }),
    );
  });

  test("the default bound is the one both worlds use", () => {
    assert.equal(new PeerQueueBound().limits, DEFAULT_PEER_QUEUE_LIMITS);
  });
});
