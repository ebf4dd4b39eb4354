import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { EventQueue } from "../../../src/core/sim/event-queue.ts";
import { DEFAULT_NETWORK_LIMITS, SimNetwork, transmissionUs, type LinkProfile, type NetworkLimits } from "../../../src/core/sim/network.ts";
import { wireSizeBytes } from "../../../src/core/wire/channel-frame.ts";
import { FAULT_PROFILES } from "../../../src/core/sim/fault-profile.ts";
import { runSimulation, simReplicaOptions } from "../../../src/core/sim/simulation.ts";
import { Prng } from "../../../src/core/sim/prng.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";

const fixed: LinkProfile = { latencyMinUs: 1000, latencyTailMeanUs: 0, latencyMaxUs: 1000, lossProbability: 0, duplicateProbability: 0, reorder: false };

/** Payloads are numbers; a payload's channel bytes are `sizes.get(payload)`, else 10. */
function setup(link: LinkProfile = fixed, maxInFlight = 100, limits: Partial<NetworkLimits> = {}, sizes = new Map<number, number>()) {
  const queue = new EventQueue(10_000);
  const received: Array<{ from: number; to: number; payload: number; at: number }> = [];
  const network = new SimNetwork<number>(
    queue,
    Prng.stream(seedFromNumber(1), "network"),
    3,
    link,
    { ...DEFAULT_NETWORK_LIMITS, perLinkQueue: { messagesMax: maxInFlight, bytesMax: 1 << 30 }, ...limits },
    (from, to, payload) => received.push({ from, to, payload, at: queue.timeUs }),
    (payload) => sizes.get(payload) ?? 10,
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

  test("a link carries a bounded number of messages in flight; send says which never left", () => {
    const { network, received, drain } = setup(fixed, 3);
    const results: boolean[] = [];
    for (let i = 0; i < 10; i++) results.push(network.send(1, 2, i));
    assert.deepEqual(results, [true, true, true, false, false, false, false, false, false, false]);
    assert.equal(network.inFlightOn(1, 2), 3);
    drain();
    assert.equal(received.length, 3);
    assert.equal(network.stats.droppedByOverflow, 7);
    assert.equal(network.inFlightOn(1, 2), 0);
  });
});

