// validateMessage (src/core/raft/validate-message.ts) and the core's own checks of peer input that
// need its state: every message the core sends passes; random mutations of real messages
// either fail validation or are stepped without any assertion firing; one unit case per rule.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decodePeerPayload, decodePayload, encodeMessage } from "../../../src/core/wire/codec.ts";
import { encodeConfChange } from "../../../src/core/raft/conf-change.ts";
import { validateMessage } from "../../../src/core/raft/validate-message.ts";
import type { AppendRequest, Entry, Message, SnapshotRequest } from "../../../src/core/raft/types.ts";
import { drainMessages, entries, makeLeader, newNode } from "./helpers.ts";
import { commandArbitrary, runSchedule } from "./schedule.ts";

const SEED = 20261126;

function assertValid(message: Message): void {
  const reason = validateMessage(message);
  assert.equal(reason, undefined, `the core sent an invalid message: ${reason} ${JSON.stringify(message)}`);
}

const append: AppendRequest = {
  type: "append",
  from: 2,
  to: 1,
  term: 3,
  prevLogIndex: 4,
  prevLogTerm: 2,
  entries: entries(5, [2, 3]),
  commit: 4,
  readContext: 0,
};

const snapshot: SnapshotRequest = {
  type: "snapshot",
  from: 2,
  to: 1,
  term: 3,
  snapshot: { metadata: { index: 9, term: 3, confState: { voters: [1, 2, 3], learners: [4] } }, data: new Uint8Array([1]) },
};

function withEntries(list: Entry[]): AppendRequest {
  return { ...append, entries: list };
}

function withConf(voters: number[], learners: number[]): SnapshotRequest {
  return { ...snapshot, snapshot: { ...snapshot.snapshot, metadata: { ...snapshot.snapshot.metadata, confState: { voters, learners } } } };
}

