// The cluster controller on one simulated clock, over a real ClusterState: proposals apply a
// millisecond after they are submitted. It declares a node down only once the lease bound Lc has
// passed since it first saw the node's latest renewal, never before; schedules pending VMs; moves
// a draining node's VMs off one at a time; and proposes nothing while it does not lead.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { controllerDeclareDownAfterUs } from "../../../src/core/agent/lease-timing.ts";
import type { SubmitOutcome } from "../../../src/core/agent/submit-outcome.ts";
import { ClusterState } from "../../../src/core/cluster/cluster-state.ts";
import type { ClusterCommand, CommandEnvelope, VmSpec } from "../../../src/core/cluster/types.ts";
import { ClusterController, type ControllerPlantedBug } from "../../../src/core/controller/cluster-controller.ts";
import { silentLogger, noFailpoints, type Environment } from "../../../src/core/env/environment.ts";
import { noCoverage } from "../../../src/core/env/coverage-points.ts";
import { EventQueue } from "../../../src/core/sim/event-queue.ts";
import { SimClock, SimTimers } from "../../../src/core/sim/sim-clock.ts";
import { nodeRegistration, defaultSimOrchestratorOptions, simLeaseTiming } from "../../../src/core/sim/sim-orchestrator.ts";
import { DEFAULT_SCHEDULER_OPTIONS } from "../../../src/core/scheduler/scheduler-types.ts";
import { spec as fixtureSpec } from "../cluster/fixtures.ts";

const timing = simLeaseTiming;
const LC_US = controllerDeclareDownAfterUs(timing);

class Rig {
  readonly queue = new EventQueue(100_000);
  readonly clock = new SimClock(this.queue, 0, 0);
  readonly state = new ClusterState();
  readonly proposed: ClusterCommand[] = [];
  leader = true;
  private index = 0;
  readonly controller: ClusterController;

  constructor(bugs: ControllerPlantedBug[] = []) {
    const timers = new SimTimers(this.queue, this.clock, (callback) => callback(), 10_000);
    const env = {
      nodeId: 1,
      monotonic: this.clock,
      wall: this.clock,
      timers,
      random: { intBelow: () => 0, float: () => 0 },
      disk: undefined as never,
      transport: undefined as never,
      log: silentLogger,
      failpoint: noFailpoints,
      reached: noCoverage,
    } as Environment;
    this.controller = new ClusterController(
      env,
      {
        readState: () => this.state,
        isLeader: () => this.leader,
        submit: (envelope, done) => {
          this.proposed.push(envelope.body);
          this.queue.after(1_000, () => done(this.apply(envelope)));
        },
      },
      { timing, roundIntervalMs: 100, scheduler: DEFAULT_SCHEDULER_OPTIONS, scheduleBatchMax: 64, plantedBugs: new Set(bugs) },
    );
  }

  apply(envelope: CommandEnvelope): SubmitOutcome {
    this.index += 1;
    return { status: "ok", index: this.index, result: this.state.apply(this.index, envelope) };
  }

  command(body: ClusterCommand): void {
    const outcome = this.apply({ stampUs: 0, requestId: "", body });
    assert.ok(outcome.status === "ok" && outcome.result.status === "ok", JSON.stringify(outcome));
  }

  runUntilUs(timeUs: number): void {
    while (this.queue.peekTimeUs() !== undefined && this.queue.peekTimeUs()! <= timeUs) this.queue.runNext();
  }

  kinds(): string[] {
    return this.proposed.map((command) => command.kind);
  }
}

/** The cluster tests' spec (test/core/cluster/fixtures.ts), small and of priority 0 unless overridden. */
function spec(name: string, overrides: Partial<VmSpec> = {}): VmSpec {
  return fixtureSpec(name, { resources: { vcpus: 1, memoryMib: 512, diskGib: 1 }, priority: 0, ...overrides });
}

function withNodes(rig: Rig, count: number): void {
  for (let id = 1; id <= count; id++) rig.command({ kind: "node-register", node: nodeRegistration(defaultSimOrchestratorOptions, id) });
  rig.command({ kind: "tenant-set", name: "acme", quota: { vmsMax: 100, vcpusMax: 100, memoryMibMax: 100_000, diskGibMax: 1_000, vmsPerNodeMax: 100 } });
}