describe("simulated network: sizes, limits and bandwidth", () => {
  const GIGABIT = 125_000_000;

  test("a message above the frame limit is not sent: send returns false and it is counted", () => {
    const sizes = new Map([[1, 2_000], [2, 1_000]]);
    const { network, received, drain } = setup(fixed, 100, { maxFrameBytes: 1_000 }, sizes);
    assert.equal(network.send(1, 2, 1), false);
    assert.equal(network.send(1, 2, 2), true, "exactly the limit is allowed");
    drain();
    assert.deepEqual(received.map((r) => r.payload), [2]);
    assert.equal(network.stats.droppedByFrameLimit, 1);
    assert.equal(network.stats.bytesSent, wireSizeBytes(1_000));
  });

  test("the per-link queue bound counts wire bytes too", () => {
    const sizes = new Map([[1, 600], [2, 600], [3, 100]]);
    const { network, received, drain } = setup(fixed, 100, { perLinkQueue: { messagesMax: 100, bytesMax: 1_000 } }, sizes);
    assert.equal(network.send(1, 2, 1), true);
    assert.equal(network.send(1, 2, 2), false, "609 + 609 wire bytes exceed 1000");
    assert.equal(network.send(1, 2, 3), true, "609 + 109 fit");
    assert.equal(network.send(1, 3, 2), true, "another link has its own bound");
    assert.equal(network.bytesInFlightOn(1, 2), wireSizeBytes(600) + wireSizeBytes(100));
    drain();
    assert.equal(network.bytesInFlightOn(1, 2), 0);
    assert.equal(network.inFlightOn(1, 2), 0);
    assert.deepEqual(received.map((r) => r.payload).sort(), [1, 2, 3]);
    assert.equal(network.stats.droppedByOverflow, 1);
  });

  test("a large message takes size / bandwidth longer, and what follows it on the link waits behind it", () => {
    const big = 10 * 1024 * 1024;
    const sizes = new Map([[1, big]]);
    const { network, received, drain } = setup({ ...fixed, bandwidthBytesPerSecond: GIGABIT }, 100, {}, sizes);
    network.send(1, 2, 1);
    network.send(1, 2, 2);
    network.send(1, 3, 3);
    drain();
    const bigUs = transmissionUs(wireSizeBytes(big), GIGABIT);
    assert.ok(bigUs > 80_000 && bigUs < 90_000, `10 MiB at 1 Gbit/s takes ${bigUs} us`);
    const at = new Map(received.map((r) => [r.payload, r.at]));
    assert.equal(at.get(1), 1000 + bigUs);
    // 19 wire bytes take 0 whole microseconds at 1 Gbit/s: the small one arrives right after the big one is out.
    assert.equal(at.get(2), 1000 + bigUs);
    assert.equal(at.get(3), 1000, "another link is not held up");
    assert.equal(network.stats.bytesSent, wireSizeBytes(big) + 2 * wireSizeBytes(10));
    assert.equal(network.stats.bytesDelivered, network.stats.bytesSent);
  });

  test("a slow link makes even small messages take their serialization time, one after another", () => {
    const { network, received, drain } = setup({ ...fixed, bandwidthBytesPerSecond: 19_000 }, 100);
    for (let i = 0; i < 3; i++) network.send(1, 2, i);
    drain();
    // 19 wire bytes at 19 000 B/s: 1000 us each, sent back to back, then 1000 us of latency.
    assert.deepEqual(received.map((r) => r.at), [2000, 3000, 4000]);
  });

  test("without a bandwidth in the profile a link runs at 1 Gbit/s", () => {
    const sizes = new Map([[1, 1_250_000]]);
    const { network, received, drain } = setup(fixed, 100, {}, sizes);
    network.send(1, 2, 1);
    drain();
    assert.equal(received[0]!.at, 1000 + transmissionUs(wireSizeBytes(1_250_000), GIGABIT));
    assert.equal(received[0]!.at, 1000 + 10_000);
  });

  test("a link's bandwidth below the minimum is refused", () => {
    const { network } = setup();
    assert.throws(() => network.setLink(1, 2, { ...fixed, bandwidthBytesPerSecond: 10 }), /bandwidth/);
  });
});

describe("simulated network in whole runs", () => {
  test("every message's wire size is counted: bytes sent and delivered", () => {
    const result = runSimulation({ seed: seedFromNumber(2), nodeCount: 3, durationMs: 5_000, profile: FAULT_PROFILES.none! });
    assert.equal(result.failure, undefined);
    assert.ok(result.network.bytesSent > result.network.sent * wireSizeBytes(0), "every message costs at least its frame header and tag");
    assert.equal(result.network.bytesDelivered, result.network.bytesSent, "a healthy network delivers every byte");
  });

  test("the frame limit applies in simulation: oversized raft messages never leave, and the cluster stays safe", () => {
    // 40 bytes: votes and heartbeats fit, an append of a few entries does not.
    const result = runSimulation({
      seed: seedFromNumber(3),
      nodeCount: 3,
      durationMs: 5_000,
      profile: FAULT_PROFILES.standard!,
      limits: { maxFrameBytes: 40 },
      replica: { raft: { ...simReplicaOptions.raft, maxMessageBytes: 4_096 } },
    });
    assert.equal(result.failure, undefined, `${result.failure?.property}: ${result.failure?.message}`);
    assert.ok(result.network.droppedByFrameLimit > 0, "no message hit the frame limit");
    assert.ok(result.network.delivered > 0, "small messages still flow");
  });
});
