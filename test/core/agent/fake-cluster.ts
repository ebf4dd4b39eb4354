// A stand-in for the replicated cluster state and the controller, for the node agent's tests in
// the simulated world: commands apply one millisecond after their submit (true time) unless the
// node is cut off (then the outcome is "unknown" after a timeout and nothing applies); the
// controller, on its own drifting clock, declares a node down once controllerDeclareDownAfterUs
// has passed since it applied the node's latest renewal, and checks at that instant that none of
// the node's VMs runs (the fencing promise). A VM assigned to a down node is given back to it,
// with a new token, when it registers again.
import assert from "node:assert/strict";
import type { ClusterCommand, ClusterEvent, ClusterResult, ClusterView, NodeId, NodeRecord, TenantRecord, VmRecord } from "../../../src/core/cluster/types.ts";
import { controllerDeclareDownAfterUs, type LeaseTiming } from "../../../src/core/agent/lease-timing.ts";
import type { SubmitCommand, SubmitOutcome } from "../../../src/core/agent/submit-outcome.ts";
import type { EventQueue } from "../../../src/core/sim/event-queue.ts";
import type { SimClock } from "../../../src/core/sim/sim-clock.ts";
import type { Environment } from "../../../src/core/env/environment.ts";
import { nodeRecord, vmRecord } from "./agent-rig.ts";

export class FakeCluster implements ClusterView {
  appliedIndex = 0;
  private readonly nodeRecords = new Map<NodeId, NodeRecord>();
  private readonly vmRecords = new Map<number, VmRecord>();
  /** The controller's clock reading when it applied each node's latest renewal. */
  private readonly renewedAtControllerUs = new Map<NodeId, number>();
  readonly cutOff = new Set<NodeId>();
  readonly declaredDownAtTrueUs: number[] = [];
  readonly commands: ClusterCommand["kind"][] = [];
  readonly requestIds: string[] = [];

  constructor(
    private readonly queue: EventQueue,
    private readonly controllerClock: SimClock,
    private readonly timing: LeaseTiming,
    /** How many VMs of the node run now (the VM host's truth), checked when the node is declared down. */
    private readonly runningOn: (nodeId: NodeId) => number,
  ) {
    const check = (): void => {
      this.controllerTick();
      this.queue.at(this.queue.timeUs + 10_000, check);
    };
    this.queue.at(10_000, check);
  }

  addVm(id: number, nodeId: NodeId): void {
    const epoch = this.nodeRecords.get(nodeId)?.lease.epoch ?? 1;
    this.vmRecords.set(id, vmRecord(id, { nodeId, epoch, placement: 1 }));
  }

  /** The agent's submit: applied after 1 ms, answered 1 ms later on the agent's timers (lost if its process died). */
  submitFor(env: Environment): SubmitCommand {
    return (envelope, done) => {
      const nodeId = env.nodeId;
      this.requestIds.push(envelope.requestId);
      const answer = (outcome: SubmitOutcome, delayMs: number): void => void env.timers.after(delayMs, () => done(outcome));
      if (this.cutOff.has(nodeId)) return answer({ status: "unknown", detail: "timed out" }, 500);
      this.queue.at(this.queue.timeUs + 1_000, () => {
        if (this.cutOff.has(nodeId)) return answer({ status: "unknown", detail: "timed out" }, 500);
        this.appliedIndex += 1;
        this.commands.push(envelope.body.kind);
        answer({ status: "ok", index: this.appliedIndex, result: this.apply(envelope.body) }, 1);
      });
    };
  }

  private apply(command: ClusterCommand): ClusterResult {
    switch (command.kind) {
      case "node-register": {
        const existing = this.nodeRecords.get(command.node.id);
        if (existing !== undefined && existing.state !== "down") return { status: "rejected", code: "already-exists", message: "registered" };
        const epoch = (existing?.lease.epoch ?? 0) + 1;
        const node = { ...nodeRecord(epoch), id: command.node.id, lease: { epoch, renewedIndex: this.appliedIndex } };
        this.nodeRecords.set(node.id, node);
        this.renewedAtControllerUs.set(node.id, this.controllerClock.nowUs());
        for (const vm of [...this.vmRecords.values()]) {
          if (vm.nodeId === node.id) this.vmRecords.set(vm.id, { ...vm, token: { nodeId: node.id, epoch, placement: vm.token.placement + 1 }, phase: "scheduled" });
        }
        return { status: "ok", detail: { kind: "node", node } };
      }
      case "node-heartbeat": {
        const node = this.nodeRecords.get(command.nodeId);
        if (node === undefined) return { status: "rejected", code: "not-found", message: "no node" };
        if (node.state === "down" || node.lease.epoch !== command.epoch) return { status: "rejected", code: "stale-epoch", message: `epoch ${node.lease.epoch}, down` };
        this.nodeRecords.set(node.id, { ...node, lease: { epoch: node.lease.epoch, renewedIndex: this.appliedIndex } });
        this.renewedAtControllerUs.set(node.id, this.controllerClock.nowUs());
        return { status: "ok", detail: { kind: "none" } };
      }
      case "vm-observed": {
        const node = this.nodeRecords.get(command.nodeId);
        if (node === undefined || node.state === "down" || node.lease.epoch !== command.epoch) return { status: "rejected", code: "stale-epoch", message: "stale" };
        for (const report of command.reports) {
          const vm = this.vmRecords.get(report.vmId);
          if (vm !== undefined && vm.token.placement === report.placement) this.vmRecords.set(vm.id, { ...vm, observed: { phase: report.phase, index: this.appliedIndex, detail: report.detail } });
        }
        return { status: "ok", detail: { kind: "none" } };
      }
      default:
        return { status: "rejected", code: "invalid", message: `fake cluster does not apply ${command.kind}` };
    }
  }

  private controllerTick(): void {
    const afterUs = controllerDeclareDownAfterUs(this.timing);
    for (const node of [...this.nodeRecords.values()]) {
      if (node.state === "down") continue;
      const renewedAtUs = this.renewedAtControllerUs.get(node.id)!;
      if (this.controllerClock.nowUs() - renewedAtUs < afterUs) continue;
      // The fencing promise: by now the node's VMs are dead, whatever its process is doing.
      assert.equal(this.runningOn(node.id), 0, `node ${node.id} declared down at ${this.queue.timeUs} us with VMs running`);
      this.appliedIndex += 1;
      this.nodeRecords.set(node.id, { ...node, state: "down" });
      this.declaredDownAtTrueUs.push(this.queue.timeUs);
    }
  }

  // ----- ClusterView
  node(id: NodeId): NodeRecord | undefined {
    return this.nodeRecords.get(id);
  }
  nodes(): Iterable<NodeRecord> {
    return [...this.nodeRecords.values()].sort((a, b) => a.id - b.id);
  }
  vm(id: number): VmRecord | undefined {
    return this.vmRecords.get(id);
  }
  vmByName(): VmRecord | undefined {
    return undefined;
  }
  vms(): Iterable<VmRecord> {
    return [...this.vmRecords.values()].sort((a, b) => a.id - b.id);
  }
  vmsOnNode(nodeId: NodeId): Iterable<VmRecord> {
    const node = this.nodeRecords.get(nodeId);
    // A down node's VMs are not its own any more (they would be placed elsewhere).
    if (node !== undefined && node.state === "down") return [];
    return [...this.vms()].filter((vm) => vm.nodeId === nodeId);
  }
  tenant(): TenantRecord | undefined {
    return undefined;
  }
  eventsAfter(): { readonly events: readonly ClusterEvent[]; readonly truncated: boolean } {
    return { events: [], truncated: false };
  }
}
