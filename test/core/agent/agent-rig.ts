// A test rig for the reconciler (src/core/agent/reconciler.ts): hand-made clocks, slices, backend
// reports and proposal outcomes in; the effects it returns, recorded, out.
import assert from "node:assert/strict";
import type { ClusterCommand, ClusterResult, NodeRecord, NodeRegistration, VmRecord, VmSpec } from "../../../src/core/cluster/types.ts";
import { defaultLeaseTiming } from "../../../src/core/agent/lease-timing.ts";
import { Reconciler, defaultReconcilerOptions, type AgentEffect, type AgentInput, type BackendCall, type ReconcilerOptions } from "../../../src/core/agent/reconciler.ts";
import type { BackendReport, InstanceStatus } from "../../../src/core/agent/vm-backend.ts";
import { testVmSpec } from "./test-vm-spec.ts";

export const NODE_ID = 2;

export const registration: NodeRegistration = {
  id: NODE_ID,
  address: "",
  capacity: { vcpus: 64, memoryMib: 65_536, diskGib: 1_000 },
  overcommit: { cpuPermille: 1000, memoryPermille: 1000, diskPermille: 1000, reserve: { vcpus: 0, memoryMib: 0, diskGib: 0 } },
  labels: [],
  features: ["kvm"],
  topology: { datacenter: "dc", zone: "z", rack: "r" },
};

export function nodeRecord(epoch: number, state: NodeRecord["state"] = "ready", renewedIndex = 1): NodeRecord {
  return { ...registration, state, lease: { epoch, renewedIndex }, allocated: { vcpus: 0, memoryMib: 0, diskGib: 0 }, generation: 1 };
}

export interface VmShape {
  placement?: number;
  epoch?: number;
  nodeId?: number;
  desired?: VmRecord["desired"];
  phase?: VmRecord["phase"];
  observed?: VmRecord["observed"]["phase"];
  spec?: Partial<VmSpec>;
}

export function vmRecord(id: number, shape: VmShape = {}): VmRecord {
  const nodeId = shape.nodeId ?? NODE_ID;
  return {
    id,
    spec: { ...testVmSpec, name: `vm-${id}`, ...shape.spec },
    desired: shape.desired ?? "running",
    phase: shape.phase ?? "scheduled",
    nodeId,
    token: { nodeId, epoch: shape.epoch ?? 1, placement: shape.placement ?? 1 },
    generation: 1,
    observed: { phase: shape.observed ?? "unknown", index: 0, detail: "" },
    addresses: [],
    restarts: 0,
    reason: "",
  };
}

export function status(vmId: number, state: InstanceStatus["state"], placement: number | undefined, exit: InstanceStatus["exit"] = "none", epoch = 1): InstanceStatus {
  return { vmId, state, token: placement === undefined ? undefined : { nodeId: NODE_ID, epoch, placement }, exit };
}

/** A registration's answer: the record as renewed at `renewedIndex` (the index the answer carries, for a registration that renewed). */
export const okNode = (epoch: number, renewedIndex = 1): ClusterResult => ({ status: "ok", detail: { kind: "node", node: nodeRecord(epoch, "ready", renewedIndex) } });
export const okNone: ClusterResult = { status: "ok", detail: { kind: "none" } };

export class AgentRig {
  readonly reconciler: Reconciler;
  monotonicUs = 1_000_000;
  wallUs = 1_700_000_000_000_000;
  appliedIndex = 1;
  node: NodeRecord | undefined = undefined;
  vms: VmRecord[] = [];
  last: readonly AgentEffect[] = [];
  readonly all: AgentEffect[] = [];

  constructor(overrides: Partial<ReconcilerOptions> = {}) {
    this.reconciler = new Reconciler({ ...defaultReconcilerOptions(registration, defaultLeaseTiming), ...overrides });
  }

  get clock() {
    return { monotonicUs: this.monotonicUs, wallUs: this.wallUs };
  }

  /** Heartbeats proposed and not yet answered. */
  readonly pendingHeartbeats = new Set<number>();
  /** Answer every vm-observed at once, ok (the reports test turns it off). */
  autoAnswerReports = true;

