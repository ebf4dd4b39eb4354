// Shrinking (src/core/sim/shrink.ts) on planted bugs (docs/PLANTED-BUGS.md), switched on as the
// harness does (planted-bug-configs.ts): the failing run shrinks to a strictly smaller one that fails
// with the same property, deterministically, and its run file (run-file.ts) replays it exactly.

import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeRunFile, encodeRunFile } from "../../../src/core/sim/run-file.ts";
import { runSimulation, type SimulationOptions, type SimulationResult } from "../../../src/core/sim/simulation.ts";
import type { PropertyName } from "../../../src/core/sim/properties.ts";
import { shrinkRun, smallerRun } from "../../../src/core/sim/shrink.ts";
import { HARNESS_PLANTED_BUG_CONFIGS, PLANTED_BUG_CONFIGS } from "./planted-bug-configs.ts";

function planted(bug: string, seed: number): { options: SimulationOptions; property: string } {
  const raft = PLANTED_BUG_CONFIGS.find((config) => config.bug === bug);
  if (raft !== undefined) return { options: { ...raft.options(seed), plantedBugs: new Set([raft.bug]) }, property: raft.property };
  const harness = HARNESS_PLANTED_BUG_CONFIGS.find((config) => config.bug === bug)!;
  return { options: { ...harness.options(seed), ...harness.plant }, property: harness.property };
}

for (const bug of ["leader-ignores-higher-term", "cas-without-compare"]) {
  test(`${bug}: shrinks to a strictly smaller run failing with the same property, whose run file replays it`, () => {
    const { options, property } = planted(bug, 1);
    const outcome = shrinkRun(options, { attemptsMax: 60 });
    assert.equal(outcome.property, property);
    assert.ok(smallerRun(outcome.shrunkSize, outcome.originalSize), `${JSON.stringify(outcome.shrunkSize)} is not smaller than ${JSON.stringify(outcome.originalSize)}`);
    assert.ok(outcome.shrunkSize.faults < outcome.originalSize.faults || outcome.shrunkSize.nodes < outcome.originalSize.nodes);
    assert.ok(outcome.attempts <= 60);
    // Deterministic: the same search gives the same run.
    assert.equal(shrinkRun(options, { attemptsMax: 60 }).result.traceHash, outcome.result.traceHash);
    const file = decodeRunFile(encodeRunFile({ options: outcome.options, property, note: "test" }));
    assert.ok(!("error" in file), JSON.stringify(file));
    const replayed = runSimulation(file.options);
    assert.equal(replayed.failure?.property, property);
    assert.equal(replayed.traceHash, outcome.result.traceHash);
  });
}

test("the budget ends the search early with a run that still fails", () => {
  const { options, property } = planted("leader-ignores-higher-term", 1);
  const outcome = shrinkRun(options, { attemptsMax: 3 });
  assert.equal(outcome.stopped, "attempts");
  assert.equal(outcome.attempts, 3);
  assert.equal(outcome.result.failure?.property, property);
  const timed = shrinkRun(options, { attemptsMax: 60, keepGoing: () => false });
  assert.equal(timed.stopped, "time");
  assert.equal(timed.attempts, 1);
});

test("a smaller run that fails with another property is never kept; planted any-failure-counts keeps it and the postcondition fires", () => {
  const { options, property } = planted("leader-ignores-higher-term", 1);
  // A stand-in for runSimulation: every run with fewer nodes than the original "fails" with another property.
  const otherProperty: PropertyName = property === "Durability" ? "Single Vote" : "Durability";
  const run = (candidate: SimulationOptions): SimulationResult => {
    const result = runSimulation(candidate);
    if (candidate.nodeCount >= options.nodeCount || result.failure === undefined) return result;
    return { ...result, failure: { ...result.failure, property: otherProperty } };
  };
  const honest = shrinkRun(options, { attemptsMax: 40 }, { run });
  assert.equal(honest.property, property);
  assert.equal(honest.result.failure?.property, property);
  assert.equal(honest.shrunkSize.nodes, options.nodeCount, "no candidate with fewer nodes was kept");
  assert.throws(() => shrinkRun(options, { attemptsMax: 40 }, { run, plantedBug: "any-failure-counts" }), /the shrunk run fails with the original property/);
});

test("a run file that is not one is refused with one line", () => {
  const { options } = planted("leader-ignores-higher-term", 1);
  const good = JSON.parse(encodeRunFile({ options, property: undefined, note: "" })) as Record<string, unknown>;
  const cases: Array<[string, RegExp]> = [
    ["{", /^not JSON/],
    ["[]", /^format is undefined/],
    [JSON.stringify({ ...good, seed: "12x" }), /^seed: /],
    [JSON.stringify({ ...good, options: { ...(good.options as object), nodeCount: 99 } }), /^options\.nodeCount: /],
    [JSON.stringify({ ...good, options: { ...(good.options as object), faultSchedule: [{ atUs: 5, kind: "crash", node: 9, crashKind: "host-crash", downtimeUs: 1 }] } }), /^options: fault schedule node out of range/],
    [JSON.stringify({ ...good, options: { ...(good.options as object), failpoints: { "raft-channel/send-refused": 0.1 } } }), /^options\.failpoints: no failpoint "raft-channel\/send-refused"/],
    [JSON.stringify({ ...good, options: { ...(good.options as object), failpoints: { "net.send": 2 } } }), /^options\.failpoints\.net\.send: not a probability/],
  ];
  for (const [text, pattern] of cases) {
    const decoded = decodeRunFile(text);
    assert.ok("error" in decoded, text);
    assert.match(decoded.error, pattern);
    assert.ok(!decoded.error.includes("\n"));
  }
});
