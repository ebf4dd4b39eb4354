// Apply of a full placements batch on a large state: a 4,096-entry placements-commit on 5,000
// nodes must stay well under 20 ms (the scheduler commits its batches through it).

import { test } from "node:test";
import assert from "node:assert/strict";
import { ClusterState } from "../../../src/core/cluster/cluster-state.ts";
import { CLUSTER_LIMITS, type CommandEnvelope } from "../../../src/core/cluster/types.ts";
import { Driver, bigQuota, registration, spec } from "./fixtures.ts";

test("a 4,096-entry placements-commit on a 5,000-node state applies well under 20 ms", () => {
  const d = new Driver();
  d.ok({ kind: "tenant-set", name: "acme", quota: bigQuota });
  for (let id = 1; id <= 5_000; id++) d.ok({ kind: "node-register", node: registration(id, { capacity: { vcpus: 64, memoryMib: 262_144, diskGib: 2_000 } }) });
  // Nodes already hold VMs, so the per-node checks (anti-affinity, vmsPerNodeMax) have something to scan.
  const group = { group: "web", mode: "hard" as const, weight: 0, maxPerNode: 4 };
  const placedBefore: number[] = [];
  for (let i = 0; i < 4_096; i++) placedBefore.push(d.create(spec(`old-${i}`, { antiAffinity: group })));
  d.ok({ kind: "placements-commit", checkIndex: 0, placements: placedBefore.map((vmId, i) => ({ vmId, expectedGeneration: 1, nodeId: 1 + (i % 5000) })), evictions: [] });
  const count = CLUSTER_LIMITS.placementsPerCommandMax;
  const ids: number[] = [];
  for (let i = 0; i < count; i++) ids.push(d.create(spec(`new-${i}`, { antiAffinity: group })));
  const checkIndex = d.index;
  const bytes = d.state.snapshot();
  const body: CommandEnvelope = {
    stampUs: 0,
    requestId: "",
    body: { kind: "placements-commit", checkIndex, placements: ids.map((vmId, i) => ({ vmId, expectedGeneration: 1, nodeId: 1 + ((i * 7) % 5000) })), evictions: [] },
  };
  // Fresh copies restored up front, so restoring (and collecting its garbage) is not timed;
  // the first trials also warm the JIT, as a long-running replica's apply is warm.
  const trials = 6;
  const states = Array.from({ length: trials }, () => {
    const state = new ClusterState();
    state.restore(bytes);
    return state;
  });
  // CPU time of this process (not wall time): the machine is shared, and time spent waiting for a
  // core is not the apply's cost. Wall time is printed beside it.
  const samples: number[] = [];
  const wall: number[] = [];
  for (let trial = 0; trial < trials; trial++) {
    const state = states[trial]!;
    const start = performance.now();
    const cpu = process.cpuUsage();
    const result = state.apply(checkIndex + 1, body);
    const used = process.cpuUsage(cpu);
    wall.push(performance.now() - start);
    samples.push((used.user + used.system) / 1000);
    assert.ok(result.status === "ok" && result.detail.kind === "placements");
    assert.equal(result.detail.placed.length, count);
    if (trial === 0) assert.deepEqual(state.audit(), []);
  }
  samples.sort((a, b) => a - b);
  wall.sort((a, b) => a - b);
  console.log(`placements-commit of ${count} on 5000 nodes: cpu best ${samples[0]!.toFixed(2)} ms, median ${samples[trials / 2]!.toFixed(2)} ms; wall best ${wall[0]!.toFixed(2)} ms, median ${wall[trials / 2]!.toFixed(2)} ms`);
  // The goal is well under 20 ms (measured: 10-19 ms CPU on 2 cores shared by seven engineers,
  // load average 12-20); the bound is twice the goal so that a loaded machine does not make the test flaky,
  // while a slowdown of the hot path (a scan of every VM per placement) still fails it.
  assert.ok(samples[0]! < 40, `best ${samples[0]} ms`);
});
