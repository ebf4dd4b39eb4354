// The membership agent: a node that is not a member joins through a follower (its add-learner
// travels on the client channel and is forwarded to the leader), learns the membership from
// the leader's snapshot (taken for it), and every member's addresses end up in the replicated
// book. Failed joins are retried with jitter, and all of it runs on simulated timers.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { decodeMemberAddresses, memberKey } from "../../../src/core/replica/address-book.ts";
import { defaultMembershipAgentTiming, MembershipAgent } from "../../../src/core/replica/membership-agent.ts";
import type { NodeId } from "../../../src/core/raft/types.ts";
import { PathCluster } from "./path-cluster.ts";

function agentFor(cluster: PathCluster, id: NodeId, joinVia: NodeId | undefined): MembershipAgent {
  const agent = new MembershipAgent(cluster.envs.get(id)!, cluster.replicas.get(id)!, cluster.paths.get(id)!, cluster.machines.get(id)!, {
    ...defaultMembershipAgentTiming,
    addresses: { peer: `peer-${id}`, api: `api-${id}` },
    joinVia,
  });
  agent.start();
  return agent;
}

function isLearner(cluster: PathCluster, at: NodeId, id: NodeId): boolean {
  return cluster.replicas.get(at)!.status().raft.confState.learners.includes(id);
}

function bookEntry(cluster: PathCluster, at: NodeId, id: NodeId): { peer: string; api: string } | undefined {
  return decodeMemberAddresses(cluster.machines.get(at)!.value(memberKey(id)));
}

describe("membership agent", () => {
  test("a new node joins through a follower, gets a snapshot, and every member's addresses are recorded", () => {
    const cluster = new PathCluster([1, 2, 3, 4], {}, [1, 2, 3]);
    const agents = [1, 2, 3].map((id) => agentFor(cluster, id, undefined));
    const leader = cluster.leader();
    const via = cluster.follower(leader);
    const joiner = agentFor(cluster, 4, via);
    cluster.runUntil(() => joiner.isJoined && isLearner(cluster, 4, 4), 10_000);
    assert.ok(isLearner(cluster, leader, 4));
    assert.ok(cluster.paths.get(via)!.stats.forwarded >= 1, "the follower forwarded the join to its leader");
    // The leader had never compacted: it took a snapshot for the joiner, which installed it.
    assert.ok(cluster.replicas.get(leader)!.core.snapshotIndex() > 0, "no snapshot for the joiner");
    assert.ok(cluster.replicas.get(4)!.core.snapshotIndex() > 0, "the joiner did not install a snapshot");
    cluster.runUntil(() => [1, 2, 3, 4].every((id) => bookEntry(cluster, leader, id)?.api === `api-${id}`), 10_000);
    assert.deepEqual(bookEntry(cluster, 4, 4), { peer: "peer-4", api: "api-4" });
    assert.equal(joiner.stats.joinAttempts, 1);
    for (const agent of [...agents, joiner]) agent.stop();
  });

  test("a join that cannot be sent is retried with jittered backoff until it can", () => {
    const cluster = new PathCluster([1, 2, 3, 4], {}, [1, 2, 3]);
    for (const id of [1, 2, 3]) agentFor(cluster, id, undefined);
    const leader = cluster.leader();
    const via = cluster.follower(leader);
    cluster.refused.add(`4>${via}`);
    const joiner = agentFor(cluster, 4, via);
    const startUs = cluster.queue.timeUs;
    cluster.runFor(2_000);
    assert.equal(joiner.isJoined, false);
    const attempts = joiner.stats.joinAttempts;
    // One attempt every 250-500 ms of simulated time.
    assert.ok(attempts >= 4 && attempts <= 9, `${attempts} attempts in ${(cluster.queue.timeUs - startUs) / 1000} ms`);
    cluster.refused.clear();
    cluster.runUntil(() => joiner.isJoined, 5_000);
    assert.ok(isLearner(cluster, leader, 4));
  });

  test("a member that restarts on its data is not sent to join again; stop() ends its rounds", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const agent = agentFor(cluster, 1, 2);
    cluster.leader();
    cluster.runFor(500);
    assert.equal(agent.isJoined, true, "a bootstrap voter is a member: nothing to join");
    assert.equal(agent.stats.joinAttempts, 0);
    agent.stop();
    const announcements = agent.stats.announcements;
    cluster.runFor(3_000);
    assert.equal(agent.stats.announcements, announcements);
  });
});
