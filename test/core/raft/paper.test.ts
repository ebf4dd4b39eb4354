// Tests tied to sentences of the Raft paper (Ongaro & Ousterhout, "In Search of an
// Understandable Consensus Algorithm", https://raft.github.io/raft.pdf), in the spirit of
// etcd-io/raft's raft_paper_test.go. Each test quotes the sentence it checks.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { AppendRequest, AppendResponse, HeartbeatRequest, Message, VoteRequest, VoteResponse } from "../../../src/core/raft/types.ts";
import { Cluster } from "./harness.ts";
import { acceptAndReply, allMessages, appendFrom, commitNoop, drain, drainMessages, entries, makeLeader, newNode, sortByTo } from "./helpers.ts";

const et = 10;

describe("Raft paper 5.1: terms", () => {
  for (const role of ["follower", "candidate", "leader"] as const) {
    test(`${role} updates its term from a message and reverts to follower`, () => {
      // "If one server's current term is smaller than the other's, then it updates its current
      // term to the larger value. If a candidate or leader discovers that its term is out of
      // date, it immediately reverts to follower state."
      const node = newNode({ term: 1 });
      if (role === "candidate") node.campaign();
      if (role === "leader") makeLeader(node);
      drainMessages(node);
      node.step(appendFrom(2, 1, 5, 0, 0, []));
      assert.equal(node.status().hardState.term, 5);
      assert.equal(node.status().role, "follower");
      assert.equal(node.status().leaderId, 2);
    });
  }

  test("a request with a stale term is rejected", () => {
    // "If a server receives a request with a stale term number, it rejects the request."
    const node = newNode({ term: 2 });
    node.step(appendFrom(2, 1, 1, 0, 0, entries(1, [1])));
    assert.equal(node.status().lastIndex, 0, "stale append must not add entries");
    node.step({ type: "vote-request", from: 2, to: 1, term: 1, preVote: false, lastLogIndex: 5, lastLogTerm: 1, leaderTransfer: false });
    const [answer] = drainMessages(node) as VoteResponse[];
    assert.equal(answer!.type, "vote-response");
    assert.equal(answer!.granted, false);
    assert.equal(answer!.term, 2, "the rejection carries the current term so the sender updates");
  });
});

