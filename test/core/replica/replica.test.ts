// The replica driver's client outcomes and recovery, on the simulator's world (hosts with
// clocks and SimDisks, the simulated network that tests can cut) with node processes built by
// the production factory (src/core/replica/node-process.ts), as in every simulation run.
import { runQueueUntil } from "../../support/simulated-time.ts";
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decodePeerPayload } from "../../../src/core/wire/codec.ts";
import { defaultRaftTuning, nextSnapshotIndex, type CommandOutcome, type ReplicaOptions } from "../../../src/core/replica/replica.ts";
import { encodeKvCommand } from "../../../src/core/replica/kv-state-machine.ts";
import type { NodeResult, NodeStateMachine } from "../../../src/core/replica/node-state-machine.ts";
import { createNodeProcess, type NodeReplica } from "../../../src/core/replica/node-process.ts";
import { defaultRequestPathOptions } from "../../../src/core/replica/request-path.ts";
import type { ConfState, Entry, Message, NodeId } from "../../../src/core/raft/types.ts";
import { RaftStorage } from "../../../src/core/storage/raft-storage.ts";
import { StorageError } from "../../../src/core/storage/storage-error.ts";
import type { EventQueue } from "../../../src/core/sim/event-queue.ts";
import { FAULT_PROFILES } from "../../../src/core/sim/fault-profile.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { World } from "../../../src/core/sim/world.ts";
import { DEFAULT_NETWORK_LIMITS } from "../../../src/core/sim/network.ts";
import { noFailpoints } from "../../../src/core/env/environment.ts";
import { noCoverage } from "../../../src/core/env/coverage-points.ts";

const options: ReplicaOptions = {
  tickMs: 10,
  raft: defaultRaftTuning,
  snapshotEveryEntries: 20,
  maxPendingRequests: 100,
  requestTimeoutMs: 2_000,
};

/** A few node processes on the world's hosts (the "none" profile: healthy sub-millisecond links); tests cut and heal links. */
class MiniCluster {
  readonly world: World;
  readonly queue: EventQueue;
  readonly replicas = new Map<NodeId, NodeReplica>();
  readonly machines = new Map<NodeId, NodeStateMachine>();
  readonly applied = new Map<NodeId, Entry[]>();
  private readonly incarnations = new Map<NodeId, number>();
  /** Every message a replica sent, with the simulated time it left. */
  readonly sent: Array<{ readonly timeUs: number; readonly message: Message }> = [];
  /** Every completed persist: node, completion time, the last entry index it held (0 if none). */
  readonly persisted: Array<{ readonly id: NodeId; readonly timeUs: number; readonly lastIndex: number }> = [];

  constructor(readonly ids: readonly NodeId[]) {
    this.world = new World(
      {
        seed: seedFromNumber(7),
        hostCount: ids.length,
        clientCount: 0,
        profile: FAULT_PROFILES.none!,
        eventQueueMax: 1_000_000,
        networkLimits: DEFAULT_NETWORK_LIMITS,
        timersPerHostMax: 10_000,
        failpointFor: () => noFailpoints,
        reached: noCoverage,
        cpuEventUs: 0,
        mayCorrupt: () => false,
        traceLines: undefined,
      },
      {
        stopped: () => false,
        // Node code that throws fails the test at once, with its own error.
        threw: (_host, error) => {
          throw error;
        },
        afterStep: () => {},
        // Decoded here so tests can look at the messages.
        raftSent: (_host, _to, bytes) => {
          const decoded = decodePeerPayload(bytes);
          assert.ok(decoded.ok && decoded.payload.kind === "message");
          this.sent.push({ timeUs: this.queue.timeUs, message: decoded.payload.message });
        },
      },
    );
    this.queue = this.world.queue;
    assert.deepEqual([...this.world.hostIds], [...ids], "ids are 1..N");
    for (const id of ids) this.start(id);
  }