describe("validateMessage: one case per rule", () => {
  const cases: Array<[string, Message, string]> = [
    ["from zero", { ...append, from: 0 }, "not a node id"],
    ["to negative", { ...append, to: -1 }, "not a node id"],
    ["from equals to", { ...append, from: 1 }, "both 1"],
    ["term zero", { ...append, term: 0 }, "term 0"],
    ["unsafe term", { ...append, term: 2 ** 53 }, "not an integer"],
    ["fractional index", { ...append, prevLogIndex: 1.5 }, "prevLogIndex 1.5"],
    ["negative commit", { ...append, commit: -1 }, "commit -1"],
    ["index 0 with a term", { ...append, prevLogIndex: 0, prevLogTerm: 1, entries: entries(1, [1]) }, "only index 0 has term 0"],
    ["prevLogTerm above the message term", { ...append, prevLogTerm: 4 }, "above the message term"],
    ["entries not starting at prevLogIndex + 1", withEntries(entries(6, [2])), "expected 5"],
    ["entries not contiguous", withEntries([...entries(5, [2]), ...entries(7, [2])]), "expected 6"],
    ["entry terms decreasing", withEntries(entries(5, [3, 2])), "below the term 3"],
    ["entry term below prevLogTerm", withEntries(entries(5, [1])), "below the term 2"],
    ["entry term above the message term", withEntries(entries(5, [2, 4])), "above the message term"],
    ["entry term zero", withEntries(entries(5, [0])), "term 0"],
    ["malformed conf change", withEntries([{ term: 3, index: 5, type: "conf-change", data: new Uint8Array([9]) }]), "conf change"],
    ["unknown entry type", withEntries([{ term: 3, index: 5, type: "bogus" as "normal", data: new Uint8Array() }]), "unknown type"],
    ["vote request lastLogTerm above term", { type: "vote-request", from: 2, to: 1, term: 3, preVote: false, lastLogIndex: 5, lastLogTerm: 4, leaderTransfer: false }, "above the message term"],
    ["vote request with a non-boolean", { type: "vote-request", from: 2, to: 1, term: 3, preVote: 1 as unknown as boolean, lastLogIndex: 5, lastLogTerm: 3, leaderTransfer: false }, "not a boolean"],
    ["success with a conflict hint", { type: "append-response", from: 2, to: 1, term: 3, success: true, index: 5, conflictTerm: 2, conflictIndex: 3, readContext: 0 }, "conflict hint"],
    ["conflictIndex beyond the rejected index", { type: "append-response", from: 2, to: 1, term: 3, success: false, index: 5, conflictTerm: 2, conflictIndex: 6, readContext: 0 }, "beyond the rejected index"],
    ["conflictTerm above the message term", { type: "append-response", from: 2, to: 1, term: 3, success: false, index: 5, conflictTerm: 4, conflictIndex: 2, readContext: 0 }, "above the message term"],
    ["heartbeat negative readContext", { type: "heartbeat", from: 2, to: 1, term: 3, commit: 1, readContext: -2 }, "readContext -2"],
    ["append fractional readContext", { ...append, readContext: 1.5 }, "readContext 1.5"],
    ["append-response negative readContext", { type: "append-response", from: 2, to: 1, term: 3, success: true, index: 5, conflictTerm: 0, conflictIndex: 0, readContext: -1 }, "readContext -1"],
    ["snapshot index zero", { ...snapshot, snapshot: { ...snapshot.snapshot, metadata: { ...snapshot.snapshot.metadata, index: 0 } } }, "snapshot index 0"],
    ["snapshot term above the message term", { ...snapshot, snapshot: { ...snapshot.snapshot, metadata: { ...snapshot.snapshot.metadata, term: 4 } } }, "above the message term"],
    ["snapshot voters unsorted", withConf([3, 1, 2], []), "not sorted"],
    ["snapshot voters duplicated", withConf([1, 1, 2], []), "not sorted"],
    ["snapshot voter and learner overlap", withConf([1, 2], [2]), "voter and learner"],
    ["snapshot without voters", withConf([], [1]), "no voter"],
    ["snapshot member id zero", withConf([0, 1], []), "not a node id"],
  ];
  for (const [name, message, expected] of cases) {
    test(name, () => {
      const reason = validateMessage(message);
      assert.ok(reason !== undefined, "accepted");
      assert.ok(reason.includes(expected), `reason ${JSON.stringify(reason)} does not mention ${JSON.stringify(expected)}`);
      assert.ok(!reason.includes("\n"), "one line");
    });
  }

  test("well-formed messages pass", () => {
    assert.equal(validateMessage(append), undefined);
    assert.equal(validateMessage(snapshot), undefined);
    assert.equal(validateMessage({ ...append, prevLogIndex: 0, prevLogTerm: 0, entries: entries(1, [1, 1, 3]) }), undefined);
    assert.equal(validateMessage({ type: "timeout-now", from: 1, to: 2, term: 1 }), undefined);
  });

  test("the transport's decoder turns an invalid message away; the structural decoder does not", () => {
    const bad = encodeMessage(withEntries(entries(5, [3, 2])));
    assert.equal(decodePayload(bad).ok, true);
    const decoded = decodePeerPayload(bad);
    assert.equal(decoded.ok, false);
    assert.match(decoded.ok ? "" : decoded.error, /^invalid message: append from 2: entry 6 has term 2, below the term 3/);
    assert.equal(decodePeerPayload(encodeMessage(append)).ok, true);
  });
});