describe("Raft paper 5.2: leader election", () => {
  test("servers start as followers", () => {
    // "When servers start up, they begin as followers."
    assert.equal(newNode().status().role, "follower");
  });

  test("the leader sends heartbeats to all followers", () => {
    // "Leaders send periodic heartbeats (AppendEntries RPCs that carry no log entries) to all
    // followers in order to maintain their authority."
    const node = newNode({ config: { heartbeatTicks: 1 } });
    makeLeader(node);
    drainMessages(node);
    node.tick();
    const beats = sortByTo(drainMessages(node)) as HeartbeatRequest[];
    assert.deepEqual(
      beats.map((m) => [m.type, m.to, m.commit]),
      [
        ["heartbeat", 2, 0],
        ["heartbeat", 3, 0],
      ],
    );
  });

  for (const role of ["follower", "candidate"] as const) {
    test(`${role} starts a new election after the election timeout`, () => {
      // "If a follower receives no communication over a period of time called the election
      // timeout, then it assumes there is no viable leader and begins an election to choose a
      // new leader. ... a follower increments its current term and transitions to candidate
      // state. It then votes for itself and issues RequestVote RPCs in parallel to each of the
      // other servers in the cluster." / "the candidate times out and starts a new election by
      // incrementing its term and initiating another round of RequestVote RPCs."
      const node = newNode({ term: 1 });
      if (role === "candidate") node.campaign();
      drainMessages(node);
      const startTerm = node.status().hardState.term;
      for (let i = 1; i < 2 * et; i += 1) node.tick();
      const rd = drain(node)!;
      assert.equal(node.status().role, "candidate");
      assert.equal(node.status().hardState.term, startTerm + 1);
      assert.equal(node.status().hardState.vote, 1);
      assert.equal(rd.mustSync, true);
      assert.deepEqual(
        sortByTo(rd.messages as VoteRequest[]).map((m) => [m.type, m.to, m.term, m.lastLogIndex, m.lastLogTerm]),
        [
          ["vote-request", 2, startTerm + 1, 0, 0],
          ["vote-request", 3, startTerm + 1, 0, 0],
        ],
      );
    });
  }

  test("leader election in one round of RequestVote", () => {
    // "A candidate wins an election if it receives votes from a majority of the servers in the
    // full cluster for the same term." / the candidate loses or the outcome stays open otherwise.
    const cases: [number, Record<number, boolean>, string][] = [
      [1, {}, "leader"],
      [3, { 2: true, 3: true }, "leader"],
      [3, { 2: true }, "leader"],
      [5, { 2: true, 3: true, 4: true, 5: true }, "leader"],
      [5, { 2: true, 3: true, 4: true }, "leader"],
      [5, { 2: true, 3: true }, "leader"],
      [3, { 2: false, 3: false }, "follower"],
      [5, { 2: false, 3: false, 4: false, 5: false }, "follower"],
      [5, { 2: true, 3: false, 4: false, 5: false }, "follower"],
      [3, {}, "candidate"],
      [5, { 2: true }, "candidate"],
      [5, { 2: false, 3: false }, "candidate"],
      [5, {}, "candidate"],
    ];
    for (const [size, votes, role] of cases) {
      const voters = Array.from({ length: size }, (_, i) => i + 1);
      const node = newNode({ voters });
      node.campaign();
      for (const [from, granted] of Object.entries(votes)) {
        node.step({ type: "vote-response", from: Number(from), to: 1, term: 1, preVote: false, granted });
      }
      assert.equal(node.status().role, role, `size ${size} votes ${JSON.stringify(votes)}`);
      assert.equal(node.status().hardState.term, 1);
    }
  });

  test("a follower votes for at most one candidate per term, first come first served", () => {
    // "Each server will vote for at most one candidate in a given term, on a
    // first-come-first-served basis."
    const cases: [number, number, boolean][] = [
      [0, 2, true],
      [0, 3, true],
      [2, 2, true],
      [3, 3, true],
      [2, 3, false],
      [3, 2, false],
    ];
    for (const [vote, candidate, granted] of cases) {
      const node = newNode({ term: 1, vote });
      node.step({ type: "vote-request", from: candidate, to: 1, term: 1, preVote: false, lastLogIndex: 0, lastLogTerm: 0, leaderTransfer: false });
      const messages = drainMessages(node) as VoteResponse[];
      assert.deepEqual(
        messages.map((m) => [m.type, m.to, m.term, m.granted]),
        [["vote-response", candidate, 1, granted]],
      );
    }
  });

  test("a candidate falls back to follower on AppendEntries from a legitimate leader", () => {
    // "While waiting for votes, a candidate may receive an AppendEntries RPC from another server
    // claiming to be leader. If the leader's term ... is at least as large as the candidate's
    // current term, then the candidate recognizes the leader as legitimate and returns to
    // follower state."
    for (const term of [1, 2]) {
      const node = newNode();
      node.campaign();
      assert.equal(node.status().role, "candidate");
      node.step(appendFrom(2, 1, term, 0, 0, []));
      assert.equal(node.status().role, "follower");
      assert.equal(node.status().hardState.term, term);
    }
  });

  for (const role of ["follower", "candidate"] as const) {
    test(`${role} election timeouts are randomized in [electionTicks, 2 * electionTicks)`, () => {
      // "Raft uses randomized election timeouts to ensure that split votes are rare ...
      // election timeouts are chosen randomly from a fixed interval."
      const seen = new Set<number>();
      const node = newNode({ seed: 42 });
      for (let round = 0; round < 50 * et; round += 1) {
        if (role === "candidate") node.campaign();
        else node.step(appendFrom(2, 1, node.status().hardState.term + 1, 0, 0, []));
        drainMessages(node);
        let ticks = 0;
        for (; ticks < 4 * et; ) {
          node.tick();
          ticks += 1;
          if (drainMessages(node).some((m) => m.type === "vote-request")) break;
        }
        seen.add(ticks);
      }
      for (let d = et; d < 2 * et; d += 1) assert.ok(seen.has(d), `timeout of ${d} ticks should occur`);
      for (const d of seen) assert.ok(d >= et && d < 2 * et, `timeout ${d} outside the interval`);
    });
  }
});

