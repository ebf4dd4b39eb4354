// Real processes: three nodes on loopback. Writes succeed; kill -9 the leader and a new
// one is elected within the deadline with no acknowledged write lost; the killed node
// restarts from its data directory and catches up; a leader SIGSTOPped for longer than
// an election timeout and then SIGCONTed causes no split brain and loses no write.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ProcessCluster, waitFor, sleep, type LocalStatus } from "./process-cluster.ts";
import { BackgroundWriter } from "./writer.ts";

const ELECTION_DEADLINE_MS = 10_000;

describe("three node processes: failover", { timeout: 120_000 }, () => {
  const cluster = new ProcessCluster("failover");
  const written = new Map<string, string>();
  let leader = 0;

  before(async () => {
    await cluster.bootstrap([1, 2, 3]);
  });
  after(async () => {
    await cluster.cleanup();
  });

  async function checkAllPresent(keys: ReadonlyMap<string, string>, readerId: number): Promise<void> {
    for (const [key, value] of keys) {
      const actual = await waitFor(`linearizable read of ${key} at node ${readerId}`, 10_000, () => cluster.get(readerId, key));
      assert.equal(actual, value, `acknowledged write ${key}=${value} reads as ${JSON.stringify(actual)} at node ${readerId}`);
    }
  }

  test("elects a leader and writes succeed through any node", async () => {
    leader = await cluster.waitForLeader([1, 2, 3], 30_000);
    for (let i = 0; i < 30; i++) {
      const key = `initial-${i}`;
      await cluster.put(key, `v${i}`, 10_000, [1 + (i % 3)]);
      written.set(key, `v${i}`);
    }
    for (const id of [1, 2, 3]) await checkAllPresent(new Map([...written].slice(-3)), id);
  });

  test("kill -9 the leader: a new leader within the deadline, no acknowledged write lost", async () => {
    const writer = new BackgroundWriter(cluster, "kill");
    writer.start();
    // Some writes acknowledged by the old leader, so the kill can lose something if it is unsafe.
    await waitFor("writes acknowledged before the kill", 10_000, () => (writer.acknowledged.size >= 5 ? true : undefined), 20);
    const old = leader;
    await cluster.stop(old, "SIGKILL");
    const survivors = [1, 2, 3].filter((id) => id !== old);
    leader = await cluster.waitForLeader(survivors, ELECTION_DEADLINE_MS);
    assert.notEqual(leader, old);
    // Writes acknowledged under the new leader too, before checking that none was lost.
    const acknowledgedAtFailover = writer.acknowledged.size;
    await waitFor("writes acknowledged by the new leader", 10_000, () => (writer.acknowledged.size >= acknowledgedAtFailover + 5 ? true : undefined), 20);
    await writer.stop();
    assert.ok(writer.acknowledged.size > 0, "the writer got no acknowledgement at all");
    await checkAllPresent(written, leader);
    await checkAllPresent(writer.acknowledged, survivors.find((id) => id !== leader)!);
    for (const [k, v] of writer.acknowledged) written.set(k, v);
    // Restart from the same data directory: it catches up with everything.
    cluster.start(old);
    const target = (await cluster.localStatus(leader)).commit;
    await waitFor(`node ${old} to apply index ${target}`, 20_000, async () => ((await cluster.localStatus(old)).applied >= target ? true : undefined));
    for (const [key, value] of written) assert.equal(await cluster.get(old, key, true), value, `restarted node lacks ${key}`);
  });

  test("SIGSTOP the leader past an election timeout, then SIGCONT: no split brain, no lost writes", async () => {
    leader = await cluster.waitForLeader([1, 2, 3], ELECTION_DEADLINE_MS);
    const paused = leader;
    const others = [1, 2, 3].filter((id) => id !== paused);
    const leadersByTerm = new Map<number, Set<number>>();
    const observe = (statuses: readonly LocalStatus[]): void => {
      for (const s of statuses) {
        if (s.role !== "leader") continue;
        const set = leadersByTerm.get(s.term) ?? new Set<number>();
        set.add(s.id);
        leadersByTerm.set(s.term, set);
      }
    };
    cluster.signal(paused, "SIGSTOP");
    const writer = new BackgroundWriter(cluster, "stop");
    // Only the running, unpaused nodes take writes (a paused node would hold requests until SIGCONT).
    const originalRunning = cluster.runningIds.bind(cluster);
    cluster.runningIds = () => originalRunning().filter((id) => id !== paused);
    writer.start();
    try {
      leader = await cluster.waitForLeader(others, ELECTION_DEADLINE_MS);
      observe(await cluster.statuses(others));
      await sleep(1_500); // well past an election timeout (500-1000 ms), with writes going on
      observe(await cluster.statuses(others));
    } finally {
      cluster.signal(paused, "SIGCONT");
      cluster.runningIds = originalRunning;
    }
    // While the old leader wakes up, sample every node's view: never two leaders in one term.
    const until = Date.now() + 3_000;
    while (Date.now() < until) {
      observe(await cluster.statuses([1, 2, 3]));
      await sleep(50);
    }
    await writer.stop();
    for (const [term, ids] of leadersByTerm) assert.equal(ids.size, 1, `term ${term} had leaders ${[...ids].join(", ")}`);
    leader = await cluster.waitForLeader([1, 2, 3], ELECTION_DEADLINE_MS);
    assert.ok(writer.acknowledged.size > 0, "no write was acknowledged while the leader was paused");
    for (const [k, v] of writer.acknowledged) written.set(k, v);
    await checkAllPresent(written, paused);
  });
});
