// The operator workload: membership changes (remove a voter, the leader included; add it back
// as a learner; promote it) and leader transfers through the production request path
// (forwarded by followers over the client channel) during runs with faults. Every safety
// property and the linearizability check must still hold, the changes must actually happen,
// and the operator is off by default (the other tests' schedules do not depend on it).
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { runSimulation, type SimulationOptions } from "../../../src/core/sim/simulation.ts";
import { FAULT_PROFILES } from "../../../src/core/sim/fault-profile.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import type { AdminWorkloadStats } from "../../../src/core/sim/admin-workload.ts";

function options(seed: number, profile: string, nodeCount: number): SimulationOptions {
  return { seed: seedFromNumber(seed), nodeCount, durationMs: 15_000, profile: FAULT_PROFILES[profile]!, admin: { transferEveryMs: [200, 600] } };
}

const RUNS = [
  ["standard", 1, 5],
  ["standard", 2, 3],
  ["heavy", 3, 5],
  ["deposed-leader", 4, 5],
  ["leader-churn", 5, 3],
] as const;

describe("admin workload: membership changes and leader transfers during runs", () => {
  const totals: AdminWorkloadStats = { sent: 0, ok: 0, notApplied: 0, unknown: 0, unanswered: 0, transfers: 0, removes: 0, removesOfLeader: 0, learnersAdded: 0, promotions: 0 };
  for (const [profile, seed, nodeCount] of RUNS) {
    test(`${profile} seed ${seed}, ${nodeCount} nodes: safe and linearizable`, () => {
      const result = runSimulation(options(seed, profile, nodeCount));
      assert.equal(result.failure, undefined, `${result.failure?.property}: ${result.failure?.message}`);
      assert.equal(result.linearizability.verdict, "ok");
      const admin = result.admin!;
      assert.ok(admin.sent >= 5, `only ${admin.sent} requests sent`);
      // Every request has one outcome (the last one may still be in flight at the end).
      const answered = admin.ok + admin.notApplied + admin.unknown + admin.unanswered;
      assert.ok(answered === admin.sent || answered === admin.sent - 1, JSON.stringify(admin));
      assert.equal(admin.ok, admin.transfers + admin.removes + admin.learnersAdded + admin.promotions);
      for (const key of Object.keys(totals) as Array<keyof AdminWorkloadStats>) totals[key] += admin[key];
    });
  }

  test("across the runs: voters removed (the leader too), added back as learners, promoted; leadership transferred", () => {
    assert.ok(totals.removes >= 5, JSON.stringify(totals));
    assert.ok(totals.removesOfLeader >= 1, JSON.stringify(totals));
    assert.ok(totals.learnersAdded >= 3 && totals.promotions >= 3, JSON.stringify(totals));
    assert.ok(totals.transfers >= 10, JSON.stringify(totals));
  });

  test("off by default, on in the membership profile", () => {
    const result = runSimulation({ ...options(1, "standard", 3), admin: undefined, durationMs: 2_000 });
    assert.equal(result.admin, undefined);
    const membership = runSimulation({ seed: seedFromNumber(3), nodeCount: 5, durationMs: 15_000, profile: FAULT_PROFILES.membership! });
    assert.equal(membership.failure, undefined, `${membership.failure?.property}: ${membership.failure?.message}`);
    assert.equal(membership.linearizability.verdict, "ok");
    assert.ok(membership.admin !== undefined && membership.admin.ok >= 3, JSON.stringify(membership.admin));
  });
});