describe("Raft paper 5.2: split votes are rare", () => {
  for (const role of ["follower", "candidate"] as const) {
    test(`${role}s rarely time out at the same tick`, () => {
      // "This spreads out the servers so that in most cases only a single server will time out;
      // it wins the election and sends heartbeats before any other servers time out."
      const ids = [1, 2, 3, 4, 5];
      const nodes = ids.map((id) => newNode({ id, voters: ids, seed: 1000 + id }));
      let conflicts = 0;
      const rounds = 1000;
      for (let round = 0; round < rounds; round += 1) {
        for (const node of nodes) {
          if (role === "candidate") node.campaign();
          else node.step(appendFrom(node === nodes[0] ? 2 : 1, node.status().id, node.status().hardState.term + 1, 0, 0, []));
          drainMessages(node);
        }
        let timedOut = 0;
        for (let tick = 0; timedOut === 0 && tick < 4 * et; tick += 1) {
          for (const node of nodes) {
            node.tick();
            if (drainMessages(node).some((m) => m.type === "vote-request")) timedOut += 1;
          }
        }
        if (timedOut > 1) conflicts += 1;
      }
      assert.ok(conflicts / rounds <= 0.3, `conflicts in ${conflicts} of ${rounds} rounds`);
    });
  }
});

describe("Raft paper 5.3: log replication", () => {
  test("the leader appends a proposal and sends AppendEntries with the preceding index and term", () => {
    // "The leader appends the command to its log as a new entry, then issues AppendEntries RPCs
    // in parallel to each of the other servers to replicate the entry." / "When sending an
    // AppendEntries RPC, the leader includes the index and term of the entry in its log that
    // immediately precedes the new entries."
    const node = newNode();
    makeLeader(node);
    commitNoop(node);
    const li = node.status().lastIndex;
    const result = node.propose(new TextEncoder().encode("some data"));
    assert.ok(result.ok);
    const rd = drain(node)!;
    assert.equal(node.status().lastIndex, li + 1);
    assert.equal(node.status().hardState.commit, li);
    assert.deepEqual(
      rd.entries.map((e) => [e.index, e.term]),
      [[li + 1, 1]],
    );
    assert.deepEqual(
      sortByTo(allMessages(rd) as AppendRequest[]).map((m) => [m.to, m.prevLogIndex, m.prevLogTerm, m.entries.length, m.commit]),
      [
        [2, li, 1, 1, li],
        [3, li, 1, 1, li],
      ],
    );
  });

  test("the leader commits a replicated entry and tells followers the commit index", () => {
    // "A log entry is committed once the leader that created the entry has replicated it on a
    // majority of the servers ... The leader keeps track of the highest index it knows to be
    // committed, and it includes that index in future AppendEntries RPCs."
    // Blixard sends no append just to carry a new commit index (docs/RAFT.md, Replication): it
    // rides on the next append, or on the next heartbeat as min(commit, match).
    const node = newNode({ config: { heartbeatTicks: 1 } });
    makeLeader(node);
    commitNoop(node);
    const li = node.status().lastIndex;
    node.propose(new TextEncoder().encode("some data"));
    for (const m of drainMessages(node)) node.step(acceptAndReply(m));
    const rd = drain(node)!;
    assert.equal(node.status().hardState.commit, li + 1);
    assert.deepEqual(
      rd.committedEntries.map((e) => e.index),
      [li + 1],
    );
    assert.deepEqual(allMessages(rd).filter((m) => m.type === "append"), [], "no append only to carry the commit index");
    node.propose(new TextEncoder().encode("more data"));
    const appends = sortByTo(drainMessages(node).filter((m) => m.type === "append") as AppendRequest[]);
    assert.deepEqual(
      appends.map((m) => [m.to, m.commit, m.entries.length]),
      [
        [2, li + 1, 1],
        [3, li + 1, 1],
      ],
    );
    node.tick();
    const beats = sortByTo(drainMessages(node).filter((m) => m.type === "heartbeat") as HeartbeatRequest[]);
    assert.deepEqual(
      beats.map((m) => [m.to, m.commit]),
      [
        [2, li + 1],
        [3, li + 1],
      ],
    );
  });

  test("an entry commits once replicated on a majority", () => {
    // "A log entry is committed once the leader that created the entry has replicated it on a
    // majority of the servers."
    const cases: [number, number[], boolean][] = [
      [1, [], true],
      [3, [], false],
      [3, [2], true],
      [3, [2, 3], true],
      [5, [], false],
      [5, [2], false],
      [5, [2, 3], true],
      [5, [2, 3, 4], true],
      [5, [2, 3, 4, 5], true],
    ];
    for (const [size, acceptors, committed] of cases) {
      const voters = Array.from({ length: size }, (_, i) => i + 1);
      const node = newNode({ voters });
      makeLeader(node);
      commitNoop(node);
      const li = node.status().lastIndex;
      node.propose(new TextEncoder().encode("x"));
      for (const m of drainMessages(node)) if (acceptors.includes(m.to)) node.step(acceptAndReply(m));
      drainMessages(node);
      assert.equal(node.status().hardState.commit > li, committed, `size ${size} acceptors ${acceptors}`);
    }
  });

  test("committing an entry commits all preceding entries, including earlier leaders'", () => {
    // "This also commits all preceding entries in the leader's log, including entries created
    // by previous leaders." / "Once a follower learns that a log entry is committed, it applies
    // the entry to its local state machine (in log order)."
    for (const terms of [[], [2], [1, 2], [1]]) {
      const node = newNode({ terms, term: 2 });
      makeLeader(node);
      node.propose(new TextEncoder().encode("some data"));
      const applied: number[] = [];
      for (let i = 0; i < 5; i += 1) {
        const messages: Message[] = [];
        while (node.hasReady()) {
          const rd = drain(node)!;
          applied.push(...rd.committedEntries.map((e) => e.term));
          messages.push(...allMessages(rd));
        }
        for (const m of messages) if (m.type === "append") node.step(acceptAndReply(m));
      }
      assert.deepEqual(applied, [...terms, 3, 3], `log ${terms}`);
    }
  });

  test("a follower applies what the leader says is committed", () => {
    // "Once a follower learns that a log entry is committed, it applies the entry to its local
    // state machine (in log order)."
    for (const [count, commit] of [
      [1, 1],
      [2, 2],
      [2, 1],
    ] as const) {
      const node = newNode({ term: 1 });
      node.step(appendFrom(2, 1, 1, 0, 0, entries(1, Array(count).fill(1), "d"), commit));
      const rd = drain(node)!;
      assert.equal(node.status().hardState.commit, commit);
      assert.deepEqual(
        rd.committedEntries.map((e) => e.index),
        Array.from({ length: commit }, (_, i) => i + 1),
      );
    }
  });

  test("a follower rejects AppendEntries whose preceding entry it lacks, with a backtracking hint", () => {
    // "If the follower does not find an entry in its log with the same index and term, then it
    // refuses the new entries." (Figure 2: "Reply false if log doesn't contain an entry at
    // prevLogIndex whose term matches prevLogTerm".) The hint is the dissertation's 5.3:
    // the conflicting term and the first index of that term, or lastIndex + 1 if too short.
    const cases: [number, number, boolean, number, number, number][] = [
      // prevTerm, prevIndex, success, index, conflictTerm, conflictIndex
      [0, 0, true, 1, 0, 0], // below commit: acknowledged at the commit index
      [1, 1, true, 1, 0, 0],
      [2, 2, true, 2, 0, 0],
      [1, 2, false, 2, 2, 2], // mismatch at 2: our term there is 2, first index of term 2 is 2
      [3, 3, false, 3, 0, 3], // beyond our log: lastIndex + 1
    ];
    for (const [prevTerm, prevIndex, success, index, conflictTerm, conflictIndex] of cases) {
      const node = newNode({ terms: [1, 2], commit: 1, term: 2 });
      node.step(appendFrom(2, 1, 2, prevIndex, prevTerm, []));
      const [m] = drainMessages(node) as AppendResponse[];
      assert.deepEqual([m!.type, m!.success, m!.index, m!.conflictTerm, m!.conflictIndex], ["append-response", success, index, conflictTerm, conflictIndex], `prev ${prevIndex}/${prevTerm}`);
    }
  });

  test("a follower deletes a conflicting suffix and appends new entries", () => {
    // "If an existing entry conflicts with a new one (same index but different terms), delete
    // the existing entry and all that follow it (5.3). Append any new entries not already in the log."
    const cases: [number, number, number[], number[], number[]][] = [
      // prevIndex, prevTerm, new entry terms (from prevIndex+1), whole log terms, unstable terms
      [2, 2, [3], [1, 2, 3], [3]],
      [1, 1, [3, 4], [1, 3, 4], [3, 4]],
      [0, 0, [1], [1, 2], []],
      [0, 0, [3], [3], [3]],
    ];
    for (const [prevIndex, prevTerm, newTerms, logTerms, unstableTerms] of cases) {
      const node = newNode({ terms: [1, 2], term: 2 });
      node.step(appendFrom(2, 1, 4, prevIndex, prevTerm, entries(prevIndex + 1, newTerms)));
      const rd = drain(node)!;
      const status = node.status();
      const log = Array.from({ length: status.lastIndex }, (_, i) => node.termAt(i + 1));
      assert.deepEqual(log, logTerms);
      assert.deepEqual(
        rd.entries.map((e) => e.term),
        unstableTerms,
      );
    }
  });

  test("the leader brings a follower's log into consistency with its own (Figure 7)", () => {
    // "The leader handles inconsistencies by forcing the followers' logs to duplicate its own."
    const leaderTerms = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6];
    const followerLogs = [
      [1, 1, 1, 4, 4, 5, 5, 6, 6],
      [1, 1, 1, 4],
      [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],
      [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],
      [1, 1, 1, 4, 4, 4, 4],
      [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],
    ];
    for (const followerTerms of followerLogs) {
      const c = new Cluster({ voters: [1, 2, 3] });
      c.crash(1);
      c.crash(2);
      c.crash(3);
      c.node(1).disk.entries = entries(1, leaderTerms);
      c.node(1).disk.hardState = { term: 8, vote: 0, commit: leaderTerms.length };
      c.node(2).disk.entries = entries(1, followerTerms);
      c.node(2).disk.hardState = { term: 7, vote: 0, commit: 0 };
      c.node(3).disk.hardState = { term: 7, vote: 0, commit: 0 };
      c.restart(1);
      c.restart(2);
      c.restart(3);
      c.core(1).campaign();
      c.stabilize();
      assert.equal(c.leader(), 1);
      c.propose(1, "");
      c.stabilize();
      c.tickAll(2);
      c.stabilize();
      const l = c.core(1);
      const f = c.core(2);
      assert.equal(f.status().lastIndex, l.status().lastIndex, `follower ${followerTerms}`);
      for (let i = 1; i <= l.status().lastIndex; i += 1) assert.equal(f.termAt(i), l.termAt(i), `index ${i} of follower ${followerTerms}`);
    }
  });
});

