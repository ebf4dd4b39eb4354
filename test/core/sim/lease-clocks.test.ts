// Lease decisions depend on the clocks the simulator models (src/core/sim/sim-clock.ts): the
// same scenario, three replicas with lease reads on, with the leader's monotonic clock at drift
// 0 or at the bound, with wall-clock offsets and jumps, changes whether a read is answered from
// the lease or needs a ReadIndex round. With correct code only the monotonic clock's drift
// matters; the planted bug lease-from-wall-clock makes a wall-clock jump matter too.
import { runQueueUntil } from "../../support/simulated-time.ts";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Environment } from "../../../src/core/env/environment.ts";
import { noCoverage } from "../../../src/core/env/coverage-points.ts";
import { noFailpoints, silentLogger } from "../../../src/core/env/environment.ts";
import { holderDurationUs } from "../../../src/core/lease/lease.ts";
import { decodePeerPayload } from "../../../src/core/wire/codec.ts";
import { Replica, defaultRaftTuning, leaderLeasePromiseUs, type ReplicaOptions } from "../../../src/core/replica/replica.ts";
import { KvStateMachine, encodeKvCommand, type KvQuery, type KvResult } from "../../../src/core/replica/kv-state-machine.ts";
import type { ConfState, Message, NodeId, PlantedBug } from "../../../src/core/raft/types.ts";
import { RaftStorage } from "../../../src/core/storage/raft-storage.ts";
import { StorageError } from "../../../src/core/storage/storage-error.ts";
import { EventQueue } from "../../../src/core/sim/event-queue.ts";
import { Prng } from "../../../src/core/sim/prng.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { SimClock, SimTimers } from "../../../src/core/sim/sim-clock.ts";
import { SimDisk } from "../../../src/core/sim/sim-disk.ts";

type NodeReplica = Replica<KvResult, KvQuery, string>;

const options: ReplicaOptions = {
  tickMs: 10,
  raft: { ...defaultRaftTuning, electionTicks: 10, heartbeatTicks: 2 },
  snapshotEveryEntries: 1_000,
  maxPendingRequests: 100,
  requestTimeoutMs: 2_000,
  readMode: "lease",
};
/** 9 ticks of 10 ms: what each voter promises; the leader holds 9 * 0.9 / 1.1 of it on its own clock. */
const promiseUs = leaderLeasePromiseUs(options);
const leaseUs = holderDurationUs(promiseUs);

/** Three replicas on one event queue; the network delivers after 1 ms. Every clock has the same drift and offset. */
class LeaseCluster {
  readonly queue = new EventQueue(1_000_000);
  readonly replicas = new Map<NodeId, NodeReplica>();
  readonly clocks = new Map<NodeId, SimClock>();

  constructor(driftPpm: number, offsetUs: number, plantedBugs: ReadonlySet<PlantedBug> = new Set()) {
    const seed = seedFromNumber(3);
    const ids = [1, 2, 3];
    for (const id of ids) {
      const clock = new SimClock(this.queue, offsetUs, driftPpm);
      this.clocks.set(id, clock);
      const timers = new SimTimers(this.queue, clock, (callback) => callback(), 10_000);
      const disk = new SimDisk({ random: Prng.stream(seed, `disk-${id}`), schedule: (ms, cb) => this.queue.after(Math.round(ms * 1000), cb) });
      const env: Environment = {
        nodeId: id,
        monotonic: clock,
        wall: clock,
        timers,
        random: Prng.stream(seed, `raft-${id}`),
        disk,
        transport: {
          send: (_channel, _to, bytes) => {
            const decoded = decodePeerPayload(bytes);
            assert.ok(decoded.ok && decoded.payload.kind === "message");
            this.deliver(decoded.payload.message);
            return true;
          },
          receive: () => {},
        },
        log: silentLogger,
        failpoint: noFailpoints,
        reached: noCoverage,
      };
      const bootstrap: ConfState = { voters: ids, learners: [] };
      let storage: RaftStorage | undefined;
      RaftStorage.open(disk, { nodeId: id, clusterId: "lease" }, bootstrap, {}, (result) => {
        assert.ok(!(result instanceof StorageError), String(result));
        storage = result;
      });
      this.runUntil(() => storage !== undefined, 1_000);
      const replica = new Replica(env, storage!, new KvStateMachine(), { ...options, plantedBugs });
      this.replicas.set(id, replica);
      replica.start();
    }
  }

  private deliver(message: Message): void {
    this.queue.after(1_000, () => this.replicas.get(message.to)!.receive(message));
  }

  runUntil(condition: () => boolean, budgetMs: number): void {
    runQueueUntil(this.queue, condition, budgetMs);
  }

  /** Runs every event up to true time `timeUs`, and stops there (an empty event marks it). */
  runTo(timeUs: number): void {
    let reached = false;
    this.queue.at(timeUs, () => (reached = true));
    this.runUntil(() => reached, 10_000);
    assert.equal(this.queue.timeUs, timeUs);
  }

