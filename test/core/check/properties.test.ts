// Property tests: real executions are linearizable; a single impossible read is caught;
// on small histories the checker agrees with a brute-force permutation checker.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { buildHistory, checkHistory, createModel, kvModel } from "../../../src/core/check/index.ts";
import type { HistoryEvent } from "../../../src/core/check/index.ts";
import { bruteForceLinearizable, linearizableKvHistory, randomRegisterHistory } from "./generate.ts";

const RUNS = 150;

describe("histories of a real sequential execution", () => {
  test("are linearizable, per key and as a whole map", () => {
    fc.assert(
      fc.property(linearizableKvHistory({ processes: 4, operations: 30, keys: ["x", "y"], openRate: 0.1 }), (events) => {
        const history = buildHistory(events, { failSemantics: "compare-failed" });
        assert.equal(checkHistory(history, kvModel()).verdict, "ok");
        assert.equal(checkHistory(history, kvModel(), { partition: false }).verdict, "ok");
      }),
      { numRuns: RUNS, seed: 42 },
    );
  });

  test("with one read changed to a value never written are caught", () => {
    fc.assert(
      fc.property(linearizableKvHistory({ processes: 4, operations: 30, keys: ["x", "y"], openRate: 0.1 }), fc.nat(), (events, which) => {
        const reads = events.map((e, i) => (e.f === "get" && e.type === "ok" ? i : -1)).filter((i) => i >= 0);
        fc.pre(reads.length > 0);
        const at = reads[which % reads.length];
        const mutated: HistoryEvent[] = events.map((e, i) => (i === at ? { ...e, value: "never-written" } : e));
        const history = buildHistory(mutated, { failSemantics: "compare-failed" });
        const result = checkHistory(history, kvModel());
        assert.equal(result.verdict, "illegal");
        const illegal = result.partitions.find((p) => p.status === "illegal");
        assert.ok(illegal !== undefined && illegal.longest !== undefined && illegal.stuck !== undefined && illegal.stuck.length > 0);
      }),
      { numRuns: RUNS, seed: 7 },
    );
  });

  test("with one cas outcome flipped are caught when the flip is impossible", () => {
    // A cas of the empty string on a key never written cannot fail: flip such an ok to fail.
    const events: HistoryEvent[] = [
      { process: 0, type: "invoke", f: "cas", key: "k", value: ["", "a"], time: 1 },
      { process: 0, type: "fail", f: "cas", key: "k", value: ["", "a"], time: 2 },
    ];
    assert.equal(checkHistory(buildHistory(events, { failSemantics: "compare-failed" }), kvModel()).verdict, "illegal");
    assert.equal(checkHistory(buildHistory(events, { failSemantics: "no-effect" }), kvModel()).verdict, "ok");
  });
});

describe("small histories", () => {
  test("the checker agrees with a brute-force permutation checker (cas register)", () => {
    let illegal = 0;
    fc.assert(
      fc.property(randomRegisterHistory(), (history) => {
        const expected = bruteForceLinearizable(history, createModel("cas-register"));
        const actual = checkHistory(history, createModel("cas-register")).verdict;
        if (!expected) illegal += 1;
        assert.equal(actual, expected ? "ok" : "illegal");
      }),
      { numRuns: 600, seed: 3 },
    );
    assert.ok(illegal > 20, `the generator should produce illegal histories too (got ${illegal})`);
  });

  test("the checker agrees with brute force on small key-value executions with a mutation", () => {
    let illegal = 0;
    fc.assert(
      fc.property(linearizableKvHistory({ processes: 3, operations: 7, keys: ["x", "y"], openRate: 0.2 }), fc.nat(), fc.constantFrom("", "a", "b", "ab"), (events, which, read) => {
        const reads = events.map((e, i) => (e.f === "get" && e.type === "ok" ? i : -1)).filter((i) => i >= 0);
        const mutated = reads.length === 0 ? events : events.map((e, i) => (i === reads[which % reads.length] ? { ...e, value: read } : e));
        const history = buildHistory(mutated, { failSemantics: "compare-failed" });
        const expected = bruteForceLinearizable(history, kvModel());
        if (!expected) illegal += 1;
        assert.equal(checkHistory(history, kvModel()).verdict, expected ? "ok" : "illegal");
        assert.equal(checkHistory(history, kvModel(), { partition: false }).verdict, expected ? "ok" : "illegal");
      }),
      { numRuns: 400, seed: 11 },
    );
    assert.ok(illegal > 40, `the mutations should break some histories (got ${illegal})`);
  });
});
