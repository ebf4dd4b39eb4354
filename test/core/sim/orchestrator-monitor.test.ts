// Every orchestrator property the monitor checks fires on a history made to break it, and stays
// quiet on the same history without the break (src/core/sim/orchestrator-monitor.ts).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ClusterState, type ClusterPlantedBug } from "../../../src/core/cluster/cluster-state.ts";
import type { ClusterCommand, FencingToken, VmSpec } from "../../../src/core/cluster/types.ts";
import { OrchestratorMonitor, type ReplicaState } from "../../../src/core/sim/orchestrator-monitor.ts";
import type { PropertyName } from "../../../src/core/sim/properties.ts";
import { defaultSimOrchestratorOptions, nodeRegistration } from "../../../src/core/sim/sim-orchestrator.ts";
import { DEFAULT_SCHEDULER_OPTIONS, type SchedulePlan } from "../../../src/core/scheduler/scheduler-types.ts";
import { spec as fixtureSpec } from "../cluster/fixtures.ts";

interface Failure {
  readonly property: PropertyName;
  readonly message: string;
}

class Rig {
  readonly failures: Failure[] = [];
  readonly replicas: ReplicaState[] = [];
  readonly monitor = new OrchestratorMonitor(
    (property, message) => this.failures.push({ property, message }),
    () => this.replicas,
  );
  readonly state: ClusterState;
  private index = 0;

  constructor(bugs: ClusterPlantedBug[] = []) {
    this.state = new ClusterState({ plantedBugs: new Set(bugs) });
    this.replicas.push({ nodeId: 1, state: this.state });
    for (const id of [1, 2]) this.apply({ kind: "node-register", node: nodeRegistration(defaultSimOrchestratorOptions, id) });
    this.apply({ kind: "tenant-set", name: "acme", quota: { vmsMax: 50, vcpusMax: 100, memoryMibMax: 100_000, diskGibMax: 1_000, vmsPerNodeMax: 50 } });
  }

  apply(body: ClusterCommand, state: ClusterState = this.state): void {
    this.index += 1;
    const result = state.apply(this.index, { stampUs: 0, requestId: "", body });
    assert.equal(result.status, "ok", JSON.stringify(result));
    if (state === this.state) this.monitor.applied(1, this.index, state);
  }

  /** Creates a VM and places it on a node; returns its id and token. */
  placed(name: string, nodeId: number, overrides: Partial<VmSpec> = {}): { id: number; token: FencingToken } {
    this.apply({ kind: "vm-create", spec: spec(name, overrides), desired: "running" });
    const vm = this.state.vmByName("acme", name)!;
    this.apply({ kind: "placements-commit", checkIndex: 0, placements: [{ vmId: vm.id, expectedGeneration: vm.generation, nodeId }], evictions: [] });
    const placed = this.state.vm(vm.id)!;
    assert.equal(placed.nodeId, nodeId);
    return { id: vm.id, token: placed.token };
  }

  properties(): PropertyName[] {
    return this.failures.map((failure) => failure.property);
  }
}

/** The cluster tests' spec (test/core/cluster/fixtures.ts), small and of priority 0 unless overridden. */
function spec(name: string, overrides: Partial<VmSpec> = {}): VmSpec {
  return fixtureSpec(name, { resources: { vcpus: 1, memoryMib: 512, diskGib: 1 }, priority: 0, ...overrides });
}