  start(id: NodeId): void {
    const host = this.world.host(id);
    const number = (this.incarnations.get(id) ?? 0) + 1;
    this.incarnations.set(id, number);
    const process = this.world.startProcess(host, number);
    const bootstrap: ConfState = { voters: [...this.ids], learners: [] };
    let storage: RaftStorage | undefined;
    RaftStorage.open(host.disk, { nodeId: id, clusterId: "test" }, bootstrap, {}, (result) => {
      assert.ok(!(result instanceof StorageError), String(result));
      storage = result;
    });
    this.runUntil(() => storage !== undefined, 1_000);
    const persist = storage!.persist.bind(storage);
    storage!.persist = (batch, mustSync, done) => {
      persist(batch, mustSync, (error) => {
        this.persisted.push({ id, timeUs: this.queue.timeUs, lastIndex: batch.entries.at(-1)?.index ?? 0 });
        done(error);
      });
    };
    const applied: Entry[] = [];
    const { replica, machine } = createNodeProcess(process.env, storage!, { ...options, observer: { applied: (entry) => applied.push(entry) } }, defaultRequestPathOptions);
    this.replicas.set(id, replica);
    this.machines.set(id, machine);
    this.applied.set(id, applied);
    replica.start();
  }

  crash(id: NodeId): void {
    const host = this.world.host(id);
    this.replicas.get(id)!.stop();
    this.world.endProcess(host);
    host.disk.crash();
  }

  /** Cuts every link to and from the node (what is in flight is dropped when it arrives). */
  isolate(id: NodeId): void {
    for (const other of this.ids) {
      if (other === id) continue;
      this.world.network.setBlocked(id, other, true);
      this.world.network.setBlocked(other, id, true);
    }
  }

  heal(): void {
    this.world.network.healAll();
  }

  runUntil(condition: () => boolean, budgetMs: number): void {
    runQueueUntil(this.queue, condition, budgetMs);
  }

  leader(among: readonly NodeId[] = this.ids): NodeId | undefined {
    return among.find((id) => {
      const replica = this.replicas.get(id)!;
      return !replica.isStopped && replica.status().raft.role === "leader";
    });
  }

  submit(id: NodeId, key: string, value: string): () => CommandOutcome<NodeResult> | undefined {
    let outcome: CommandOutcome<NodeResult> | undefined;
    this.replicas.get(id)!.submit(encodeKvCommand({ op: "put", key, value }), (o) => (outcome = o));
    return () => outcome;
  }
}