  leader(): NodeId {
    let leader: NodeId | undefined;
    this.runUntil(() => (leader = [...this.replicas.keys()].find((id) => this.replicas.get(id)!.status().raft.role === "leader")) !== undefined, 5_000);
    return leader!;
  }

  /** A read at `id`; returns whether it was answered from the lease (without a round) and its value once answered. */
  read(id: NodeId, key: string): { fromLease: boolean; value: () => string | undefined } {
    const replica = this.replicas.get(id)!;
    const before = replica.status().leaseReads;
    let value: string | undefined;
    replica.read({ key }, (outcome) => {
      assert.equal(outcome.status, "ok");
      if (outcome.status === "ok") value = outcome.result;
    });
    return { fromLease: replica.status().leaseReads > before, value: () => value };
  }

  write(id: NodeId, key: string, value: string): void {
    let done = false;
    this.replicas.get(id)!.submit(encodeKvCommand({ op: "put", key, value }), (outcome) => {
      assert.equal(outcome.status, "ok");
      done = true;
    });
    this.runUntil(() => done, 1_000);
  }
}

/**
 * The scenario: a leader, a write, a read that needs a ReadIndex round (it grants the lease at
 * true time t), then a read at t + `afterUs` (true time). Returns whether that read used the lease.
 */
function readAfter(cluster: LeaseCluster, afterUs: number, beforeSecondRead?: (leader: NodeId) => void): boolean {
  const leader = cluster.leader();
  cluster.write(leader, "k", "v1");
  const startUs = cluster.queue.timeUs;
  const first = cluster.read(leader, "k");
  assert.equal(first.fromLease, false, "no lease yet: the first read runs a round");
  cluster.runUntil(() => first.value() !== undefined, 1_000);
  assert.equal(first.value(), "v1");
  beforeSecondRead?.(leader);
  cluster.runTo(startUs + afterUs);
  const second = cluster.read(leader, "k");
  cluster.runUntil(() => second.value() !== undefined, 1_000);
  assert.equal(second.value(), "v1");
  return second.fromLease;
}

describe("lease decisions depend on the modelled clocks", () => {
  test("the lease is the voters' promise shrunk by the drift bound", () => {
    assert.equal(promiseUs, 90_000);
    assert.equal(leaseUs, 73_635);
  });

  test("drift: whether a read at a given true time is answered from the lease depends on the leader's drift", () => {
    // 73.6 ms of the leader's clock last 73.6 ms of true time at drift 0, 81.8 ms at -10%, 66.9 ms at +10%.
    assert.equal(readAfter(new LeaseCluster(0, 0), 78_000), false, "drift 0: the lease ended");
    assert.equal(readAfter(new LeaseCluster(-100_000, 0), 78_000), true, "drift -10%: the same true time is still inside the lease on the slow clock");
    assert.equal(readAfter(new LeaseCluster(0, 0), 70_000), true, "drift 0: still inside");
    assert.equal(readAfter(new LeaseCluster(100_000, 0), 70_000), false, "drift +10%: the same true time is past the lease on the fast clock");
  });

  test("wall clock: offsets and jumps change nothing for correct code; a lease measured on the wall clock follows a backward jump", () => {
    const jumpBack = (cluster: LeaseCluster) => (leader: NodeId) => cluster.clocks.get(leader)!.jump(-1_000_000);
    const plain = new LeaseCluster(0, 0);
    assert.equal(readAfter(plain, 500_000), false);
    const offsetAndJump = new LeaseCluster(0, 5_000_000_000);
    assert.equal(readAfter(offsetAndJump, 500_000, jumpBack(offsetAndJump)), false, "correct code: the lease ends on the monotonic clock");
    const wallBug = new LeaseCluster(0, 5_000_000_000, new Set(["lease-from-wall-clock"]));
    assert.equal(readAfter(wallBug, 500_000, jumpBack(wallBug)), true, "planted bug: 0.5 s after its round, a lease measured on the wall clock still holds");
  });

  test("a leader that starts a leader transfer answers no read from its lease for the rest of its term", () => {
    const cluster = new LeaseCluster(0, 0);
    const leader = cluster.leader();
    cluster.write(leader, "k", "v1");
    const first = cluster.read(leader, "k");
    cluster.runUntil(() => first.value() !== undefined, 1_000);
    assert.equal(cluster.read(leader, "k").fromLease, true);
    const target = [1, 2, 3].find((id) => id !== leader)!;
    cluster.replicas.get(leader)!.transferLeadership(target, () => {});
    // Whether or not the transfer completed, the old leader never answers from its lease again in this term.
    const after = cluster.read(leader, "k");
    assert.equal(after.fromLease, false);
  });
});
