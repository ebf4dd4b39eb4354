// Logs that tell the story (docs/OPERATIONS.md, "Logs"; src/core/replica/replica-log.ts): a
// three-node cluster's captured JSON log has each node's start line (id, addresses, version,
// data directory), an election won, a leader change, a membership change with its index, and on
// the removed node the line saying it was removed. Then the rate limit on its own.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { InProcessCluster, type LogRecord } from "../../support/in-process-cluster.ts";
import { waitUntil } from "../../support/wait-until.ts";
import { LINES_PER_WINDOW_MAX, LineBudget, ReplicaLog, WINDOW_MS } from "../../../src/core/replica/replica-log.ts";
import type { Message } from "../../../src/core/raft/types.ts";
import type { Environment } from "../../../src/core/env/environment.ts";
import { BLIXARD_VERSION } from "../../../src/shell/version.ts";

const INFO = 30;

function find(log: readonly LogRecord[], pattern: RegExp, level = INFO): LogRecord | undefined {
  return log.find((record) => pattern.test(record.msg) && record.level >= level);
}

describe("a three-node cluster's log tells the story", { timeout: 120_000 }, () => {
  let dir: string;
  let cluster: InProcessCluster;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "blixard-story-"));
    cluster = await InProcessCluster.start(dir);
  });
  after(async () => {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("start, an election won, a leader change, a membership change, and the removal on the removed node", async () => {
    const leader = await cluster.waitForLeader();
    for (const id of [1, 2, 3]) {
      const started = find(cluster.logOf(id), /^node started/);
      assert.ok(started !== undefined, `node ${id} logged its start`);
      assert.equal(started.nodeId, id);
      assert.equal(started.version, BLIXARD_VERSION);
      assert.equal(started.api, cluster.nodes.get(id)!.apiAddress);
      assert.equal(typeof started.peer, "string");
      assert.equal(started.dataDir, join(dir, `node-${id}`));
    }
    const won = find(cluster.logOf(leader), /^election won/);
    assert.ok(won !== undefined, `the leader ${leader} logged its election`);
    assert.equal(typeof won.term, "number");
    assert.ok((won.votesGranted as number) >= 2, `a majority of votes: ${JSON.stringify(won)}`);
    for (const id of [1, 2, 3]) assert.ok(find(cluster.logOf(id), new RegExp(`^leader changed: node none -> node ${leader}$`)) !== undefined, `node ${id} logged the first leader`);

    // A leader change: hand leadership to another node.
    const next = [1, 2, 3].find((id) => id !== leader && id !== 3) ?? [1, 2].find((id) => id !== leader)!;
    await cluster.client(leader).cluster.transferLeader({ targetId: BigInt(next) });
    await waitUntil("the new leader", () => cluster.nodes.get(next)!.status().raft.role === "leader", 20_000);
    await waitUntil("the leader change line on every node", () => [1, 2, 3].every((id) => find(cluster.logOf(id), new RegExp(`^leader changed: node ${leader} -> node ${next}$`)) !== undefined), 20_000);
    const change = find(cluster.logOf(next), new RegExp(`^leader changed: node ${leader} -> node ${next}$`))!;
    assert.equal(change.previousLeader, leader);
    assert.equal(change.leader, next);
    assert.ok(find(cluster.logOf(next), /^election won/) !== undefined, "the new leader won an election");

    // A membership change: remove node 3 (not the leader).
    const removal = await cluster.client(next).cluster.remove({ nodeId: 3n });
    const index = Number(removal.index);
    assert.ok(index > 0);
    for (const id of [1, 2]) {
      await waitUntil(`node ${id}'s membership line`, () => find(cluster.logOf(id), /^membership change applied: node 3 removed$/) !== undefined, 10_000);
      const line = find(cluster.logOf(id), /^membership change applied: node 3 removed$/)!;
      assert.equal(line.index, index);
      assert.equal(line.member, 3);
      assert.deepEqual(line.voters, [1, 2]);
    }
    await waitUntil("node 3's removal line", () => find(cluster.logOf(3), /was removed from the cluster/) !== undefined, 10_000);
    const removed = cluster.logOf(3).filter((record) => /was removed from the cluster/.test(record.msg));
    assert.equal(removed.length, 1, "said once");
    assert.equal(removed[0]!.index, index);
    assert.equal(removed[0]!.level, 40);
  });
});