describe("replica driver", () => {
  test("a single-node cluster applies commands, serves linearizable reads, snapshots, and recovers from its disk", () => {
    const cluster = new MiniCluster([1]);
    cluster.runUntil(() => cluster.leader() === 1, 5_000);
    const outcomes = Array.from({ length: 45 }, (_, i) => cluster.submit(1, `k${i % 5}`, `v${i}`));
    cluster.runUntil(() => outcomes.every((o) => o() !== undefined), 5_000);
    for (const o of outcomes) assert.equal(o()!.status, "ok");
    let read: string | undefined;
    cluster.replicas.get(1)!.read({ key: "k4" }, (o) => {
      assert.equal(o.status, "ok");
      if (o.status === "ok" && typeof o.result === "string") read = o.result;
    });
    cluster.runUntil(() => read !== undefined, 5_000);
    assert.equal(read, "v44");
    assert.ok(cluster.replicas.get(1)!.status().raft.snapshotIndex >= 20, "a snapshot was taken after 20 entries");

    cluster.crash(1);
    cluster.start(1);
    cluster.runUntil(() => cluster.leader() === 1, 5_000);
    const machine = cluster.machines.get(1)!;
    cluster.runUntil(() => machine.query({ key: "k4" }) === "v44", 5_000);
    for (let k = 0; k < 5; k++) assert.equal(machine.query({ key: `k${k}` }), `v${40 + k}`);
  });

  test("a follower refuses a command and names the leader", () => {
    const cluster = new MiniCluster([1, 2, 3]);
    cluster.runUntil(() => cluster.leader() !== undefined, 5_000);
    const leader = cluster.leader()!;
    const follower = cluster.ids.find((id) => id !== leader)!;
    cluster.runUntil(() => cluster.replicas.get(follower)!.status().raft.leaderId === leader, 5_000);
    const outcome = cluster.submit(follower, "a", "b")();
    assert.deepEqual(outcome, { status: "rejected", refusal: { code: "not-leader", leaderId: leader } });
  });

  test("a command whose log slot is taken by a newer leader is reported as certainly not applied", () => {
    const cluster = new MiniCluster([1, 2, 3]);
    cluster.runUntil(() => cluster.leader() !== undefined, 5_000);
    const oldLeader = cluster.leader()!;
    cluster.isolate(oldLeader);
    const stranded = cluster.submit(oldLeader, "x", "from-old-leader");
    const others = cluster.ids.filter((id) => id !== oldLeader);
    cluster.runUntil(() => cluster.leader(others) !== undefined, 10_000);
    const newLeader = cluster.leader(others)!;
    const fresh = Array.from({ length: 3 }, (_, i) => cluster.submit(newLeader, "x", `new-${i}`));
    cluster.runUntil(() => fresh.every((o) => o()?.status === "ok"), 5_000);
    assert.equal(stranded(), undefined, "the stranded command waits while its fate is unknown");
    cluster.heal();
    cluster.runUntil(() => stranded() !== undefined, 5_000);
    assert.equal(stranded()!.status, "rejected");
    assert.equal(cluster.machines.get(oldLeader)!.query({ key: "x" }), "new-2");
  });

  test("status counters: proposals accepted and refused, campaigns, elections won, leader changes (what /metrics reads)", () => {
    const cluster = new MiniCluster([1, 2, 3]);
    cluster.runUntil(() => cluster.leader() !== undefined, 5_000);
    const first = cluster.leader()!;
    const [a, b] = cluster.ids.filter((id) => id !== first) as [NodeId, NodeId];
    cluster.runUntil(() => [a, b].every((id) => cluster.replicas.get(id)!.status().raft.leaderId === first), 5_000);
    const counters = (id: NodeId) => cluster.replicas.get(id)!.status().counters;
    assert.deepEqual({ won: counters(first).electionsWon, changes: counters(first).leaderChanges }, { won: 1, changes: 1 });
    assert.ok(counters(first).campaigns >= 1);
    const proposalsBefore = counters(first).proposals;
    const puts = Array.from({ length: 3 }, (_, i) => cluster.submit(first, "k", `v${i}`));
    cluster.runUntil(() => puts.every((o) => o()?.status === "ok"), 5_000);
    assert.equal(counters(first).proposals, proposalsBefore + 3);
    assert.equal(cluster.submit(a, "k", "refused")()?.status, "rejected");
    assert.equal(counters(a).proposalsRejected, 1);
    assert.equal(counters(a).proposals, 0);
    // The leader is cut off: one of the others wins, and both see the leader change.
    cluster.isolate(first);
    cluster.runUntil(() => cluster.leader([a, b]) !== undefined, 10_000);
    const second = cluster.leader([a, b])!;
    const other = second === a ? b : a;
    cluster.runUntil(() => cluster.replicas.get(other)!.status().raft.leaderId === second, 5_000);
    assert.equal(counters(second).electionsWon, 1);
    assert.ok(counters(second).campaigns >= 1);
    assert.equal(counters(second).leaderChanges, 2);
    assert.equal(counters(other).leaderChanges, 2);
    assert.equal(counters(other).electionsWon, 0);
  });

  test("stopping a replica answers its waiting commands with unknown", () => {
    const cluster = new MiniCluster([1, 2, 3]);
    cluster.runUntil(() => cluster.leader() !== undefined, 5_000);
    const leader = cluster.leader()!;
    cluster.isolate(leader);
    const waiting = cluster.submit(leader, "y", "1");
    cluster.replicas.get(leader)!.stop();
    assert.deepEqual(waiting(), { status: "unknown", reason: "stopped" });
  });

  test("requests past their deadline time out exactly requestTimeoutMs of the node's clock after they were made", () => {
    const cluster = new MiniCluster([1, 2, 3]);
    cluster.runUntil(() => cluster.leader() !== undefined, 5_000);
    const leader = cluster.leader()!;
    const replica = cluster.replicas.get(leader)!;
    const clock = cluster.world.host(leader).clock;
    cluster.isolate(leader);
    // Each request's own timer used to fire trueDelayUs(requestTimeoutMs) after it was made; the sweep answers at the same microsecond.
    const expected: number[] = [];
    const answered: Array<{ readonly timeUs: number; readonly outcome: unknown }> = [];
    const record = (outcome: unknown): void => void answered.push({ timeUs: cluster.queue.timeUs, outcome });
    const startedUs = cluster.queue.timeUs;
    // Within the isolated leader's last election timeout (it steps down then, and refuses new requests at once).
    for (const atMs of [0, 0, 3, 20, 20]) {
      cluster.runUntil(() => cluster.queue.timeUs >= startedUs + atMs * 1000, 5_000);
      expected.push(cluster.queue.timeUs + clock.trueDelayUs(options.requestTimeoutMs));
      if (expected.length % 2 === 0) replica.read({ key: "k" }, record);
      else replica.submit(encodeKvCommand({ op: "put", key: "k", value: `v${expected.length}` }), record);
    }
    cluster.runUntil(() => answered.length === expected.length, 5_000);
    assert.deepEqual(
      answered.map((a) => a.timeUs),
      expected,
    );
    answered.forEach((a, i) =>
      assert.deepEqual(a.outcome, i % 2 === 0 ? { status: "unknown", reason: "timeout" } : { status: "rejected", refusal: { code: "timeout" } }),
    );
  });

  test("a request answered before its deadline leaves no timer event behind", () => {
    const cluster = new MiniCluster([1]);
    cluster.runUntil(() => cluster.leader() === 1, 5_000);
    const replica = cluster.replicas.get(1)!;
    const first = cluster.submit(1, "a", "0");
    cluster.runUntil(() => first() !== undefined, 5_000);
    // The sweep's one timer is armed now; the queue holds the tick and that timer (and whatever else is steady).
    const queuedBefore = cluster.queue.size;
    const outcomes = Array.from({ length: 20 }, (_, i) => cluster.submit(1, "a", `v${i}`));
    let read: unknown;
    replica.read({ key: "a" }, (o) => (read = o));
    cluster.runUntil(() => outcomes.every((o) => o() !== undefined) && read !== undefined, 5_000);
    for (const o of outcomes) assert.equal(o()!.status, "ok");
    // The old driver left one cancelled timer per request in the queue (+21); a steady timer or disk event may differ by one or two.
    assert.ok(cluster.queue.size <= queuedBefore + 2, `${cluster.queue.size - queuedBefore} more queued events after 21 requests answered in time`);
  });

  test("a leader's append leaves before its own fsync completes; acknowledgements only after the follower's", () => {
    const cluster = new MiniCluster([1, 2, 3]);
    cluster.runUntil(() => cluster.leader() !== undefined, 5_000);
    const leader = cluster.leader()!;
    // A first write brings both followers to replicate state (a new leader probes them first).
    const warmUp = cluster.submit(leader, "k", "warm-up");
    cluster.runUntil(() => warmUp() !== undefined, 5_000);
    cluster.runUntil(() => cluster.ids.every((id) => cluster.replicas.get(id)!.status().raft.applied >= (warmUp() as { index: number }).index), 5_000);
    const outcome = cluster.submit(leader, "k", "v");
    cluster.runUntil(() => outcome() !== undefined, 5_000);
    assert.equal(outcome()!.status, "ok");
    const index = (outcome() as { index: number }).index;
    const durableAt = (id: NodeId) => cluster.persisted.find((p) => p.id === id && p.lastIndex >= index)!.timeUs;
    const appends = cluster.sent.filter(({ message: m }) => m.type === "append" && m.entries.some((e) => e.index === index));
    assert.equal(appends.length, 2);
    for (const { timeUs } of appends) assert.ok(timeUs < durableAt(leader), "the append left while the leader's fsync ran");
    const acks = cluster.sent.filter(({ message: m }) => m.type === "append-response" && m.success && m.index >= index);
    assert.ok(acks.length >= 1);
    for (const { timeUs, message } of acks) assert.ok(timeUs >= durableAt(message.from), "an acknowledgement waits for its fsync");
  });

  test("all replicas apply the same entries in the same order", () => {
    const cluster = new MiniCluster([1, 2, 3]);
    cluster.runUntil(() => cluster.leader() !== undefined, 5_000);
    const leader = cluster.leader()!;
    const outcomes = Array.from({ length: 30 }, (_, i) => cluster.submit(leader, `k${i % 3}`, `v${i}`));
    cluster.runUntil(() => outcomes.every((o) => o() !== undefined), 5_000);
    const lastIndex = Math.max(...outcomes.map((o) => (o()!.status === "ok" ? (o() as { index: number }).index : 0)));
    cluster.runUntil(() => cluster.ids.every((id) => cluster.replicas.get(id)!.status().raft.applied >= lastIndex), 5_000);
    const digest = (id: NodeId) => cluster.machines.get(id)!.snapshot().join(",");
    assert.equal(digest(1), digest(2));
    assert.equal(digest(2), digest(3));
  });

  test("the nodes of a cluster snapshot at different entries: each on its own grid, every snapshotEveryEntries", () => {
    const cluster = new MiniCluster([1, 2, 3]);
    cluster.runUntil(() => cluster.leader() !== undefined, 5_000);
    const leader = cluster.leader()!;
    // One write at a time, so the applied index passes every index and a snapshot lands exactly on its grid.
    for (let i = 0; i < 45; i++) {
      const outcome = cluster.submit(leader, `k${i % 3}`, `v${i}`);
      cluster.runUntil(() => outcome() !== undefined, 5_000);
      assert.equal(outcome()!.status, "ok");
    }
    cluster.runUntil(() => cluster.ids.every((id) => cluster.replicas.get(id)!.status().raft.snapshotIndex > 0), 5_000);
    const taken = cluster.ids.map((id) => cluster.replicas.get(id)!.status().raft.snapshotIndex);
    assert.equal(new Set(taken).size, 3, `snapshot indexes ${taken.join(", ")}`);
    for (const [i, id] of cluster.ids.entries()) {
      assert.ok(taken[i]! >= options.snapshotEveryEntries, `node ${id} snapshotted at ${taken[i]}, before ${options.snapshotEveryEntries} entries`);
      assert.equal(taken[i]! % options.snapshotEveryEntries, nextSnapshotIndex(0, id, options.snapshotEveryEntries) % options.snapshotEveryEntries, `node ${id} snapshots on its grid`);
    }
  });
});

