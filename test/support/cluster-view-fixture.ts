// A small in-memory ClusterView for the scheduler's tests and bench, built from records directly
// (until src/core/cluster/cluster-state.ts lands). Each node's `allocated` is computed from the VMs
// assigned to it, as the state machine keeps it. `iteration: "reversed"` makes nodes() and vms()
// iterate in descending id order: the scheduler must not depend on the view's order.

import type {
  ClusterEvent,
  ClusterView,
  NodeId,
  NodeRecord,
  NodeState,
  OvercommitPolicy,
  PlacementConstraint,
  Quota,
  Resources,
  TenantRecord,
  Topology,
  VmId,
  VmRecord,
  VmSpec,
} from "../../src/core/cluster/types.ts";

export const NO_OVERCOMMIT: OvercommitPolicy = { cpuPermille: 1000, memoryPermille: 1000, diskPermille: 1000, reserve: { vcpus: 0, memoryMib: 0, diskGib: 0 } };

export interface NodeShape {
  readonly id: NodeId;
  readonly capacity?: Resources;
  readonly overcommit?: OvercommitPolicy;
  readonly state?: NodeState;
  readonly labels?: readonly { readonly key: string; readonly value: string }[];
  readonly features?: readonly string[];
  readonly topology?: Partial<Topology>;
}

export function nodeRecord(shape: NodeShape): Omit<NodeRecord, "allocated"> {
  return {
    id: shape.id,
    address: "",
    capacity: shape.capacity ?? { vcpus: 16, memoryMib: 65_536, diskGib: 1_000 },
    overcommit: shape.overcommit ?? NO_OVERCOMMIT,
    labels: [...(shape.labels ?? [])].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
    features: [...(shape.features ?? [])].sort(),
    topology: { datacenter: "dc1", zone: "z1", rack: "r1", ...shape.topology },
    state: shape.state ?? "ready",
    lease: { epoch: 1, renewedIndex: 1 },
    generation: 1,
  };
}

export interface VmShape {
  readonly id: VmId;
  readonly tenant?: string;
  readonly resources?: Resources;
  readonly priority?: number;
  readonly preemptible?: boolean;
  readonly group?: string;
  readonly antiAffinityMode?: "hard" | "soft";
  readonly weight?: number;
  readonly maxPerNode?: number;
  readonly constraints?: readonly PlacementConstraint[];
  /** 0: pending. */
  readonly nodeId?: NodeId;
  readonly phase?: VmRecord["phase"];
  readonly generation?: number;
}

export function vmSpec(shape: VmShape): VmSpec {
  return {
    tenant: shape.tenant ?? "t1",
    name: `vm-${shape.id}`,
    resources: shape.resources ?? { vcpus: 1, memoryMib: 1_024, diskGib: 10 },
    image: { kernel: "/k", initrd: "/i", rootDisk: "" },
    kernelCmdline: "",
    interfaces: [],
    priority: shape.priority ?? 0,
    preemptible: shape.preemptible ?? false,
    restartPolicy: "always",
    healthCheck: { kind: "none" },
    antiAffinity: { group: shape.group ?? "", mode: shape.antiAffinityMode ?? "hard", weight: shape.weight ?? 1, maxPerNode: shape.maxPerNode ?? 1 },
    constraints: shape.constraints ?? [],
  };
}

export function vmRecord(shape: VmShape): VmRecord {
  const nodeId = shape.nodeId ?? 0;
  return {
    id: shape.id,
    spec: vmSpec(shape),
    desired: "running",
    phase: shape.phase ?? (nodeId === 0 ? "pending" : "running"),
    nodeId,
    token: { nodeId, epoch: 1, placement: nodeId === 0 ? 0 : 1 },
    generation: shape.generation ?? 1,
    observed: { phase: "unknown", index: 0, detail: "" },
    addresses: [],
    restarts: 0,
    reason: "",
  };
}

export function quota(vmsPerNodeMax: number): Quota {
  return { vmsMax: 1_000_000, vcpusMax: 1_000_000_000, memoryMibMax: 1_000_000_000_000, diskGibMax: 1_000_000_000_000, vmsPerNodeMax };
}

export interface FixtureContents {
  readonly nodes: readonly Omit<NodeRecord, "allocated">[];
  readonly vms: readonly VmRecord[];
  readonly tenants?: readonly { readonly name: string; readonly quota: Quota }[];
  readonly appliedIndex?: number;
  readonly iteration?: "ascending" | "reversed";
}

export class FixtureView implements ClusterView {
  readonly appliedIndex: number;
  private readonly nodeById = new Map<NodeId, NodeRecord>();
  private readonly vmById = new Map<VmId, VmRecord>();
  private readonly tenantByName = new Map<string, TenantRecord>();
  private readonly vmsByNode = new Map<NodeId, VmRecord[]>();
  private readonly reversed: boolean;

  constructor(contents: FixtureContents) {
    this.appliedIndex = contents.appliedIndex ?? 100;
    this.reversed = contents.iteration === "reversed";
    const vms = [...contents.vms].sort((a, b) => a.id - b.id);
    for (const vm of vms) {
      if (this.vmById.has(vm.id)) throw new Error(`vm ${vm.id} twice in the fixture`);
      this.vmById.set(vm.id, vm);
      if (vm.nodeId !== 0) {
        const list = this.vmsByNode.get(vm.nodeId) ?? [];
        list.push(vm);
        this.vmsByNode.set(vm.nodeId, list);
      }
    }
    for (const node of [...contents.nodes].sort((a, b) => a.id - b.id)) {
      const allocated = { vcpus: 0, memoryMib: 0, diskGib: 0 };
      for (const vm of this.vmsByNode.get(node.id) ?? []) {
        allocated.vcpus += vm.spec.resources.vcpus;
        allocated.memoryMib += vm.spec.resources.memoryMib;
        allocated.diskGib += vm.spec.resources.diskGib;
      }
      this.nodeById.set(node.id, { ...node, allocated });
    }
    for (const vm of vms) if (vm.nodeId !== 0 && !this.nodeById.has(vm.nodeId)) throw new Error(`vm ${vm.id} on unknown node ${vm.nodeId}`);
    for (const tenant of contents.tenants ?? []) {
      this.tenantByName.set(tenant.name, { name: tenant.name, quota: tenant.quota, usage: { vms: 0, resources: { vcpus: 0, memoryMib: 0, diskGib: 0 } } });
    }
  }

  node(id: NodeId): NodeRecord | undefined {
    return this.nodeById.get(id);
  }

  nodes(): Iterable<NodeRecord> {
    const list = [...this.nodeById.values()];
    return this.reversed ? list.reverse() : list;
  }

  vm(id: VmId): VmRecord | undefined {
    return this.vmById.get(id);
  }

  vmByName(tenant: string, name: string): VmRecord | undefined {
    for (const vm of this.vmById.values()) if (vm.spec.tenant === tenant && vm.spec.name === name) return vm;
    return undefined;
  }

  vms(): Iterable<VmRecord> {
    const list = [...this.vmById.values()];
    return this.reversed ? list.reverse() : list;
  }

  vmsOnNode(nodeId: NodeId): Iterable<VmRecord> {
    const list = [...(this.vmsByNode.get(nodeId) ?? [])];
    return this.reversed ? list.reverse() : list;
  }

  tenant(name: string): TenantRecord | undefined {
    return this.tenantByName.get(name);
  }

  eventsAfter(): { readonly events: readonly ClusterEvent[]; readonly truncated: boolean } {
    return { events: [], truncated: false };
  }
}