  step(input: AgentInput): readonly AgentEffect[] {
    if (input.kind === "outcome") this.pendingHeartbeats.delete(input.proposal);
    const effects = [...this.reconciler.step(this.clock, input)];
    for (let i = 0; i < effects.length; i++) {
      const effect = effects[i]!;
      if (effect.kind !== "propose") continue;
      if (effect.body.kind === "node-heartbeat") this.pendingHeartbeats.add(effect.proposal);
      if (effect.body.kind === "vm-observed" && this.autoAnswerReports) {
        effects.push(...this.reconciler.step(this.clock, { kind: "outcome", proposal: effect.proposal, outcome: { status: "ok", index: this.appliedIndex + 1, result: okNone } }));
      }
    }
    this.last = effects;
    this.all.push(...effects);
    return effects;
  }

  /** Every unanswered heartbeat is lost (a partition). */
  losePending(): void {
    for (const proposal of [...this.pendingHeartbeats]) this.lose(proposal);
  }

  tick(): readonly AgentEffect[] {
    return this.step({ kind: "tick" });
  }

  /** A fresh local read with the rig's node and VMs. */
  read(): readonly AgentEffect[] {
    this.appliedIndex += 1;
    return this.step({ kind: "state", slice: { appliedIndex: this.appliedIndex, node: this.node, vms: [...this.vms].sort((a, b) => a.id - b.id) } });
  }

  advance(us: number): void {
    this.monotonicUs += us;
    this.wallUs += us;
  }

  report(report: BackendReport): readonly AgentEffect[] {
    return this.step({ kind: "report", report });
  }

  instance(s: InstanceStatus): readonly AgentEffect[] {
    return this.report({ kind: "instance", status: s });
  }

  calls(op: BackendCall["op"], effects: readonly AgentEffect[] = this.last): BackendCall[] {
    return effects.flatMap((e) => (e.kind === "backend" && e.call.op === op ? [e.call] : []));
  }

  proposals(kind: ClusterCommand["kind"], effects: readonly AgentEffect[] = this.last): { proposal: number; body: ClusterCommand }[] {
    return effects.flatMap((e) => (e.kind === "propose" && e.body.kind === kind ? [{ proposal: e.proposal, body: e.body }] : []));
  }

  /** The one proposal of `kind` among the last effects. */
  proposal(kind: ClusterCommand["kind"]): number {
    const found = this.proposals(kind);
    assert.equal(found.length, 1, `one ${kind} proposal expected, got ${found.length}`);
    return found[0]!.proposal;
  }

  answer(proposal: number, result: ClusterResult, index = this.appliedIndex + 1): readonly AgentEffect[] {
    return this.step({ kind: "outcome", proposal, outcome: { status: "ok", index, result } });
  }

  lose(proposal: number): readonly AgentEffect[] {
    return this.step({ kind: "outcome", proposal, outcome: { status: "unknown", detail: "timed out" } });
  }

  /** First start of a fresh node: list (empty), register, epoch 1. Returns the register's submit time. */
  join(epoch = 1, instances: InstanceStatus[] = [], fenceDeadlineUs = 0): number {
    this.tick();
    assert.equal(this.calls("list").length, 1, "a new incarnation lists its backend first");
    this.report({ kind: "listed", instances, fenceDeadlineUs });
    const submittedUs = this.monotonicUs;
    const register = this.proposal("node-register");
    this.advance(1_000);
    this.answer(register, okNode(epoch, this.appliedIndex + 1));
    this.node = nodeRecord(epoch);
    return submittedUs;
  }

  /** Renews the lease: a tick, then every heartbeat in flight (the one due now, or an older one) answered ok. Returns the effects. */
  renew(): AgentEffect[] {
    const effects = [...this.tick()];
    assert.ok(this.pendingHeartbeats.size > 0, "a heartbeat is in flight");
    for (const proposal of [...this.pendingHeartbeats]) effects.push(...this.answer(proposal, okNone));
    return effects;
  }
}
