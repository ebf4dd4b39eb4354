// A full disk stops writes, not the node (docs/OPERATIONS.md, "A full disk"): three replicas
// with their request paths on simulated disks whose capacity the test lowers and raises.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { RequestOutcome } from "../../../src/core/replica/request-types.ts";
import type { SimDisk } from "../../../src/core/sim/sim-disk.ts";
import type { NodeId } from "../../../src/core/raft/types.ts";
import { PathCluster } from "./path-cluster.ts";

function diskOf(cluster: PathCluster, id: NodeId): SimDisk {
  return cluster.envs.get(id)!.disk as SimDisk;
}

function fill(cluster: PathCluster, id: NodeId, slackBytes = 0): void {
  const disk = diskOf(cluster, id);
  disk.setCapacityBytes(disk.usedBytes() + slackBytes);
}

function free(cluster: PathCluster, id: NodeId): void {
  diskOf(cluster, id).setCapacityBytes(Number.POSITIVE_INFINITY);
}

function expectDiskFull(outcome: RequestOutcome, nodeId: NodeId): void {
  assert.equal(outcome.status, "not-applied", JSON.stringify(outcome));
  assert.ok(outcome.status === "not-applied");
  assert.equal(outcome.reason, "disk-full");
  assert.match(outcome.detail, new RegExp(`node ${nodeId} \\(simulated disk\\)`));
}

function expectValue(outcome: RequestOutcome, value: string): void {
  assert.equal(outcome.status, "ok", JSON.stringify(outcome));
  assert.ok(outcome.status === "ok" && outcome.result.kind === "get");
  assert.equal(outcome.result.value, value);
}

describe("a full disk", () => {
  test("every disk full: writes refused at once (disk-full, naming node and directory), reads served, the alarm clears by itself", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const leader = cluster.leader();
    const follower = cluster.follower(leader);
    assert.equal(cluster.outcomeOf(leader, { kind: "put", key: "k", value: "before" }).status, "ok");
    for (const id of cluster.ids) fill(cluster, id);
    cluster.runFor(50);
    for (const id of cluster.ids) {
      const alarm = cluster.replicas.get(id)!.status().diskFull;
      assert.ok(alarm !== undefined, `node ${id} raised no alarm`);
      assert.equal(alarm.reason, "below-reserve");
    }
    // Refused before the core sees it: answered at once, certainly not applied.
    const atLeader = cluster.submit(leader, { kind: "put", key: "k", value: "during" });
    expectDiskFull(atLeader()!, leader);
    const atFollower = cluster.submit(follower, { kind: "cas", key: "k", expected: "before", value: "during" });
    expectDiskFull(atFollower()!, follower);
    expectDiskFull(cluster.outcomeOf(leader, { kind: "promote", nodeId: follower }), leader);
    // Reads: linearizable at the leader and forwarded from a follower, local at a follower.
    expectValue(cluster.outcomeOf(leader, { kind: "get", key: "k" }), "before");
    expectValue(cluster.outcomeOf(follower, { kind: "get", key: "k" }), "before");
    expectValue(cluster.outcomeOf(follower, { kind: "get-local", key: "k" }), "before");
    for (const id of cluster.ids) assert.ok(!cluster.replicas.get(id)!.isStopped, `node ${id} stopped`);
    for (const id of cluster.ids) free(cluster, id);
    cluster.runFor(50);
    for (const id of cluster.ids) assert.equal(cluster.replicas.get(id)!.status().diskFull, undefined, `node ${id} kept its alarm`);
    assert.equal(cluster.outcomeOf(follower, { kind: "put", key: "k", value: "after" }).status, "ok");
    expectValue(cluster.outcomeOf(leader, { kind: "get", key: "k" }), "after");
  });

  test("a follower that cannot persist an append freezes, acknowledges nothing, and catches up when space returns", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const leader = cluster.leader();
    const full = cluster.follower(leader);
    const other = cluster.ids.find((id) => id !== leader && id !== full)!;
    assert.equal(cluster.outcomeOf(leader, { kind: "put", key: "k", value: "v1" }).status, "ok");
    cluster.runFor(100);
    // The quorum now needs the full follower: the other one is cut off.
    cluster.isolated.add(other);
    fill(cluster, full, 16);
    const write = cluster.submit(leader, { kind: "put", key: "k", value: "v2" });
    cluster.runFor(400);
    const frozen = cluster.replicas.get(full)!.status();
    assert.ok(frozen.persistWaitingForSpace, "the follower is not waiting for space");
    assert.equal(frozen.diskFull?.reason, "persist-refused");
    assert.ok(frozen.persistsRefusedNoSpace >= 3, `only ${frozen.persistsRefusedNoSpace} attempts: the persist is not retried`);
    // Nothing acknowledged before durable: the write cannot have committed without the full follower.
    assert.equal(write(), undefined, "the write completed without a quorum of durable copies");
    expectValue(cluster.outcomeOf(full, { kind: "get-local", key: "k" }), "v1");
    expectDiskFull(cluster.outcomeOf(full, { kind: "put", key: "x", value: "y" }), full);
    cluster.runFor(500);
    const outcome = write();
    assert.ok(outcome !== undefined && outcome.status === "unknown", `a command in flight when the disk filled must end unknown, got ${JSON.stringify(outcome)}`);
    assert.ok(!cluster.replicas.get(full)!.isStopped);
    // Space back: the retry goes through, the alarm clears, the write commits after all (unknown allowed it).
    free(cluster, full);
    cluster.runUntil(() => !cluster.replicas.get(full)!.status().persistWaitingForSpace, 2_000);
    cluster.runFor(100);
    assert.equal(cluster.replicas.get(full)!.status().diskFull, undefined);
    // The leader lost its quorum while the follower was frozen (CheckQuorum) and may have stepped down.
    const leaderAfter = cluster.leader();
    expectValue(cluster.outcomeOf(leaderAfter, { kind: "get", key: "k" }), "v2");
    cluster.isolated.delete(other);
    assert.equal(cluster.outcomeOf(leaderAfter, { kind: "put", key: "k", value: "v3" }).status, "ok");
    cluster.runUntil(() => cluster.machines.get(full)!.query({ key: "k" }) === "v3", 2_000);
  });
});