describe("Raft paper 5.4: safety", () => {
  test("a vote request carries the candidate's last log index and term to all others", () => {
    // "The RequestVote RPC ... includes information about the candidate's log."
    for (const [terms, wantTerm] of [
      [[1], 2],
      [[1, 2], 3],
    ] as const) {
      const node = newNode();
      node.step(appendFrom(2, 1, wantTerm - 1, 0, 0, entries(1, terms)));
      drainMessages(node);
      for (let i = 1; i < 2 * et; i += 1) node.tick();
      const requests = sortByTo(drainMessages(node) as VoteRequest[]);
      assert.deepEqual(
        requests.map((m) => [m.type, m.to, m.term, m.lastLogIndex, m.lastLogTerm]),
        [2, 3].map((to) => ["vote-request", to, wantTerm, terms.length, terms[terms.length - 1]]),
      );
    }
  });

  test("a voter denies its vote if its own log is more up to date", () => {
    // "The voter denies its vote if its own log is more up-to-date than that of the candidate."
    // "If the logs have last entries with different terms, then the log with the later term is
    // more up-to-date. If the logs end with the same term, then whichever log is longer is more up-to-date."
    const cases: [number[], number, number, boolean][] = [
      [[1], 1, 1, true],
      [[1], 1, 2, true],
      [[1, 1], 1, 1, false],
      [[1], 2, 1, true],
      [[1], 2, 2, true],
      [[1, 1], 2, 1, true],
      [[2], 1, 1, false],
      [[2], 1, 2, false],
      [[2, 2], 1, 1, false],
      [[1, 1], 1, 1, false],
    ];
    for (const [terms, lastLogTerm, lastLogIndex, granted] of cases) {
      const node = newNode({ voters: [1, 2], terms });
      node.step({ type: "vote-request", from: 2, to: 1, term: 3, preVote: false, lastLogIndex, lastLogTerm, leaderTransfer: false });
      const messages = drainMessages(node) as VoteResponse[];
      assert.equal(messages.length, 1);
      assert.equal(messages[0]!.granted, granted, `log ${terms} candidate ${lastLogIndex}/${lastLogTerm}`);
    }
  });

  test("the leader only commits entries of its current term by counting replicas", () => {
    // "Raft never commits log entries from previous terms by counting replicas. Only log entries
    // from the leader's current term are committed by counting replicas." (5.4.2, Figure 8)
    for (const [ackIndex, wantCommit] of [
      [1, 0],
      [2, 0],
      [3, 3],
    ] as const) {
      const node = newNode({ voters: [1, 2], terms: [1, 2], term: 2 });
      makeLeader(node); // term 3, no-op at 3
      drainMessages(node);
      node.propose(new Uint8Array(0));
      drainMessages(node);
      node.step({ type: "append-response", from: 2, to: 1, term: 3, success: true, index: ackIndex, conflictTerm: 0, conflictIndex: 0, readContext: 0 });
      drainMessages(node);
      assert.equal(node.status().hardState.commit, wantCommit, `ack ${ackIndex}`);
    }
  });
});
