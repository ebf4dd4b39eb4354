// The safety monitor, fed by hand: each property must fire on a violation of its
// statement, and stay quiet on the legitimate case next to it.

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { SafetyMonitor, PROPERTIES } from "../../../src/core/sim/properties.ts";
import type { Entry, Message, NodeId, RaftCore, RaftStatus, Role } from "../../../src/core/raft/types.ts";
import { statusReaders } from "../../../src/core/raft/status-readers.ts";

interface FakeState {
  role: Role;
  term: number;
  vote: NodeId;
  commit: number;
  applied: number;
  log: number[]; // terms by index - 1
  snapshotIndex: number;
}

function fakeCore(id: NodeId, state: FakeState): RaftCore {
  const status = (): RaftStatus => ({
    id,
    role: state.role,
    leaderId: state.role === "leader" ? id : 0,
    hardState: { term: state.term, vote: state.vote, commit: state.commit },
    applied: state.applied,
    firstIndex: state.snapshotIndex + 1,
    lastIndex: state.log.length,
    snapshotIndex: state.snapshotIndex,
    snapshotTerm: 0,
    confState: { voters: [1, 2, 3], learners: [] },
  });
  return {
    status,
    ...statusReaders(status),
    termAt: (index: number) => (index === 0 ? 0 : state.log[index - 1]),
    entryAt: () => undefined,
  } as unknown as RaftCore;
}

function entry(index: number, term: number, text = `e${index}.${term}`): Entry {
  return { index, term, type: "normal", data: new TextEncoder().encode(text) };
}

function setup() {
  const states = new Map<NodeId, FakeState>();
  for (const id of [1, 2, 3]) states.set(id, { role: "follower", term: 1, vote: 0, commit: 0, applied: 0, log: [], snapshotIndex: 0 });
  const cores = new Map([...states].map(([id, state]) => [id, fakeCore(id, state)]));
  const monitor = new SafetyMonitor([1, 2, 3], 2, (id) => cores.get(id));
  const empty = { hardState: { term: 0, vote: 0, commit: 0 }, snapshot: undefined, entries: [], confState: { voters: [1, 2, 3], learners: [] } };
  for (const id of [1, 2, 3]) monitor.recovered(id, empty);
  const step = (id: NodeId, change: Partial<FakeState>) => {
    Object.assign(states.get(id)!, change);
    monitor.afterStep(id, cores.get(id)!);
  };
  const persist = (id: NodeId, entries: Entry[], isLeader = false) =>
    monitor.persisted(id, { snapshot: undefined, entries, hardState: undefined }, true, isLeader);
  return { monitor, states, step, persist };
}

/** The violated property, read through a function so assertions do not narrow the monitor's type. */
function violated(monitor: SafetyMonitor): string | undefined {
  return monitor.violation?.property;
}

const voteResponse = (from: NodeId, to: NodeId, term: number): Message => ({ type: "vote-response", from, to, term, preVote: false, granted: true });

