// The replica driver's client outcomes and recovery, on the simulator's parts
// (event queue, clocks, SimDisk) with a hand-driven network that tests can cut.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Environment } from "../../../src/core/env/environment.ts";
import { noFailpoints, silentLogger } from "../../../src/core/env/environment.ts";
import { decodePeerPayload } from "../../../src/core/wire/codec.ts";
import { Replica, defaultRaftTuning, type CommandOutcome, type ReplicaOptions } from "../../../src/core/replica/replica.ts";
import { KvStateMachine, encodeKvCommand, type KvQuery, type KvResult } from "../../../src/core/replica/kv-state-machine.ts";
import type { ConfState, Entry, Message, NodeId } from "../../../src/core/raft/types.ts";
import { RaftStorage } from "../../../src/core/storage/raft-storage.ts";
import { StorageError } from "../../../src/core/storage/storage-error.ts";
import { EventQueue } from "../../../src/core/sim/event-queue.ts";
import { Prng } from "../../../src/core/sim/prng.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { SimClock, SimTimers } from "../../../src/core/sim/sim-clock.ts";
import { SimDisk } from "../../../src/core/sim/sim-disk.ts";

type KvReplica = Replica<KvResult, KvQuery, string>;

const options: ReplicaOptions = {
  tickMs: 10,
  raft: defaultRaftTuning,
  snapshotEveryEntries: 20,
  maxPendingRequests: 100,
  requestTimeoutMs: 2_000,
};

/** A few replicas over SimDisks; the network delivers after 1 ms unless a link is cut. */
class MiniCluster {
  readonly queue = new EventQueue(1_000_000);
  readonly disks = new Map<NodeId, SimDisk>();
  readonly replicas = new Map<NodeId, KvReplica>();
  readonly machines = new Map<NodeId, KvStateMachine>();
  readonly applied = new Map<NodeId, Entry[]>();
  private readonly timers = new Map<NodeId, SimTimers>();
  private readonly cut = new Set<NodeId>();
  private readonly seed = seedFromNumber(7);
  /** Every message a replica sent, with the simulated time it left. */
  readonly sent: Array<{ readonly timeUs: number; readonly message: Message }> = [];
  /** Every completed persist: node, completion time, the last entry index it held (0 if none). */
  readonly persisted: Array<{ readonly id: NodeId; readonly timeUs: number; readonly lastIndex: number }> = [];

  constructor(readonly ids: readonly NodeId[]) {
    for (const id of ids) {
      this.disks.set(id, new SimDisk({ random: Prng.stream(this.seed, `disk-${id}`), schedule: (ms, cb) => this.queue.after(Math.round(ms * 1000), cb) }));
      this.start(id);
    }
  }

  start(id: NodeId): void {
    const clock = new SimClock(this.queue, 0, 0);
    const timers = new SimTimers(this.queue, clock, (callback) => callback(), 10_000);
    this.timers.set(id, timers);
    const env: Environment = {
      nodeId: id,
      monotonic: clock,
      wall: clock,
      timers,
      random: Prng.stream(this.seed, `raft-${id}-${this.queue.timeUs}`),
      disk: this.disks.get(id)!,
      // Raft bytes on the transport, decoded here so tests can look at (and cut) messages.
      transport: {
        send: (channel, _to, bytes) => {
          assert.equal(channel, "raft");
          const decoded = decodePeerPayload(bytes);
          assert.ok(decoded.ok && decoded.payload.kind === "message");
          this.deliver(decoded.payload.message);
          return true;
        },
        receive: () => {},
      },
      log: silentLogger,
      failpoint: noFailpoints,
    };
    const bootstrap: ConfState = { voters: [...this.ids], learners: [] };
    let storage: RaftStorage | undefined;
    RaftStorage.open(env.disk, { nodeId: id, clusterId: "test" }, bootstrap, {}, (result) => {
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
    const machine = new KvStateMachine();
    const applied: Entry[] = [];
    const replica = new Replica(env, storage!, machine, { ...options, observer: { applied: (entry) => applied.push(entry) } });
    this.replicas.set(id, replica);
    this.machines.set(id, machine);
    this.applied.set(id, applied);
    replica.start();
  }

  crash(id: NodeId): void {
    this.replicas.get(id)!.stop();
    this.timers.get(id)!.shutdown();
    this.disks.get(id)!.crash();
  }

  isolate(id: NodeId): void {
    this.cut.add(id);
  }

  heal(): void {
    this.cut.clear();
  }

  private deliver(message: Message): void {
    this.sent.push({ timeUs: this.queue.timeUs, message });
    if (this.cut.has(message.from) || this.cut.has(message.to)) return;
    this.queue.after(1_000, () => {
      if (this.cut.has(message.from) || this.cut.has(message.to)) return;
      this.replicas.get(message.to)?.receive(message);
    });
  }

  runUntil(condition: () => boolean, budgetMs: number): void {
    const deadlineUs = this.queue.timeUs + budgetMs * 1000;
    while (!condition()) {
      const next = this.queue.peekTimeUs();
      assert.ok(next !== undefined && next <= deadlineUs, `condition not reached within ${budgetMs} ms of simulated time`);
      this.queue.runNext();
    }
  }

  leader(among: readonly NodeId[] = this.ids): NodeId | undefined {
    return among.find((id) => {
      const replica = this.replicas.get(id)!;
      return !replica.isStopped && replica.status().raft.role === "leader";
    });
  }

  submit(id: NodeId, key: string, value: string): () => CommandOutcome<KvResult> | undefined {
    let outcome: CommandOutcome<KvResult> | undefined;
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
      if (o.status === "ok") read = o.result;
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

  test("stopping a replica answers its waiting commands with unknown", () => {
    const cluster = new MiniCluster([1, 2, 3]);
    cluster.runUntil(() => cluster.leader() !== undefined, 5_000);
    const leader = cluster.leader()!;
    cluster.isolate(leader);
    const waiting = cluster.submit(leader, "y", "1");
    cluster.replicas.get(leader)!.stop();
    assert.deepEqual(waiting(), { status: "unknown", reason: "stopped" });
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
});
