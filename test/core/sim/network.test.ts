import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { EventQueue } from "../../../src/core/sim/event-queue.ts";
import { SimNetwork, type LinkProfile } from "../../../src/core/sim/network.ts";
import { Prng } from "../../../src/core/sim/prng.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";

const fixed: LinkProfile = { latencyMinUs: 1000, latencyTailMeanUs: 0, latencyMaxUs: 1000, lossProbability: 0, duplicateProbability: 0, reorder: false };

function setup(link: LinkProfile = fixed, maxInFlight = 100) {
  const queue = new EventQueue(10_000);
  const received: Array<{ from: number; to: number; payload: number; at: number }> = [];
  const network = new SimNetwork<number>(queue, Prng.stream(seedFromNumber(1), "network"), 3, link, maxInFlight, (from, to, payload) =>
    received.push({ from, to, payload, at: queue.timeUs }),
  );
  const drain = () => {
    while (queue.runNext());
  };
  return { queue, network, received, drain };
}

describe("simulated network", () => {
  test("delivers after the link's latency", () => {
    const { network, received, drain } = setup();
    network.send(1, 2, 7);
    drain();
    assert.deepEqual(received, [{ from: 1, to: 2, payload: 7, at: 1000 }]);
    assert.equal(network.stats.delivered, 1);
  });

  test("a FIFO link never reorders, even with random latency", () => {
    const { network, received, drain } = setup({ ...fixed, latencyMinUs: 0, latencyTailMeanUs: 5000, latencyMaxUs: 50_000 });
    for (let i = 0; i < 50; i++) network.send(1, 2, i);
    drain();
    assert.deepEqual(
      received.map((r) => r.payload),
      Array.from({ length: 50 }, (_, i) => i),
    );
  });

  test("a reordering link does reorder", () => {
    const { network, received, drain } = setup({ ...fixed, latencyMinUs: 0, latencyTailMeanUs: 5000, latencyMaxUs: 50_000, reorder: true });
    for (let i = 0; i < 50; i++) network.send(1, 2, i);
    drain();
    assert.equal(received.length, 50);
    assert.notDeepEqual(
      received.map((r) => r.payload),
      Array.from({ length: 50 }, (_, i) => i),
    );
  });

  test("a one-way partition drops one direction only, and heals", () => {
    const { network, received, drain } = setup();
    network.setBlocked(1, 2, true);
    network.send(1, 2, 1);
    network.send(2, 1, 2);
    drain();
    assert.deepEqual(
      received.map((r) => r.payload),
      [2],
    );
    network.setBlocked(1, 2, false);
    network.send(1, 2, 3);
    drain();
    assert.deepEqual(
      received.map((r) => r.payload),
      [2, 3],
    );
    assert.equal(network.stats.droppedByPartition, 1);
  });

  test("a partition that starts while a message is in flight drops it", () => {
    const { queue, network, received, drain } = setup();
    network.send(1, 2, 1);
    queue.at(500, () => network.setBlocked(1, 2, true));
    drain();
    assert.equal(received.length, 0);
  });

  test("a clogged link holds its messages, then flushes them in order", () => {
    const { network, received, drain } = setup();
    network.clog(1, 2, 10_000);
    for (let i = 0; i < 5; i++) network.send(1, 2, i);
    network.send(1, 3, 99);
    drain();
    assert.deepEqual(
      received.map((r) => [r.payload, r.at]),
      [[99, 1000], [0, 10_000], [1, 10_000], [2, 10_000], [3, 10_000], [4, 10_000]],
    );
  });

  test("loss and duplication follow their probabilities", () => {
    const { network, received, drain } = setup({ ...fixed, lossProbability: 0.2, duplicateProbability: 0.1 }, 10_000);
    for (let i = 0; i < 2000; i++) network.send(1, 2, i);
    drain();
    assert.ok(network.stats.lost > 300 && network.stats.lost < 500, `lost ${network.stats.lost}`);
    assert.ok(network.stats.duplicated > 100 && network.stats.duplicated < 230, `duplicated ${network.stats.duplicated}`);
    assert.equal(received.length, 2000 - network.stats.lost + network.stats.duplicated);
  });

  test("a link carries a bounded number of messages in flight", () => {
    const { network, received, drain } = setup(fixed, 3);
    for (let i = 0; i < 10; i++) network.send(1, 2, i);
    assert.equal(network.inFlightOn(1, 2), 3);
    drain();
    assert.equal(received.length, 3);
    assert.equal(network.stats.droppedByOverflow, 7);
    assert.equal(network.inFlightOn(1, 2), 0);
  });
});
