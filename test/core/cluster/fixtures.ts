// Builders for cluster-state tests: a valid registration, spec, quota and pool, each with
// overrides, and a driver that applies envelopes at increasing indexes.

import { ClusterState, type ClusterPlantedBug } from "../../../src/core/cluster/cluster-state.ts";
import type { ClusterCommand, ClusterResult, CommandEnvelope, IpPoolSpec, NodeRegistration, Quota, VmSpec } from "../../../src/core/cluster/types.ts";

export function registration(id: number, overrides: Partial<NodeRegistration> = {}): NodeRegistration {
  return {
    id,
    address: `10.1.0.${id % 250}:7000`,
    capacity: { vcpus: 8, memoryMib: 16_384, diskGib: 100 },
    overcommit: { cpuPermille: 1000, memoryPermille: 1000, diskPermille: 1000, reserve: { vcpus: 0, memoryMib: 0, diskGib: 0 } },
    labels: [{ key: "rack", value: "r1" }],
    features: ["kvm"],
    topology: { datacenter: "dc1", zone: "z1", rack: "r1" },
    ...overrides,
  };
}

export function spec(name: string, overrides: Partial<VmSpec> = {}): VmSpec {
  return {
    tenant: "acme",
    name,
    resources: { vcpus: 2, memoryMib: 1_024, diskGib: 10 },
    image: { kernel: "/images/vmlinux", initrd: "/images/initrd", rootDisk: "" },
    kernelCmdline: "console=ttyS0",
    interfaces: [],
    priority: 100,
    preemptible: false,
    restartPolicy: "always",
    healthCheck: { kind: "process" },
    antiAffinity: { group: "", mode: "hard", weight: 0, maxPerNode: 0 },
    constraints: [],
    ...overrides,
  };
}

export const bigQuota: Quota = { vmsMax: 1_000_000, vcpusMax: 1_000_000_000, memoryMibMax: 1_000_000_000_000, diskGibMax: 1_000_000_000_000, vmsPerNodeMax: 1_000 };

export function pool(name: string, cidr: string, gateway: string, reserved: string[] = []): IpPoolSpec {
  return { name, cidr, gateway, reserved };
}

export function envelope(body: ClusterCommand, requestId = "", stampUs = 1_000): CommandEnvelope {
  return { stampUs, requestId, body };
}

/** A state and the next index to apply at. */
export class Driver {
  readonly state: ClusterState;
  index = 0;
  readonly log: CommandEnvelope[] = [];

  constructor(plantedBugs?: ReadonlySet<ClusterPlantedBug>) {
    this.state = new ClusterState(plantedBugs === undefined ? {} : { plantedBugs });
  }

  run(body: ClusterCommand, requestId = ""): ClusterResult {
    const e = envelope(body, requestId, this.index * 10);
    this.log.push(e);
    return this.state.apply(++this.index, e);
  }

  /** Runs and requires ok; returns the detail. */
  ok(body: ClusterCommand, requestId = ""): Extract<ClusterResult, { status: "ok" }>["detail"] {
    const result = this.run(body, requestId);
    if (result.status !== "ok") throw new Error(`${body.kind} rejected: ${result.code}: ${result.message}`);
    return result.detail;
  }

  /** Creates a VM and returns its id. */
  create(s: VmSpec, desired: "running" | "stopped" = "running"): number {
    const detail = this.ok({ kind: "vm-create", spec: s, desired });
    if (detail.kind !== "vm") throw new Error("vm-create without a vm");
    return detail.vm.id;
  }

  /** Places a pending VM on a node (at its current generation); returns whether it was placed. */
  place(vmId: number, nodeId: number): boolean {
    const vm = this.state.vm(vmId)!;
    const detail = this.ok({ kind: "placements-commit", checkIndex: 0, placements: [{ vmId, expectedGeneration: vm.generation, nodeId }], evictions: [] });
    return detail.kind === "placements" && detail.placed.includes(vmId);
  }

  report(nodeId: number, vmId: number, phase: "starting" | "running" | "stopped" | "exited" | "crashed" | "unhealthy" | "unknown", placement?: number): ClusterResult {
    const node = this.state.node(nodeId)!;
    const vm = this.state.vm(vmId);
    return this.run({ kind: "vm-observed", nodeId, epoch: node.lease.epoch, reports: [{ vmId, placement: placement ?? vm?.token.placement ?? 1, phase, detail: "" }] });
  }

  /** A standard small cluster: tenant acme, nodes 1..n ready. */
  static withNodes(n: number, plantedBugs?: ReadonlySet<ClusterPlantedBug>): Driver {
    const d = new Driver(plantedBugs);
    d.ok({ kind: "tenant-set", name: "acme", quota: bigQuota });
    for (let id = 1; id <= n; id++) d.ok({ kind: "node-register", node: registration(id) });
    return d;
  }
}

/** The snapshot without its appliedIndex (which every apply moves, even a rejected one). */
export function stateBytes(state: ClusterState): string {
  const text = new TextDecoder().decode(state.snapshot());
  return text.slice(text.indexOf(",") + 1);
}