describe("the core ignores peer input inconsistent with its state", () => {
  test("an acknowledgement of an index beyond the leader's log", () => {
    const node = newNode();
    makeLeader(node);
    const before = node.status();
    node.step({ type: "append-response", from: 2, to: 1, term: before.hardState.term, success: true, index: before.lastIndex + 5, conflictTerm: 0, conflictIndex: 0, readContext: 0 });
    node.step({ type: "append-response", from: 3, to: 1, term: before.hardState.term, success: false, index: before.lastIndex + 5, conflictTerm: 1, conflictIndex: before.lastIndex + 3, readContext: 0 });
    assert.deepEqual(node.status(), before);
  });

  test("a conf change that does not apply to the follower's membership", () => {
    const node = newNode({ term: 1, terms: [1] });
    const promoteStranger: Entry = { term: 1, index: 2, type: "conf-change", data: encodeConfChange({ type: "promote", nodeId: 9 }) };
    node.step({ type: "append", from: 2, to: 1, term: 1, prevLogIndex: 1, prevLogTerm: 1, entries: [promoteStranger], commit: 0, readContext: 0 });
    assert.equal(node.status().lastIndex, 1, "nothing appended");
    assert.ok(!drainMessages(node).some((m) => m.type === "append-response"), "nothing acknowledged");
    // The same change for a node that is a learner is appended and acknowledged.
    const learnerNode = newNode({ term: 1, terms: [1], learners: [9] });
    learnerNode.step({ type: "append", from: 2, to: 1, term: 1, prevLogIndex: 1, prevLogTerm: 1, entries: [promoteStranger], commit: 0, readContext: 0 });
    assert.equal(learnerNode.status().lastIndex, 2);
    assert.deepEqual(learnerNode.status().confState.voters, [1, 2, 3, 9]);
  });
});

// ---------------------------------------------------------------- fuzzing

type Mutation =
  | { readonly kind: "number"; readonly slot: number; readonly value: number }
  | { readonly kind: "junk"; readonly slot: number; readonly junk: number }
  | { readonly kind: "entries"; readonly op: number; readonly at: number }
  | { readonly kind: "members"; readonly op: number; readonly at: number }
  | { readonly kind: "retype"; readonly type: number };

const JUNK: readonly unknown[] = [Number.NaN, 0.5, -0, true, "1", undefined, null, 2 ** 53, Number.MAX_SAFE_INTEGER, Infinity];
const TYPES: readonly Message["type"][] = ["vote-request", "vote-response", "append", "append-response", "heartbeat", "heartbeat-response", "snapshot", "timeout-now"];

const mutationArbitrary: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("number" as const), slot: fc.nat(), value: fc.oneof(fc.integer({ min: -3, max: 12 }), fc.integer({ min: 0, max: 2 ** 52 })) }),
  fc.record({ kind: fc.constant("junk" as const), slot: fc.nat(), junk: fc.nat() }),
  fc.record({ kind: fc.constant("entries" as const), op: fc.nat(), at: fc.nat() }),
  fc.record({ kind: fc.constant("members" as const), op: fc.nat(), at: fc.nat() }),
  fc.record({ kind: fc.constant("retype" as const), type: fc.nat() }),
);

/** A deep copy whose fields may be overwritten (Uint8Arrays are shared: nobody mutates them). */
function copy(message: Message): Record<string, unknown> {
  // A retyped message may lack the fields of its new type: copy what is there.
  const source = message as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = { ...source };
  if (Array.isArray(source.entries)) out.entries = (source.entries as Entry[]).map((e) => ({ ...e }));
  const snap = source.snapshot as SnapshotRequest["snapshot"] | undefined;
  if (snap !== undefined) {
    const { metadata, data } = snap;
    out.snapshot = { data, metadata: { ...metadata, confState: { voters: [...metadata.confState.voters], learners: [...metadata.confState.learners] } } };
  }
  return out;
}

/** The numeric and boolean places of a message: its own fields, its entries' and its snapshot's. */
function slots(m: Record<string, unknown>): Array<{ readonly target: Record<string, unknown>; readonly key: string }> {
  const out: Array<{ target: Record<string, unknown>; key: string }> = [];
  for (const key of Object.keys(m)) if (key !== "type" && (typeof m[key] === "number" || typeof m[key] === "boolean")) out.push({ target: m, key });
  if (Array.isArray(m.entries)) for (const e of m.entries as Record<string, unknown>[]) for (const key of ["term", "index"]) out.push({ target: e, key });
  const snap = m.snapshot as { metadata: Record<string, unknown> } | undefined;
  if (snap !== undefined) for (const key of ["index", "term"]) out.push({ target: snap.metadata, key });
  return out;
}

