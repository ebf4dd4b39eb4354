// Real processes: remove a member, add a new node (join as a learner, catch up from the
// leader's snapshot, promote it), hand it leadership, and check the new configuration
// serves reads and writes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ProcessCluster, waitFor } from "./process-cluster.ts";

describe("three node processes: membership", { timeout: 120_000 }, () => {
  const cluster = new ProcessCluster("membership");

  before(async () => {
    await cluster.bootstrap([1, 2, 3]);
  });
  after(async () => {
    await cluster.cleanup();
  });

  test("remove a member, add a new one, and the new configuration serves reads and writes", async () => {
    const leader = await cluster.waitForLeader([1, 2, 3], 30_000);
    for (let i = 0; i < 10; i++) await cluster.put(`before-${i}`, `b${i}`);
    const removed = [1, 2, 3].find((id) => id !== leader)!;

    const removal = await cluster.client(leader).cluster.remove({ nodeId: BigInt(removed) });
    assert.deepEqual(
      removal.members.map((m) => Number(m.id)),
      [1, 2, 3].filter((id) => id !== removed),
    );
    await cluster.stop(removed, "SIGTERM");
    const remaining = [1, 2, 3].filter((id) => id !== removed);

    // Node 4 joins through a follower (the request is forwarded to the leader).
    const via = remaining.find((id) => id !== leader) ?? leader;
    await cluster.join(4, via);
    const learner = await waitFor("node 4 listed as a learner", 20_000, async () => {
      const status = await cluster.client(leader).cluster.status({ localOnly: true });
      return status.members.find((m) => Number(m.id) === 4 && m.kind === "learner");
    });
    assert.equal(learner.peerAddress, cluster.nodes.get(4)!.peer);
    // It catches up (from the leader's snapshot, then the log) before promotion.
    await waitFor("node 4 to hold the data", 20_000, async () => ((await cluster.get(4, "before-9", true)) === "b9" ? true : undefined));
    const promotion = await waitFor("promotion of node 4", 10_000, () => cluster.client(leader).cluster.promote({ nodeId: 4n }));
    assert.deepEqual(
      promotion.members.filter((m) => m.kind === "voter").map((m) => Number(m.id)),
      [...remaining, 4].sort(),
    );

    const voters = [...remaining, 4];
    await cluster.waitForLeader(voters, 10_000);
    for (let i = 0; i < 10; i++) await cluster.put(`after-${i}`, `a${i}`, 10_000, voters);
    for (const id of voters) {
      assert.equal(await cluster.get(id, "after-9"), "a9");
      assert.equal(await cluster.get(id, "before-0"), "b0");
    }
    // Leadership moves to the new voter on request, and the cluster keeps serving.
    const transferred = await waitFor("leader transfer to node 4", 10_000, () => cluster.client(remaining[0]!).cluster.transferLeader({ targetId: 4n }));
    assert.equal(transferred.leaderId, 4n);
    assert.equal(await cluster.waitForLeader(voters, 10_000), 4);
    await cluster.put("after-transfer", "t", 10_000, voters);
    assert.equal(await cluster.get(remaining[0]!, "after-transfer"), "t");
    // The full status lists exactly the new configuration, every node reachable.
    const status = await cluster.client(4).cluster.status({});
    assert.deepEqual(
      status.nodes.map((n) => [Number(n.id), n.reachable]),
      voters.sort().map((id) => [id, true]),
    );

    // The member node 4 joined through is removed and stopped; node 4, restarted with the same
    // command line (its --join names that member), starts from its store without waiting on it.
    // (Found by the Jepsen harness's long run: such a restart used to exit "cannot reach ... to join".)
    await waitFor(`removal of node ${via}`, 10_000, () => cluster.client(4).cluster.remove({ nodeId: BigInt(via) }));
    await cluster.stop(via, "SIGTERM");
    const left = voters.filter((id) => id !== via);
    await cluster.stop(4, "SIGKILL");
    cluster.start(4);
    await cluster.waitForLeader(left, 20_000);
    await cluster.put("after-restart", "r", 10_000, left);
    assert.equal(await waitFor("node 4 to serve after its restart", 10_000, async () => ((await cluster.get(4, "after-restart")) === "r" ? "r" : undefined)), "r");
    assert.ok(cluster.isRunning(4), `node 4 exited after its restart:\n${cluster.log(4).slice(-2000)}`);
  });
});