describe("cluster controller", () => {
  test("declares a silent node down once Lc has passed since it saw the node's last renewal, and not a moment before", () => {
    const rig = new Rig();
    withNodes(rig, 2);
    rig.controller.start();
    // Node 1 keeps renewing; node 2 falls silent at once.
    const renew = (): void => {
      rig.command({ kind: "node-heartbeat", nodeId: 1, epoch: 1 });
      rig.queue.after(timing.renewIntervalUs, renew);
    };
    rig.queue.after(timing.renewIntervalUs, renew);
    rig.runUntilUs(LC_US - 1);
    assert.deepEqual(rig.kinds().filter((kind) => kind === "node-declare-down"), [], "nothing is declared before Lc");
    rig.runUntilUs(LC_US + 250_000);
    const declared = rig.proposed.filter((command) => command.kind === "node-declare-down");
    assert.equal(declared.length, 1);
    assert.deepEqual(declared[0], { kind: "node-declare-down", nodeId: 2, epoch: 1, renewedIndex: rig.state.node(2)!.lease.renewedIndex });
    assert.equal(rig.state.node(2)!.state, "down");
    assert.equal(rig.state.node(1)!.state, "ready", "a renewing node is never declared down");
  });

  test("planted bug no-fencing-wait: the node is declared down long before Lc", () => {
    const rig = new Rig(["no-fencing-wait"]);
    withNodes(rig, 1);
    rig.controller.start();
    rig.runUntilUs(timing.leaseDurationUs);
    assert.equal(rig.state.node(1)!.state, "down", "declared within one lease, while the node's VMs may still run");
  });

  test("proposes nothing while it does not lead, and starts from its own observation when it does", () => {
    const rig = new Rig();
    withNodes(rig, 1);
    rig.leader = false;
    rig.controller.start();
    rig.runUntilUs(2 * LC_US);
    assert.deepEqual(rig.proposed, []);
    rig.leader = true;
    rig.runUntilUs(2 * LC_US + 500_000);
    // It noted the renewal while following; Lc has passed since, so it may declare at once.
    assert.equal(rig.state.node(1)!.state, "down");
  });

  test("woken by a change, it places a new VM within a tenth of a round, not at the next round; a burst of wakes costs one round", () => {
    const rig = new Rig();
    withNodes(rig, 1);
    rig.controller.start();
    rig.runUntilUs(150_000); // one regular round at 100 ms; the next is due at 200 ms
    const roundsBefore = rig.controller.stats.rounds;
    rig.command({ kind: "vm-create", spec: spec("quick"), desired: "running" });
    for (let i = 0; i < 10; i++) rig.controller.wake();
    rig.runUntilUs(160_000); // 100 ms + a tenth of the 100 ms interval = 110 ms: the early round ran at once
    assert.equal(rig.controller.stats.rounds, roundsBefore + 1, "ten wakes, one early round");
    assert.ok(rig.kinds().includes("placements-commit"), "placed at the early round");
    rig.controller.wake();
    rig.runUntilUs(165_000);
    assert.equal(rig.controller.stats.rounds, roundsBefore + 2, "another wake a tenth of a round later: another round");
  });

  test("schedules pending VMs and places them", () => {
    const rig = new Rig();
    withNodes(rig, 3);
    for (let i = 0; i < 5; i++) rig.command({ kind: "vm-create", spec: spec(`vm-${i}`), desired: "running" });
    rig.controller.start();
    const renew = (): void => {
      for (const id of [1, 2, 3]) rig.command({ kind: "node-heartbeat", nodeId: id, epoch: 1 });
      rig.queue.after(timing.renewIntervalUs, renew);
    };
    renew();
    rig.runUntilUs(1_000_000);
    const vms = [...rig.state.vms()];
    assert.equal(vms.length, 5);
    for (const vm of vms) assert.ok(vm.nodeId !== 0 && vm.phase === "scheduled", `${vm.spec.name}: ${vm.phase} on ${vm.nodeId}`);
    // Spread: five VMs over three nodes, no node with more than two.
    const perNode = new Map<number, number>();
    for (const vm of vms) perNode.set(vm.nodeId, (perNode.get(vm.nodeId) ?? 0) + 1);
    assert.ok(Math.max(...perNode.values()) <= 2, JSON.stringify([...perNode]));
    assert.deepEqual(rig.state.audit(), []);
  });

  test("moves a draining node's VMs off one at a time", () => {
    const rig = new Rig();
    withNodes(rig, 2);
    for (let i = 0; i < 3; i++) rig.command({ kind: "vm-create", spec: spec(`vm-${i}`, { constraints: [{ kind: "pinned", nodeId: 1 }] }), desired: "running" });
    rig.controller.start();
    const renew = (): void => {
      for (const id of [1, 2]) rig.command({ kind: "node-heartbeat", nodeId: id, epoch: 1 });
      rig.queue.after(timing.renewIntervalUs, renew);
    };
    renew();
    rig.runUntilUs(500_000);
    const placed = [...rig.state.vmsOnNode(1)];
    assert.equal(placed.length, 3);
    // The agent reports them running.
    rig.command({ kind: "vm-observed", nodeId: 1, epoch: 1, reports: placed.map((vm) => ({ vmId: vm.id, placement: vm.token.placement, phase: "running" as const, detail: "" })) });
    assert.ok([...rig.state.vmsOnNode(1)].every((vm) => vm.phase === "running"));
    rig.command({ kind: "node-set-state", nodeId: 1, state: "draining" });
    rig.runUntilUs(1_500_000);
    const migrations = rig.proposed.filter((command) => command.kind === "vm-migrate");
    assert.equal(migrations.length, 1, "one migration until the first VM has stopped");
    const stopping = [...rig.state.vmsOnNode(1)].filter((vm) => vm.phase === "stopping");
    assert.equal(stopping.length, 1);
  });

  test("preempts once for a VM, and waits for its evictees to stop before scheduling it again", () => {
    const rig = new Rig();
    withNodes(rig, 1);
    // Node 1 holds 3,584 MiB: two preemptible low-priority VMs fill it.
    for (const name of ["low-a", "low-b"]) rig.command({ kind: "vm-create", spec: spec(name, { resources: { vcpus: 1, memoryMib: 1_792, diskGib: 1 }, preemptible: true }), desired: "running" });
    rig.controller.start();
    const renew = (): void => {
      rig.command({ kind: "node-heartbeat", nodeId: 1, epoch: 1 });
      rig.queue.after(timing.renewIntervalUs, renew);
    };
    renew();
    rig.runUntilUs(500_000);
    assert.equal([...rig.state.vmsOnNode(1)].length, 2);
    rig.command({ kind: "vm-create", spec: spec("high", { resources: { vcpus: 1, memoryMib: 1_792, diskGib: 1 }, priority: 500 }), desired: "running" });
    rig.runUntilUs(5_000_000);
    const evictions = rig.proposed.flatMap((command) => (command.kind === "placements-commit" ? command.evictions : []));
    assert.equal(evictions.length, 1, `one eviction while the evictee is still stopping: ${JSON.stringify(evictions)}`);
    assert.equal([...rig.state.vmsOnNode(1)].filter((vm) => vm.phase === "stopping").length, 1);
  });
});
