// The cluster state's planted bugs (docs/PLANTED-BUGS.md, "orchestrator" rows): each changes the
// behaviour the way its name says, and audit() catches it, both in a hand-made case and in random
// command sequences (fast-check finds a sequence whose audit fails).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ClusterState, type ClusterPlantedBug } from "../../../src/core/cluster/cluster-state.ts";
import { Driver, pool, spec } from "./fixtures.ts";
import { PREAMBLE, envelopeFor, stepArb } from "./random-commands.ts";

function bug(name: ClusterPlantedBug): ReadonlySet<ClusterPlantedBug> {
  return new Set([name]);
}

/** Whether some random command sequence breaks audit() with the bug on (and none does with it off, over the same seeds). */
function randomRunsCatch(name: ClusterPlantedBug): { caught: boolean; firstProblem: string } {
  let firstProblem = "";
  const property = (plantedBugs: ReadonlySet<ClusterPlantedBug> | undefined) =>
    fc.property(fc.array(stepArb, { minLength: 10, maxLength: 80 }), (steps) => {
      const state = new ClusterState(plantedBugs === undefined ? {} : { plantedBugs });
      let index = 0;
      for (const step of [...PREAMBLE, ...steps]) {
        state.apply(++index, envelopeFor(state, step));
        const problems = state.audit();
        if (problems.length > 0) {
          if (firstProblem === "") firstProblem = problems[0]!;
          return false;
        }
      }
      return true;
    });
  // No shrinking: the test needs a catch, not the smallest one.
  const withBug = fc.check(property(bug(name)), { numRuns: 300, seed: 42, endOnFailure: true });
  const without = fc.check(property(undefined), { numRuns: 300, seed: 42 });
  assert.equal(without.failed, false, "the same runs pass with the bug off");
  return { caught: withBug.failed, firstProblem };
}

describe("cluster state planted bugs", () => {
  test("capacity-check-stale: a batch overfills a node, and audit() says so", () => {
    for (const on of [false, true]) {
      const d = Driver.withNodes(1, on ? bug("capacity-check-stale") : undefined);
      const big = { resources: { vcpus: 6, memoryMib: 1024, diskGib: 1 } };
      const a = d.create(spec("a", big));
      const b = d.create(spec("b", big));
      const detail = d.ok({ kind: "placements-commit", checkIndex: 0, placements: [{ vmId: a, expectedGeneration: 1, nodeId: 1 }, { vmId: b, expectedGeneration: 1, nodeId: 1 }], evictions: [] });
      assert.ok(detail.kind === "placements");
      assert.deepEqual(detail.placed, on ? [a, b] : [a]);
      const problems = d.state.audit();
      if (on) assert.match(problems.join("\n"), /node 1: allocated beyond allocatable: vcpus/);
      else assert.deepEqual(problems, []);
    }
    const random = randomRunsCatch("capacity-check-stale");
    assert.ok(random.caught, "random command sequences catch it");
    assert.match(random.firstProblem, /allocated beyond allocatable/);
  });

  test("quota-not-released-on-delete: a deleted vm's usage stays, and audit() says so", () => {
    for (const on of [false, true]) {
      const d = Driver.withNodes(1, on ? bug("quota-not-released-on-delete") : undefined);
      const id = d.create(spec("a"));
      d.ok({ kind: "vm-delete", vmId: id, expectedGeneration: 0 });
      assert.equal(d.state.tenant("acme")!.usage.vms, on ? 1 : 0);
      const problems = d.state.audit();
      if (on) assert.match(problems.join("\n"), /tenant acme: usage .* but its vms sum to/);
      else assert.deepEqual(problems, []);
    }
    const random = randomRunsCatch("quota-not-released-on-delete");
    assert.ok(random.caught, "random command sequences catch it");
    assert.match(random.firstProblem, /usage .* but its vms sum to/);
  });

  test("ip-allocated-without-check: two vms get one address, and audit() says so", () => {
    for (const on of [false, true]) {
      const d = Driver.withNodes(1, on ? bug("ip-allocated-without-check") : undefined);
      d.ok({ kind: "ip-pool-create", pool: pool("net", "10.0.0.0/24", "10.0.0.1") });
      const nic = [{ mode: "user" as const, ipPool: "net", portForwards: [] }];
      const a = d.create(spec("a", { interfaces: nic }));
      const b = d.create(spec("b", { interfaces: nic }));
      assert.equal(d.state.vm(b)!.addresses[0]!.address, on ? "10.0.0.2" : "10.0.0.3");
      assert.equal(d.state.vm(a)!.addresses[0]!.address, "10.0.0.2");
      const problems = d.state.audit();
      if (on) assert.match(problems.join("\n"), /address 10\.0\.0\.2 held by vm \d+ and vm \d+/);
      else assert.deepEqual(problems, []);
    }
    const random = randomRunsCatch("ip-allocated-without-check");
    assert.ok(random.caught, "random command sequences catch it");
    assert.match(random.firstProblem, /held by vm|does not record|pools hold/);
  });
});