function mutate(message: Message, mutation: Mutation): Message {
  const m = copy(message);
  switch (mutation.kind) {
    case "number":
    case "junk": {
      const places = slots(m);
      const place = places[mutation.slot % places.length]!;
      place.target[place.key] = mutation.kind === "number" ? mutation.value : JUNK[mutation.junk % JUNK.length];
      break;
    }
    case "entries": {
      const list = (m.entries as Record<string, unknown>[] | undefined) ?? [];
      if (list.length === 0) break;
      const at = mutation.at % list.length;
      switch (mutation.op % 5) {
        case 0:
          list.splice(at, 1);
          break;
        case 1:
          list.splice(at, 0, { ...list[at]! });
          break;
        case 2:
          list.reverse();
          break;
        case 3:
          list[at]!.type = list[at]!.type === "normal" ? "conf-change" : "normal";
          break;
        default:
          list[at]!.data = encodeConfChange({ type: (["add-learner", "promote", "remove"] as const)[mutation.at % 3]!, nodeId: 1 + (mutation.at % 6) });
          list[at]!.type = "conf-change";
      }
      break;
    }
    case "members": {
      const snap = m.snapshot as { metadata: { confState: { voters: number[]; learners: number[] } } } | undefined;
      if (snap === undefined) break;
      const conf = snap.metadata.confState;
      const list = mutation.at % 2 === 0 ? conf.voters : conf.learners;
      switch (mutation.op % 4) {
        case 0:
          list.push(1 + (mutation.at % 6));
          break;
        case 1:
          list.reverse();
          break;
        case 2:
          list.splice(0, 1);
          break;
        default:
          list.unshift(list[0] ?? 0);
      }
      break;
    }
    case "retype":
      m.type = TYPES[mutation.type % TYPES.length];
      break;
  }
  return m as unknown as Message;
}

describe("random mutations of real messages", () => {
  test("every message the core sends passes validation (random fault schedules)", () => {
    for (const nodeCount of [3, 5]) {
      const property = fc.property(fc.array(commandArbitrary(nodeCount, true), { minLength: 50, maxLength: 300 }), (commands) => {
        runSchedule(commands, { nodeCount, voterCount: 3, onSend: assertValid });
      });
      fc.assert(property, { seed: SEED, numRuns: 60 });
    }
  });

  test("either fail validation or are stepped without an assertion firing", () => {
    let stepped = 0;
    let refused = 0;
    const property = fc.property(
      fc.array(commandArbitrary(5, true), { minLength: 60, maxLength: 200 }),
      fc.array(fc.tuple(fc.nat(), fc.array(mutationArbitrary, { minLength: 1, maxLength: 3 })), { minLength: 30, maxLength: 60 }),
      (commands, mutations) => {
        const c = runSchedule(commands, { nodeCount: 5, voterCount: 3 });
        const sent = c.sent;
        if (sent.length === 0) return;
        for (const [pick, steps] of mutations) {
          let message = sent[pick % sent.length]!;
          for (const mutation of steps) message = mutate(message, mutation);
          if (validateMessage(message) !== undefined) {
            refused += 1;
            continue;
          }
          const core = c.nodes.get(message.to)?.core;
          if (core === undefined) continue;
          core.step(message);
          stepped += 1;
          // Carry out what it produced (without the harness's safety checks: the input was not a correct peer's).
          if (core.hasReady()) {
            core.ready();
            core.advance();
          }
          core.tick();
        }
      },
    );
    fc.assert(property, { seed: SEED, numRuns: 200 });
    assert.ok(stepped > 1_000 && refused > 1_000, `stepped ${stepped}, refused ${refused}: the mutations must exercise both sides`);
  });
});