function fakeEnv(): { env: Environment; warned: string[]; infos: Array<{ fields: Record<string, unknown>; message: string }>; advanceMs: (ms: number) => void } {
  let nowUs = 1_000_000;
  const warned: string[] = [];
  const infos: Array<{ fields: Record<string, unknown>; message: string }> = [];
  const env = {
    nodeId: 1,
    monotonic: { nowUs: () => nowUs },
    log: { debug() {}, info: (fields: Record<string, unknown>, message: string) => void infos.push({ fields, message }), warn: (_fields: unknown, message: string) => void warned.push(message), error() {} },
  } as unknown as Environment;
  return { env, warned, infos, advanceMs: (ms) => (nowUs += ms * 1000) };
}

describe("the replica's lines on their own", () => {
  const vote = (from: number, term: number, granted: boolean): Message => ({ type: "vote-response", from, to: 1, term, preVote: false, granted }) as Message;

  test("an election won counts the votes heard (its own included); one lost says so; pre-votes are not counted", () => {
    const { env, infos } = fakeEnv();
    const story = new ReplicaLog(env);
    story.roleChanged({ previousRole: "follower", role: "candidate", previousLeader: 0, leader: 0, term: 4, voters: [1, 2, 3, 4, 5] });
    story.heard(vote(2, 4, true));
    story.heard({ ...vote(3, 4, true), preVote: true } as Message);
    story.heard(vote(4, 3, true)); // an old term's
    story.heard(vote(5, 4, false));
    story.heard(vote(3, 4, true));
    story.roleChanged({ previousRole: "candidate", role: "leader", previousLeader: 0, leader: 1, term: 4, voters: [1, 2, 3, 4, 5] });
    assert.deepEqual(infos.map((line) => line.message), ["election started: campaigning for leadership", "election won: this node leads", "leader changed: node none -> node 1"]);
    assert.equal(infos[1]!.fields.votesGranted, 3);
    assert.equal(infos[1]!.fields.votesNeeded, 3);
    story.roleChanged({ previousRole: "leader", role: "candidate", previousLeader: 1, leader: 0, term: 5, voters: [1, 2, 3, 4, 5] });
    story.heard(vote(2, 5, false));
    story.roleChanged({ previousRole: "candidate", role: "follower", previousLeader: 0, leader: 2, term: 6, voters: [1, 2, 3, 4, 5] });
    assert.deepEqual(infos.slice(3).map((line) => line.message), ["election started: campaigning for leadership", "election lost", "leader changed: node 1 -> node 2"]);
  });

  test("snapshots sent, installed and taken carry index and bytes; membership lines name the member and index", () => {
    const { env, infos, warned } = fakeEnv();
    const story = new ReplicaLog(env);
    story.snapshotSent(3, 100, 4_096);
    story.snapshotInstalled(100, 4_096, 2);
    story.snapshotTaken(200, 8_192);
    assert.deepEqual(infos.map((line) => [line.message, line.fields.index, line.fields.bytes]), [
      ["snapshot sent to node 3", 100, 4_096],
      ["snapshot installed from the leader", 100, 4_096],
      ["snapshot taken; the log before it is compacted", 200, 8_192],
    ]);
    infos.length = 0;
    assert.equal(story.membershipApplied(7, { voters: [1, 2, 3], learners: [] }, { voters: [1, 2, 3], learners: [4] }), false);
    assert.equal(story.membershipApplied(8, { voters: [1, 2, 3], learners: [4] }, { voters: [1, 2, 3, 4], learners: [] }), false);
    assert.equal(story.membershipApplied(9, { voters: [1, 2, 3, 4], learners: [] }, { voters: [2, 3, 4], learners: [] }), true);
    assert.deepEqual(infos.map((line) => [line.message, line.fields.index]), [
      ["membership change applied: node 4 added as a learner", 7],
      ["membership change applied: node 4 promoted to voter", 8],
      ["membership change applied: node 1 removed", 9],
    ]);
    assert.equal(warned.length, 1);
    assert.match(warned[0]!, /this node \(1\) was removed from the cluster at index 9/);
  });
});

describe("the rate limit of repeating lines", () => {
  test(`at most ${LINES_PER_WINDOW_MAX} lines per ${WINDOW_MS / 1000} s, one warning, and the count carried into the next window`, () => {
    const { env, warned, advanceMs } = fakeEnv();
    const budget = new LineBudget(env, "election");
    let written = 0;
    for (let i = 0; i < 1_000; i++) if (budget.take().write) written += 1;
    assert.equal(written, LINES_PER_WINDOW_MAX);
    assert.equal(warned.length, 1);
    assert.equal(budget.suppressedTotal, 1_000 - LINES_PER_WINDOW_MAX);
    advanceMs(WINDOW_MS);
    const first = budget.take();
    assert.deepEqual(first, { write: true, suppressedBefore: 1_000 - LINES_PER_WINDOW_MAX });
    assert.deepEqual(budget.take(), { write: true, suppressedBefore: 0 });
  });
});
