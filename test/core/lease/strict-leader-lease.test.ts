// The voters' side of the leader lease with strictLeaderLease (src/core/raft/raw-node.ts), what
// lease reads rest on (docs/RAFT.md, "Lease reads"): a voter ignores every campaign except a
// leader transfer for electionTicks ticks after it heard from a leader, or after it started,
// whatever clears its known leader in between; plain CheckQuorum does not, and these tests show
// the cases where it would grant the vote.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Message, VoteRequest } from "../../../src/core/raft/types.ts";
import type { RawNode } from "../../../src/core/raft/raw-node.ts";
import { drainMessages, newNode } from "../raft/helpers.ts";

const strict = { checkQuorum: true, strictLeaderLease: true, electionTicks: 10 };
const plain = { checkQuorum: true, electionTicks: 10 };

function voteRequest(term: number, leaderTransfer = false, preVote = false): VoteRequest {
  return { type: "vote-request", from: 3, to: 1, term, preVote, lastLogIndex: 9, lastLogTerm: 2, leaderTransfer };
}

function granted(messages: Message[]): boolean {
  return messages.some((m) => m.type === "vote-response" && m.granted);
}

function ticks(node: RawNode, count: number): void {
  for (let i = 0; i < count; i++) node.tick();
  drainMessages(node);
}

describe("strictLeaderLease: the voters' promise behind lease reads", () => {
  test("a restarted voter grants no vote for electionTicks ticks after it starts; plain CheckQuorum grants at once", () => {
    const restartedStrict = newNode({ term: 2, terms: [1, 2], config: strict });
    restartedStrict.step(voteRequest(3));
    assert.equal(granted(drainMessages(restartedStrict)), false, "strict: ignored right after start");
    ticks(restartedStrict, 9);
    restartedStrict.step(voteRequest(3));
    assert.equal(granted(drainMessages(restartedStrict)), false, "strict: still ignored after 9 of 10 ticks");
    ticks(restartedStrict, 1);
    restartedStrict.step(voteRequest(3));
    assert.equal(granted(drainMessages(restartedStrict)), true, "strict: granted once 10 ticks have passed");

    const restartedPlain = newNode({ term: 2, terms: [1, 2], config: plain });
    restartedPlain.step(voteRequest(3));
    assert.equal(granted(drainMessages(restartedPlain)), true, "plain CheckQuorum: a restarted node forgets its lease at once");
  });

  test("the promise survives a term change that clears the known leader", () => {
    for (const [config, expectGranted] of [
      [strict, false],
      [plain, true],
    ] as const) {
      const node = newNode({ term: 2, terms: [1, 2], config });
      ticks(node, 10); // past the start-up promise
      node.step({ type: "heartbeat", from: 2, to: 1, term: 2, commit: 0, readContext: 0 });
      drainMessages(node);
      // A stray answer of term 3 (to an append this node sent when it led) clears the known leader...
      node.step({ type: "append-response", from: 3, to: 1, term: 3, success: false, index: 0, conflictTerm: 0, conflictIndex: 0, readContext: 0 });
      drainMessages(node);
      assert.equal(node.status().leaderId, 0);
      assert.equal(node.status().hardState.term, 3);
      // ...and a candidate of that term asks, within the election timeout of the leader's heartbeat.
      node.step(voteRequest(3));
      assert.equal(granted(drainMessages(node)), expectGranted, config === strict ? "strict" : "plain");
    }
  });

  test("pre-votes are ignored too; a leader transfer's campaign is not", () => {
    const node = newNode({ term: 2, terms: [1, 2], config: { ...strict, preVote: true } });
    node.step({ type: "heartbeat", from: 2, to: 1, term: 2, commit: 0, readContext: 0 });
    drainMessages(node);
    node.step(voteRequest(3, false, true));
    assert.deepEqual(drainMessages(node), []);
    node.step(voteRequest(3, true));
    assert.equal(granted(drainMessages(node)), true);
  });

  test("heard from the leader resets the promise; electionTicks ticks of silence end it", () => {
    const node = newNode({ term: 2, terms: [1, 2], config: strict });
    ticks(node, 8);
    node.step({ type: "heartbeat", from: 2, to: 1, term: 2, commit: 0, readContext: 0 });
    drainMessages(node);
    ticks(node, 9);
    node.step(voteRequest(3));
    assert.equal(granted(drainMessages(node)), false);
    ticks(node, 1);
    node.step(voteRequest(3));
    assert.equal(granted(drainMessages(node)), true);
  });

  test("the option needs CheckQuorum", () => {
    assert.throws(() => newNode({ config: { checkQuorum: false, strictLeaderLease: true } }), /strictLeaderLease needs checkQuorum/);
  });
});
