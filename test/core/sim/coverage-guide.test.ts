// Coverage-guided swarm: a steer forces exactly the dimensions it names and an empty one is the
// blind draw; the guide's steers are a function of the runs recorded, in order, and of the seed;
// it explores a value not yet tried and prefers the value whose runs reached rare points.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CoverageGuide, GUIDE_EXPLORE_RUNS } from "../../../src/core/sim/coverage-guide.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { drawSwarmRun } from "../../../src/core/sim/swarm.ts";
import { formatSwarmSteer, isSwarmSteerError, parseSwarmSteer, SWARM_DIMENSIONS, type SwarmDimensions } from "../../../src/core/sim/swarm-steer.ts";
import type { CoveragePointName } from "../../../src/core/env/coverage-points.ts";

const allOff = Object.fromEntries(SWARM_DIMENSIONS.map((name) => [name, false])) as Record<(typeof SWARM_DIMENSIONS)[number], boolean>;

describe("swarm steer", () => {
  test("an empty steer is the blind draw; a steer forces exactly its dimensions", () => {
    for (let n = 1; n <= 20; n++) {
      const seed = seedFromNumber(n);
      assert.deepEqual(drawSwarmRun(seed, undefined, {}), drawSwarmRun(seed, undefined));
      const blind = drawSwarmRun(seed, undefined);
      const steer = { crash: !blind.dimensions.crash, "pre-vote": !blind.dimensions["pre-vote"], orchestrator: !blind.dimensions.orchestrator, "snapshot-often": true };
      const steered = drawSwarmRun(seed, undefined, steer);
      assert.equal(steered.dimensions.crash, steer.crash);
      assert.equal(steered.families.includes("crash"), steer.crash);
      assert.equal(steered.replica.raft?.preVote, steer["pre-vote"]);
      assert.equal(steered.workload !== "kv", steer.orchestrator);
      assert.equal(steered.replica.snapshotEveryEntries, 20);
      // The draws before the first steered dimension are the blind ones (a focus, which a steered seed
      // does not take, would have redrawn the cluster's size).
      if (!blind.families.some((family) => family.startsWith("focus:"))) assert.equal(steered.nodeCount, blind.nodeCount);
      assert.ok(!steered.families.some((family) => family.startsWith("focus:")), "a steered seed takes no focus");
      assert.equal(steered.faultyMs, blind.faultyMs);
      assert.deepEqual(drawSwarmRun(seed, undefined, steer), steered, "a steered draw reproduces from its seed and steer");
    }
  });

  test("the steer's text round-trips and bad text is one reason", () => {
    const steer = { crash: true, "check-quorum": false, loss: true };
    assert.equal(formatSwarmSteer(steer), "loss=1,crash=1,check-quorum=0");
    assert.deepEqual(parseSwarmSteer(formatSwarmSteer(steer)), steer);
    assert.deepEqual(parseSwarmSteer(""), {});
    for (const [text, reason] of [
      ["crash", /not dimension=0 or dimension=1/],
      ["crash=2", /not dimension=0 or dimension=1/],
      ["thunder=1", /unknown dimension "thunder"/],
      ["crash=1,crash=0", /given twice/],
    ] as const) {
      const parsed = parseSwarmSteer(text);
      assert.ok(isSwarmSteerError(parsed), text);
      assert.match(parsed.error, reason);
    }
  });
});

describe("coverage guide", () => {
  const rare: CoveragePointName = "storage/corrupt-store-detected";
  const common: CoveragePointName = "raft/read-index-answered";

  /** Runs where corruption on reached the rare point, and every run reached the common one. */
  function trainedGuide(): CoverageGuide {
    const guide = new CoverageGuide();
    for (let i = 0; i < 12; i++) {
      const corruption = i % 3 === 0;
      const dimensions: SwarmDimensions = { ...allOff, corruption, crash: i % 2 === 0 };
      guide.record(dimensions, new Set(corruption && i < 6 ? [rare, common] : [common]));
    }
    return guide;
  }

  test("no runs recorded: no steer (the first round is blind)", () => {
    assert.deepEqual(new CoverageGuide().steerFor(seedFromNumber(5)), {});
  });

  test("the same runs in the same order give the same steers; another seed may steer others", () => {
    const one = trainedGuide();
    const two = trainedGuide();
    for (let n = 1; n <= 16; n++) assert.deepEqual(one.steerFor(seedFromNumber(n)), two.steerFor(seedFromNumber(n)));
    const texts = new Set(Array.from({ length: 16 }, (_, n) => formatSwarmSteer(one.steerFor(seedFromNumber(n + 1)))));
    assert.ok(texts.size > 1, "seeds steer different subsets of the dimensions");
  });

  test("a value never tried is tried; the value whose runs reached a rare point is preferred", () => {
    const guide = trainedGuide();
    let corruptionSteered = 0;
    for (let n = 1; n <= 32; n++) {
      const steer = guide.steerFor(seedFromNumber(n));
      // Every run had pre-vote off: a steered pre-vote is on (explored).
      if (steer["pre-vote"] !== undefined) assert.equal(steer["pre-vote"], true);
      if (steer.corruption !== undefined) {
        assert.equal(steer.corruption, true, "corruption on reached the rare point");
        corruptionSteered += 1;
      }
      // Crash on and off both reached only the common point, in the same proportion: left to the draw.
      assert.equal(steer.crash, undefined);
    }
    assert.ok(corruptionSteered > 0, "some seeds steer corruption");
    assert.ok(GUIDE_EXPLORE_RUNS >= 1);
  });
});