describe("safety monitor", () => {
  test("every property has a one-line statement", () => {
    for (const [name, statement] of Object.entries(PROPERTIES)) assert.ok(statement.length > 20 && !statement.includes("\n"), name);
  });

  test("Election Safety: two leaders in one term", () => {
    const { monitor, step } = setup();
    step(1, { role: "leader", term: 2 });
    step(2, { role: "leader", term: 3 });
    assert.equal(violated(monitor), undefined);
    step(3, { role: "leader", term: 3 });
    assert.equal(violated(monitor), "Election Safety");
  });

  test("Single Vote: two granted votes in one term, across a crash", () => {
    const { monitor } = setup();
    monitor.messageSent(voteResponse(1, 2, 5));
    monitor.messageSent(voteResponse(1, 2, 5)); // the same vote again is fine
    monitor.messageSent({ ...voteResponse(1, 3, 5), preVote: true } as Message); // pre-votes are free
    monitor.crashed(1);
    assert.equal(violated(monitor), undefined);
    monitor.messageSent(voteResponse(1, 3, 5));
    assert.equal(violated(monitor), "Single Vote");
  });

  test("Single Vote: an un-durable vote lost in a crash may be cast again", () => {
    const { monitor } = setup();
    monitor.persisting(1, { snapshot: undefined, entries: [], hardState: { term: 5, vote: 2, commit: 0 } });
    monitor.crashed(1);
    monitor.persisting(1, { snapshot: undefined, entries: [], hardState: { term: 5, vote: 3, commit: 0 } });
    assert.equal(violated(monitor), undefined);
  });

  test("Log Matching: same index and term, different history", () => {
    const { monitor, persist } = setup();
    persist(1, [entry(1, 1, "a"), entry(2, 1)]);
    persist(2, [entry(1, 1, "a")]);
    assert.equal(violated(monitor), undefined);
    persist(3, [entry(1, 1, "b")]);
    assert.equal(violated(monitor), "Log Matching");
  });

  test("Leader Append-Only: a leader overwrites its log; a follower may", () => {
    const { monitor, persist } = setup();
    persist(1, [entry(1, 1), entry(2, 1)]);
    persist(1, [entry(2, 2)], false);
    assert.equal(violated(monitor), undefined);
    persist(1, [entry(2, 3)], true);
    assert.equal(violated(monitor), "Leader Append-Only");
  });

  test("State Machine Safety: different entries applied at one index", () => {
    const { monitor } = setup();
    monitor.applied(1, entry(1, 1, "x"));
    monitor.applied(2, entry(1, 1, "x"));
    assert.equal(violated(monitor), undefined);
    monitor.applied(3, entry(1, 1, "y"));
    assert.equal(violated(monitor), "State Machine Safety");
  });

  test("Leader Completeness: a new leader lacks a committed entry", () => {
    const { monitor, step, persist } = setup();
    persist(1, [entry(1, 1), entry(2, 1)]);
    step(1, { role: "leader", term: 1, log: [1, 1], commit: 2 });
    step(2, { role: "leader", term: 2, log: [1, 1], commit: 2 });
    assert.equal(violated(monitor), undefined);
    step(3, { role: "leader", term: 3, log: [1] });
    assert.equal(violated(monitor), "Leader Completeness");
  });

  test("Term Monotonic and Commit Monotonic across a crash", () => {
    const a = setup();
    a.monitor.persisted(1, { snapshot: undefined, entries: [entry(1, 1)], hardState: { term: 4, vote: 1, commit: 1 } }, true, false);
    a.monitor.crashed(1);
    a.monitor.recovered(1, { hardState: { term: 3, vote: 0, commit: 1 }, snapshot: undefined, entries: [entry(1, 1)], confState: { voters: [1, 2, 3], learners: [] } });
    assert.equal(violated(a.monitor), "Term Monotonic");
    const b = setup();
    b.monitor.persisted(1, { snapshot: undefined, entries: [entry(1, 1)], hardState: { term: 4, vote: 1, commit: 1 } }, true, false);
    b.monitor.crashed(1);
    b.monitor.recovered(1, { hardState: { term: 4, vote: 1, commit: 0 }, snapshot: undefined, entries: [entry(1, 1)], confState: { voters: [1, 2, 3], learners: [] } });
    assert.equal(violated(b.monitor), "Commit Monotonic");
  });

  test("a commit index made durable without sync may legitimately go back", () => {
    const { monitor } = setup();
    monitor.persisted(1, { snapshot: undefined, entries: [entry(1, 1)], hardState: { term: 1, vote: 1, commit: 0 } }, true, false);
    monitor.persisted(1, { snapshot: undefined, entries: [], hardState: { term: 1, vote: 1, commit: 1 } }, false, false);
    monitor.crashed(1);
    monitor.recovered(1, { hardState: { term: 1, vote: 1, commit: 0 }, snapshot: undefined, entries: [entry(1, 1)], confState: { voters: [1, 2, 3], learners: [] } });
    assert.equal(violated(monitor), undefined);
  });

  test("Index Order and Applied Monotonic while running", () => {
    const a = setup();
    a.step(1, { log: [1, 1], commit: 3 });
    assert.equal(violated(a.monitor), "Index Order");
    const b = setup();
    b.step(1, { log: [1, 1], commit: 2, applied: 2 });
    b.step(1, { applied: 1 });
    assert.equal(violated(b.monitor), "Applied Monotonic");
  });

  test("Durability: an acknowledged entry on fewer than a quorum of disks", () => {
    const a = setup();
    a.persist(1, [entry(1, 1)]);
    a.monitor.applied(1, entry(1, 1));
    a.monitor.acknowledgedAt(1, 1);
    assert.equal(violated(a.monitor), "Durability");

    const b = setup();
    b.persist(1, [entry(1, 1)]);
    b.persist(2, [entry(1, 1)]);
    b.monitor.applied(1, entry(1, 1));
    b.monitor.acknowledgedAt(1, 1);
    assert.equal(violated(b.monitor), undefined);
    b.persist(2, [entry(1, 2)]); // node 2 drops it: one copy left
    assert.equal(violated(b.monitor), "Durability");
  });
});
