// The small modules on their own: quorum arithmetic against brute force, the in-flight window,
// the log against a plain array model, and the membership history.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { RaftLog } from "../../../src/core/raft/log.ts";
import { Membership } from "../../../src/core/raft/membership.ts";
import { Inflights } from "../../../src/core/raft/tracker/inflights.ts";
import { committedIndex, hasQuorum, majoritySize, voteOutcome } from "../../../src/core/raft/quorum.ts";
import { entries } from "./helpers.ts";

describe("quorum", () => {
  test("committedIndex is the largest index a majority holds (brute force)", () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 20 }), { minLength: 1, maxLength: 7 }), (matches) => {
        const voters = matches.map((_, i) => i + 1);
        let expected = 0;
        for (let index = 0; index <= 20; index += 1) {
          if (matches.filter((m) => m >= index).length >= majoritySize(voters.length)) expected = index;
        }
        assert.equal(
          committedIndex(voters, (id) => matches[id - 1]!),
          expected,
        );
      }),
    );
  });

  test("voteOutcome: won with a majority of grants, lost once a majority is out of reach", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(true, false, undefined), { minLength: 1, maxLength: 7 }), (answers) => {
        const voters = answers.map((_, i) => i + 1);
        const votes = new Map<number, boolean>();
        answers.forEach((a, i) => a !== undefined && votes.set(i + 1, a));
        const granted = answers.filter((a) => a === true).length;
        const possible = answers.filter((a) => a !== false).length;
        const need = majoritySize(voters.length);
        const want = granted >= need ? "won" : possible < need ? "lost" : "pending";
        assert.equal(voteOutcome(voters, votes), want);
        assert.equal(
          hasQuorum(voters, (id) => votes.get(id) === true),
          want === "won",
        );
      }),
    );
  });

  test("votes of non-voters do not count", () => {
    assert.equal(voteOutcome([1, 2, 3], new Map([[4, true], [5, true], [1, true]])), "pending");
  });
});

describe("in-flight window", () => {
  test("bounded by count and bytes; freeing up to an index frees exactly the appends ending there or before", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 5 }), fc.nat({ max: 100 })), { maxLength: 30 }), fc.nat({ max: 200 }), (sends, freeTo) => {
        const window = new Inflights(4, 250);
        const sent: [number, number][] = [];
        let last = 0;
        for (const [count, bytes] of sends) {
          if (window.full()) break;
          last += count;
          window.add(last, bytes);
          sent.push([last, bytes]);
          assert.ok(window.count() <= 4);
        }
        window.freeTo(freeTo);
        const left = sent.filter(([index]) => index > freeTo);
        assert.equal(window.count(), left.length);
        assert.equal(
          window.bytes(),
          left.reduce((sum, [, bytes]) => sum + bytes, 0),
        );
      }),
    );
  });
});

describe("log", () => {
  test("append, truncate, compact and commit agree with an array model", () => {
    type Op = { kind: "append"; terms: number } | { kind: "truncate"; at: number } | { kind: "commit"; at: number } | { kind: "compact"; at: number };
    const op = fc.oneof(
      fc.record({ kind: fc.constant("append" as const), terms: fc.integer({ min: 0, max: 3 }) }),
      fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
      fc.record({ kind: fc.constant("commit" as const), at: fc.nat() }),
      fc.record({ kind: fc.constant("compact" as const), at: fc.nat() }),
    );
    fc.assert(
      fc.property(fc.array(op as fc.Arbitrary<Op>, { maxLength: 60 }), (ops) => {
        const log = new RaftLog(0, 0, [], 0);
        let model: number[] = []; // model[i] = term at index i + 1
        let snapshotIndex = 0;
        let term = 1;
        for (const o of ops) {
          const last = model.length;
          if (o.kind === "append") {
            term += o.terms === 0 ? 1 : 0;
            log.append(entries(last + 1, [term]));
            model.push(term);
          } else if (o.kind === "truncate" && last > log.committed && last > snapshotIndex) {
            const at = log.committed + 1 + (o.at % (last - log.committed));
            log.truncateFrom(at);
            model = model.slice(0, at - 1);
          } else if (o.kind === "commit" && last > 0) {
            log.commitTo(1 + (o.at % last));
          } else if (o.kind === "compact" && log.committed > snapshotIndex) {
            log.applied = log.committed;
            const at = snapshotIndex + 1 + (o.at % (log.committed - snapshotIndex));
            log.compact(at, model[at - 1]!);
            snapshotIndex = at;
          }
          assert.equal(log.lastIndex(), model.length);
          assert.equal(log.firstIndex(), snapshotIndex + 1);
          for (let i = snapshotIndex; i <= model.length; i += 1) assert.equal(log.termAt(i), i === 0 ? 0 : model[i - 1]);
          assert.equal(log.termAt(model.length + 1), undefined);
          if (snapshotIndex > 0) assert.equal(log.termAt(snapshotIndex - 1), snapshotIndex - 1 === 0 ? 0 : undefined);
          assert.ok(log.committed <= log.lastIndex());
        }
      }),
    );
  });

  test("conflict hints: first index of a term, last index of a term", () => {
    const log = new RaftLog(0, 0, entries(1, [1, 1, 2, 2, 2, 4]), 0);
    assert.equal(log.firstIndexOfTermAt(5), 3);
    assert.equal(log.firstIndexOfTermAt(2), 1);
    assert.equal(log.lastIndexOfTerm(2, 6), 5);
    assert.equal(log.lastIndexOfTerm(3, 6), 0);
    assert.equal(log.lastIndexOfTerm(1, 6), 2);
  });

  test("the up-to-date rule compares last terms, then lengths", () => {
    const log = new RaftLog(0, 0, entries(1, [1, 2, 2]), 0);
    assert.ok(log.isUpToDate(3, 2));
    assert.ok(log.isUpToDate(1, 3));
    assert.ok(!log.isUpToDate(2, 2));
    assert.ok(!log.isUpToDate(10, 1));
  });
});

describe("membership history", () => {
  test("changes take effect when appended and are undone by truncation; compaction folds them", () => {
    const m = new Membership(0, { voters: [1, 2, 3], learners: [] });
    m.appended(4, { voters: [1, 2, 3], learners: [4] });
    m.appended(7, { voters: [1, 2, 3, 4], learners: [] });
    assert.deepEqual(m.current().voters, [1, 2, 3, 4]);
    assert.deepEqual(m.at(5), { voters: [1, 2, 3], learners: [4] });
    m.truncatedFrom(7);
    assert.deepEqual(m.current(), { voters: [1, 2, 3], learners: [4] });
    m.compactedTo(5);
    assert.deepEqual(m.at(5), { voters: [1, 2, 3], learners: [4] });
    assert.equal(m.lastChangeIndex(), 0);
    assert.equal(m.baseUnknown(), false);
    assert.equal(new Membership(0, { voters: [], learners: [] }).baseUnknown(), true);
  });
});