describe("the snapshot grid (nextSnapshotIndex)", () => {
  test("at least every entries past the last snapshot, under twice that, on the node's grid; node 1's is every multiple of every", () => {
    fc.assert(
      fc.property(fc.nat(1_000_000), fc.integer({ min: 1, max: 1_000 }), fc.integer({ min: 1, max: 100_000 }), (snapshotIndex, nodeId, every) => {
        const next = nextSnapshotIndex(snapshotIndex, nodeId, every);
        if (next < snapshotIndex + every || next >= snapshotIndex + 2 * every) return false;
        // On the grid: the next one after it is exactly every later.
        if (nextSnapshotIndex(next, nodeId, every) !== next + every) return false;
        return nodeId !== 1 || next % every === 0;
      }),
      { numRuns: 2_000 },
    );
  });

  test("three nodes at the default interval sit at least a fifth of an interval apart", () => {
    const every = 10_000;
    const phases = [1, 2, 3].map((id) => nextSnapshotIndex(0, id, every) % every).sort((a, b) => a - b);
    assert.deepEqual(phases, [0, 2_360, 6_180]);
    const gaps = [phases[1]! - phases[0]!, phases[2]! - phases[1]!, every + phases[0]! - phases[2]!];
    assert.ok(Math.min(...gaps) >= every / 5, `gaps ${gaps.join(", ")}`);
  });
});
