// The operator workload: leader transfers through the production request path (forwarded by
// followers over the client channel) during runs with faults. Every safety property and the
// linearizability check must still hold, the transfers must actually move leadership, and the
// operator is off by default (the other tests' schedules do not depend on it).
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { runSimulation, type SimulationOptions } from "../../../src/core/sim/simulation.ts";
import { FAULT_PROFILES } from "../../../src/core/sim/fault-profile.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";

function options(seed: number, profile: string): SimulationOptions {
  return { seed: seedFromNumber(seed), nodeCount: 5, durationMs: 15_000, profile: FAULT_PROFILES[profile]!, admin: { transferEveryMs: [200, 600] } };
}

describe("admin workload: leader transfers during runs", () => {
  for (const [profile, seed] of [
    ["standard", 1],
    ["standard", 2],
    ["heavy", 3],
    ["deposed-leader", 4],
  ] as const) {
    test(`${profile} seed ${seed}: safe and linearizable, and transfers move leadership`, () => {
      const result = runSimulation(options(seed, profile));
      assert.equal(result.failure, undefined, `${result.failure?.property}: ${result.failure?.message}`);
      assert.equal(result.linearizability.verdict, "ok");
      const admin = result.admin!;
      assert.ok(admin.sent >= 10, `only ${admin.sent} transfers sent`);
      assert.ok(admin.ok >= 5, `only ${admin.ok} transfers succeeded: ${JSON.stringify(admin)}`);
      // Every transfer has one outcome (the last one may still be in flight at the end).
      const answered = admin.ok + admin.notApplied + admin.unknown + admin.unanswered;
      assert.ok(answered === admin.sent || answered === admin.sent - 1, JSON.stringify(admin));
      // Leadership moved many times more than the faults alone would move it.
      const baseline = runSimulation({ ...options(seed, profile), admin: undefined });
      assert.ok(result.leaders.length > baseline.leaders.length, `leaders: ${result.leaders.length} with transfers, ${baseline.leaders.length} without`);
      assert.equal(baseline.admin, undefined);
    });
  }
});