describe("orchestrator monitor", () => {
  test("VM At Most Once: a second running instance of one VM", () => {
    const rig = new Rig();
    const vm = rig.placed("a", 1);
    rig.monitor.instance(1, vm.id, vm.token, true);
    assert.deepEqual(rig.failures, []);
    rig.monitor.instance(1, vm.id, vm.token, false);
    rig.monitor.instance(1, vm.id, vm.token, true);
    assert.deepEqual(rig.failures, [], "a stop and a start again is one instance at a time");
    rig.monitor.instance(2, vm.id, { ...vm.token, nodeId: 2 }, true);
    assert.deepEqual(rig.properties().slice(0, 1), ["VM At Most Once"]);
  });

  test("Fresh Fencing Token: a start under an older placement, or under an epoch that was declared down", () => {
    const rig = new Rig();
    const vm = rig.placed("a", 1);
    rig.monitor.instance(1, vm.id, { ...vm.token, placement: vm.token.placement - 1 }, true);
    assert.equal(rig.properties()[0], "Fresh Fencing Token");

    const down = new Rig();
    const other = down.placed("b", 2);
    down.apply({ kind: "node-declare-down", nodeId: 2, epoch: 1, renewedIndex: down.state.node(2)!.lease.renewedIndex });
    down.monitor.instance(2, other.id, other.token, true);
    assert.equal(down.properties()[0], "Fresh Fencing Token");
  });

  test("Node Capacity Held: running instances beyond the node's allocatable resources", () => {
    const rig = new Rig();
    // 8 vCPUs at 2x overcommit = 16; memory 4 GiB less 512 MiB reserve = 3,584 MiB.
    const big = { resources: { vcpus: 8, memoryMib: 2_048, diskGib: 10 } };
    const a = rig.placed("a", 1, big);
    rig.monitor.instance(1, a.id, a.token, true);
    assert.deepEqual(rig.failures, []);
    // A second one the state machine would never place there; the true state has it anyway.
    const b = rig.placed("b", 2, big);
    rig.monitor.instance(1, b.id, { ...b.token, nodeId: 1 }, true);
    assert.ok(rig.properties().includes("Node Capacity Held"), JSON.stringify(rig.failures));
  });

  test("Anti-Affinity Held: two running VMs of one hard group on one node", () => {
    const rig = new Rig();
    const hard = { antiAffinity: { group: "db", mode: "hard" as const, weight: 1, maxPerNode: 1 } };
    const a = rig.placed("a", 1, hard);
    const b = rig.placed("b", 2, hard);
    rig.monitor.instance(1, a.id, a.token, true);
    rig.monitor.instance(2, b.id, b.token, true);
    assert.deepEqual(rig.failures, []);
    rig.monitor.instance(1, b.id, { ...b.token, nodeId: 1, placement: b.token.placement + 1 }, true);
    assert.ok(rig.properties().includes("Anti-Affinity Held") || rig.properties().includes("VM At Most Once"), JSON.stringify(rig.failures));
  });

  test("Cluster State Consistent: the state's own audit after a command", () => {
    const rig = new Rig(["quota-not-released-on-delete"]);
    rig.apply({ kind: "vm-create", spec: spec("a"), desired: "stopped" });
    const vm = rig.state.vmByName("acme", "a")!;
    assert.deepEqual(rig.failures, []);
    rig.apply({ kind: "vm-delete", vmId: vm.id, expectedGeneration: vm.generation });
    assert.equal(rig.properties()[0], "Cluster State Consistent");
  });

  test("Cluster State Agreement: two replicas with different states at one applied index", () => {
    const rig = new Rig();
    const twin = new ClusterState();
    const other = new ClusterState();
    const command = (state: ClusterState, index: number, body: ClusterCommand): void => void state.apply(index, { stampUs: 0, requestId: "", body });
    command(twin, 1, { kind: "node-register", node: nodeRegistration(defaultSimOrchestratorOptions, 1) });
    command(other, 1, { kind: "node-register", node: nodeRegistration(defaultSimOrchestratorOptions, 2) });
    const monitor = new OrchestratorMonitor((property) => rig.failures.push({ property, message: "" }), () => []);
    monitor.applied(1, 1, twin);
    monitor.applied(2, 1, twin);
    assert.deepEqual(rig.failures, []);
    monitor.applied(3, 1, other);
    assert.deepEqual(rig.properties(), ["Cluster State Agreement"]);
  });

  test("Generations Increase: a replica whose record went back to an older generation", () => {
    const failures: PropertyName[] = [];
    const monitor = new OrchestratorMonitor((property) => failures.push(property), () => []);
    const newer = new ClusterState();
    const older = new ClusterState();
    const register = { kind: "node-register" as const, node: nodeRegistration(defaultSimOrchestratorOptions, 1) };
    newer.apply(1, { stampUs: 0, requestId: "", body: register });
    newer.apply(2, { stampUs: 0, requestId: "", body: { kind: "node-set-state", nodeId: 1, state: "cordoned" } });
    older.apply(3, { stampUs: 0, requestId: "", body: register });
    monitor.applied(1, 2, newer);
    monitor.restarted(2); // another replica's restart does not excuse this one
    monitor.applied(1, 3, older);
    assert.deepEqual(failures, ["Generations Increase"]);
    const excused = new OrchestratorMonitor((property) => failures.push(property), () => []);
    excused.applied(1, 2, newer);
    excused.restarted(1);
    excused.applied(1, 3, older);
    assert.deepEqual(failures, ["Generations Increase"], "after its own restart a replica starts over");
  });

  test("VM Liveness: a VM desired running that is placed but runs nowhere; a VM no node can hold is excused", () => {
    const rig = new Rig();
    const vm = rig.placed("a", 1);
    rig.monitor.checkLiveness(DEFAULT_SCHEDULER_OPTIONS, 10_000);
    assert.deepEqual(rig.properties(), ["VM Liveness"]);

    const quiet = new Rig();
    const running = quiet.placed("a", 1);
    quiet.monitor.instance(1, running.id, running.token, true);
    quiet.apply({ kind: "vm-create", spec: spec("huge", { resources: { vcpus: 64, memoryMib: 1_000, diskGib: 1 } }), desired: "running" });
    quiet.monitor.checkLiveness(DEFAULT_SCHEDULER_OPTIONS, 10_000);
    assert.deepEqual(quiet.failures, [], JSON.stringify(quiet.failures));
    assert.ok(vm.id > 0);
  });

  test("VM Liveness: a pending VM a node admits is not excused by a scheduler that declares it unplaceable", () => {
    const rig = new Rig();
    rig.apply({ kind: "vm-create", spec: spec("a"), desired: "running" });
    rig.monitor.checkLiveness({ ...DEFAULT_SCHEDULER_OPTIONS, plantedBugs: ["give-up-after-half"] }, 10_000);
    assert.deepEqual(rig.properties(), ["VM Liveness"], "the scheduler under test is not the judge of what fits");
  });

  test("No Orphan VMs: an instance still running for a VM stopped by its user", () => {
    const rig = new Rig();
    const vm = rig.placed("a", 1);
    rig.monitor.instance(1, vm.id, vm.token, true);
    rig.monitor.checkLiveness(DEFAULT_SCHEDULER_OPTIONS, 10_000);
    assert.deepEqual(rig.failures, [], "a wanted instance is no orphan");
    rig.apply({ kind: "vm-set-desired", vmId: vm.id, expectedGeneration: rig.state.vm(vm.id)!.generation, desired: "stopped" });
    rig.monitor.checkLiveness(DEFAULT_SCHEDULER_OPTIONS, 10_000);
    assert.deepEqual(rig.properties(), ["No Orphan VMs"]);
  });

  test("Fenced Before Down: a node declared down while one of its VMs still runs under that epoch", () => {
    const rig = new Rig();
    const vm = rig.placed("a", 2);
    rig.monitor.instance(2, vm.id, vm.token, true);
    rig.monitor.instance(2, vm.id, vm.token, false);
    rig.apply({ kind: "node-declare-down", nodeId: 2, epoch: 1, renewedIndex: rig.state.node(2)!.lease.renewedIndex });
    assert.deepEqual(rig.failures, [], "fenced first: quiet");

    const late = new Rig();
    const other = late.placed("b", 2);
    late.monitor.instance(2, other.id, other.token, true);
    late.apply({ kind: "node-declare-down", nodeId: 2, epoch: 1, renewedIndex: late.state.node(2)!.lease.renewedIndex });
    assert.deepEqual(late.properties(), ["Fenced Before Down"]);
  });

  test("Plan Admissible: a plan placing two VMs where only one fits; the batch counted, it is quiet", () => {
    const rig = new Rig();
    // 3,584 MiB allocatable per node: two VMs of 2,048 MiB do not fit on one.
    for (const name of ["a", "b"]) rig.apply({ kind: "vm-create", spec: spec(name, { resources: { vcpus: 1, memoryMib: 2_048, diskGib: 1 } }), desired: "running" });
    const ids = [rig.state.vmByName("acme", "a")!.id, rig.state.vmByName("acme", "b")!.id];
    const plan = (nodeIds: readonly number[]): SchedulePlan => ({
      appliedIndex: rig.state.appliedIndex,
      decisions: ids.map((vmId, i) => ({ kind: "placed", vmId, nodeId: nodeIds[i]!, score: 0 })),
      placements: ids.map((vmId, i) => ({ vmId, expectedGeneration: rig.state.vm(vmId)!.generation, nodeId: nodeIds[i]! })),
      evictions: [],
      roundRobinLastNodeId: 0,
    });
    rig.monitor.planned(rig.state, plan([1, 2]));
    assert.deepEqual(rig.failures, [], JSON.stringify(rig.failures));
    rig.monitor.planned(rig.state, plan([1, 1]));
    assert.deepEqual(rig.properties(), ["Plan Admissible"]);
    assert.equal(rig.state.vm(ids[0]!)!.phase, "pending", "the check works on a copy");
  });

  test("Unplaceable Only When Full: a VM declared unplaceable that a node admits; one no node admits is quiet", () => {
    const rig = new Rig();
    rig.apply({ kind: "vm-create", spec: spec("a"), desired: "running" });
    const vmId = rig.state.vmByName("acme", "a")!.id;
    const unplaceable = (decisions: SchedulePlan["decisions"]): SchedulePlan => ({ appliedIndex: rig.state.appliedIndex, decisions, placements: [], evictions: [], roundRobinLastNodeId: 0 });
    rig.monitor.planned(rig.state, unplaceable([{ kind: "unplaceable", vmId, explanation: "no node", exclusions: [] }]));
    assert.deepEqual(rig.properties(), ["Unplaceable Only When Full"]);

    const full = new Rig();
    full.apply({ kind: "vm-create", spec: spec("big", { resources: { vcpus: 1, memoryMib: 4_000, diskGib: 1 } }), desired: "running" });
    const bigId = full.state.vmByName("acme", "big")!.id;
    full.monitor.planned(full.state, { appliedIndex: full.state.appliedIndex, decisions: [{ kind: "unplaceable", vmId: bigId, explanation: "no node", exclusions: [] }], placements: [], evictions: [], roundRobinLastNodeId: 0 });
    assert.deepEqual(full.failures, [], "no node admits it: quiet");
  });
});
