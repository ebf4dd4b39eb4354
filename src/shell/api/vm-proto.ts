// The orchestrator's records (src/core/cluster/types.ts) as protobuf messages (proto/blixard/v1/
// vm.proto, node.proto, tenant.proto) and back. Field by field, nothing dropped: core -> proto ->
// core is the identity (test/shell/api/vm-proto.test.ts checks it with fast-check).
//
// proto -> core never refuses: a missing message reads as its zero value and an unknown
// enumeration string is passed through as it is, so that the cluster state's command validation
// (the last word) names the field that is wrong. Integers above 2^53 turn into numbers that are
// not safe integers, which that validation refuses too.
import { create } from "@bufbuild/protobuf";
import type * as core from "../../core/cluster/types.ts";
import {
  AntiAffinitySchema,
  ClusterEventSchema,
  FencingTokenSchema,
  HealthCheckSchema,
  IpAssignmentSchema,
  NetworkInterfaceSpecSchema,
  ObservedVmSchema,
  PlacementConstraintSchema,
  PortForwardSchema,
  ResourcesSchema,
  VmImageSchema,
  VmRecordSchema,
  VmSpecSchema,
  type ClusterEvent,
  type HealthCheck,
  type PlacementConstraint,
  type Resources,
  type VmRecord,
  type VmSpec,
} from "./gen/blixard/v1/vm_pb.ts";
import { LabelSchema, NodeLeaseSchema, NodeRecordSchema, OvercommitPolicySchema, TopologySchema, type NodeRecord } from "./gen/blixard/v1/node_pb.ts";
import { QuotaSchema, TenantRecordSchema, TenantUsageSchema, type Quota, type TenantRecord } from "./gen/blixard/v1/tenant_pb.ts";

const big = (value: number): bigint => BigInt(value);
const num = (value: bigint): number => Number(value);

// ---- resources -----------------------------------------------------------------------

export function resourcesToProto(resources: core.Resources): Resources {
  return create(ResourcesSchema, { vcpus: big(resources.vcpus), memoryMib: big(resources.memoryMib), diskGib: big(resources.diskGib) });
}

export function resourcesFromProto(resources: Resources | undefined): core.Resources {
  return { vcpus: num(resources?.vcpus ?? 0n), memoryMib: num(resources?.memoryMib ?? 0n), diskGib: num(resources?.diskGib ?? 0n) };
}

// ---- VM spec ---------------------------------------------------------------------------

function healthToProto(health: core.HealthCheck): HealthCheck {
  switch (health.kind) {
    case "none":
    case "process":
      return create(HealthCheckSchema, { kind: health.kind });
    case "tcp":
      return create(HealthCheckSchema, { kind: "tcp", port: health.port, intervalMs: health.intervalMs, timeoutMs: health.timeoutMs, failuresMax: health.failuresMax });
    case "http":
      return create(HealthCheckSchema, {
        kind: "http",
        port: health.port,
        path: health.path,
        expectStatus: health.expectStatus,
        intervalMs: health.intervalMs,
        timeoutMs: health.timeoutMs,
        failuresMax: health.failuresMax,
      });
    case "console":
      return create(HealthCheckSchema, { kind: "console", pattern: health.pattern, withinMs: health.withinMs });
  }
}

function healthFromProto(health: HealthCheck | undefined): core.HealthCheck {
  if (health === undefined || health.kind === "" || health.kind === "none") return { kind: "none" };
  switch (health.kind) {
    case "process":
      return { kind: "process" };
    case "tcp":
      return { kind: "tcp", port: health.port, intervalMs: health.intervalMs, timeoutMs: health.timeoutMs, failuresMax: health.failuresMax };
    case "http":
      return { kind: "http", port: health.port, path: health.path, expectStatus: health.expectStatus, intervalMs: health.intervalMs, timeoutMs: health.timeoutMs, failuresMax: health.failuresMax };
    case "console":
      return { kind: "console", pattern: health.pattern, withinMs: health.withinMs };
    default:
      // Refused by the command validation, which names spec.healthCheck.kind.
      return { kind: health.kind } as unknown as core.HealthCheck;
  }
}

function constraintToProto(constraint: core.PlacementConstraint): PlacementConstraint {
  switch (constraint.kind) {
    case "label":
      return create(PlacementConstraintSchema, { kind: "label", key: constraint.key, value: constraint.value });
    case "feature":
      return create(PlacementConstraintSchema, { kind: "feature", feature: constraint.feature });
    case "datacenter":
    case "zone":
      return create(PlacementConstraintSchema, { kind: constraint.kind, mode: constraint.mode, value: constraint.value });
    case "spread":
      return create(PlacementConstraintSchema, { kind: "spread", domain: constraint.domain });
    case "pinned":
      return create(PlacementConstraintSchema, { kind: "pinned", nodeId: big(constraint.nodeId) });
  }
}

function constraintFromProto(constraint: PlacementConstraint): core.PlacementConstraint {
  switch (constraint.kind) {
    case "label":
      return { kind: "label", key: constraint.key, value: constraint.value };
    case "feature":
      return { kind: "feature", feature: constraint.feature };
    case "datacenter":
    case "zone":
      return { kind: constraint.kind, mode: constraint.mode as "require", value: constraint.value };
    case "spread":
      return { kind: "spread", domain: constraint.domain as "zone" };
    case "pinned":
      return { kind: "pinned", nodeId: num(constraint.nodeId) };
    default:
      return { kind: constraint.kind } as unknown as core.PlacementConstraint;
  }
}

export function specToProto(spec: core.VmSpec): VmSpec {
  return create(VmSpecSchema, {
    tenant: spec.tenant,
    name: spec.name,
    resources: resourcesToProto(spec.resources),
    image: create(VmImageSchema, { kernel: spec.image.kernel, initrd: spec.image.initrd, rootDisk: spec.image.rootDisk }),
    kernelCmdline: spec.kernelCmdline,
    interfaces: spec.interfaces.map((nic) =>
      create(NetworkInterfaceSpecSchema, {
        mode: nic.mode,
        ipPool: nic.ipPool,
        portForwards: nic.portForwards.map((forward) => create(PortForwardSchema, { protocol: forward.protocol, hostPort: forward.hostPort, guestPort: forward.guestPort })),
      }),
    ),
    priority: spec.priority,
    preemptible: spec.preemptible,
    restartPolicy: spec.restartPolicy,
    healthCheck: healthToProto(spec.healthCheck),
    antiAffinity: create(AntiAffinitySchema, { group: spec.antiAffinity.group, mode: spec.antiAffinity.mode, weight: spec.antiAffinity.weight, maxPerNode: spec.antiAffinity.maxPerNode }),
    constraints: spec.constraints.map(constraintToProto),
  });
}

export function specFromProto(spec: VmSpec | undefined): core.VmSpec {
  const s = spec ?? create(VmSpecSchema);
  return {
    tenant: s.tenant,
    name: s.name,
    resources: resourcesFromProto(s.resources),
    image: { kernel: s.image?.kernel ?? "", initrd: s.image?.initrd ?? "", rootDisk: s.image?.rootDisk ?? "" },
    kernelCmdline: s.kernelCmdline,
    interfaces: s.interfaces.map((nic) => ({
      mode: nic.mode as "user",
      ipPool: nic.ipPool,
      portForwards: nic.portForwards.map((forward) => ({ protocol: forward.protocol as "tcp", hostPort: forward.hostPort, guestPort: forward.guestPort })),
    })),
    priority: s.priority,
    preemptible: s.preemptible,
    restartPolicy: s.restartPolicy as core.RestartPolicy,
    healthCheck: healthFromProto(s.healthCheck),
    antiAffinity: {
      group: s.antiAffinity?.group ?? "",
      mode: (s.antiAffinity?.mode ?? "hard") as "hard",
      weight: s.antiAffinity?.weight ?? 0,
      maxPerNode: s.antiAffinity?.maxPerNode ?? 0,
    },
    constraints: s.constraints.map(constraintFromProto),
  };
}

// ---- VM record -------------------------------------------------------------------------

export function vmToProto(vm: core.VmRecord): VmRecord {
  return create(VmRecordSchema, {
    id: big(vm.id),
    spec: specToProto(vm.spec),
    desired: vm.desired,
    phase: vm.phase,
    nodeId: big(vm.nodeId),
    token: create(FencingTokenSchema, { nodeId: big(vm.token.nodeId), epoch: big(vm.token.epoch), placement: big(vm.token.placement) }),
    generation: big(vm.generation),
    observed: create(ObservedVmSchema, { phase: vm.observed.phase, index: big(vm.observed.index), detail: vm.observed.detail }),
    addresses: vm.addresses.map((a) => create(IpAssignmentSchema, { pool: a.pool, address: a.address, mac: a.mac })),
    restarts: big(vm.restarts),
    reason: vm.reason,
    migrateTargetNodeId: big(vm.migrateTargetNodeId ?? 0),
  });
}

export function vmFromProto(vm: VmRecord): core.VmRecord {
  const record: core.VmRecord = {
    id: num(vm.id),
    spec: specFromProto(vm.spec),
    desired: vm.desired as core.DesiredState,
    phase: vm.phase as core.VmPhase,
    nodeId: num(vm.nodeId),
    token: { nodeId: num(vm.token?.nodeId ?? 0n), epoch: num(vm.token?.epoch ?? 0n), placement: num(vm.token?.placement ?? 0n) },
    generation: num(vm.generation),
    observed: { phase: (vm.observed?.phase ?? "unknown") as core.ObservedPhase, index: num(vm.observed?.index ?? 0n), detail: vm.observed?.detail ?? "" },
    addresses: vm.addresses.map((a) => ({ pool: a.pool, address: a.address, mac: a.mac })),
    restarts: num(vm.restarts),
    reason: vm.reason,
  };
  // Absent in the core means none asked for; 0 on the wire means the same.
  return vm.migrateTargetNodeId === 0n ? record : { ...record, migrateTargetNodeId: num(vm.migrateTargetNodeId) };
}

// ---- nodes -----------------------------------------------------------------------------

export function nodeToProto(node: core.NodeRecord): NodeRecord {
  return create(NodeRecordSchema, {
    id: big(node.id),
    address: node.address,
    capacity: resourcesToProto(node.capacity),
    overcommit: create(OvercommitPolicySchema, {
      cpuPermille: node.overcommit.cpuPermille,
      memoryPermille: node.overcommit.memoryPermille,
      diskPermille: node.overcommit.diskPermille,
      reserve: resourcesToProto(node.overcommit.reserve),
    }),
    labels: node.labels.map((label) => create(LabelSchema, { key: label.key, value: label.value })),
    features: [...node.features],
    topology: create(TopologySchema, { datacenter: node.topology.datacenter, zone: node.topology.zone, rack: node.topology.rack }),
    state: node.state,
    lease: create(NodeLeaseSchema, { epoch: big(node.lease.epoch), renewedIndex: big(node.lease.renewedIndex) }),
    allocated: resourcesToProto(node.allocated),
    generation: big(node.generation),
  });
}

export function nodeFromProto(node: NodeRecord): core.NodeRecord {
  return {
    id: num(node.id),
    address: node.address,
    capacity: resourcesFromProto(node.capacity),
    overcommit: {
      cpuPermille: node.overcommit?.cpuPermille ?? 0,
      memoryPermille: node.overcommit?.memoryPermille ?? 0,
      diskPermille: node.overcommit?.diskPermille ?? 0,
      reserve: resourcesFromProto(node.overcommit?.reserve),
    },
    labels: node.labels.map((label) => ({ key: label.key, value: label.value })),
    features: [...node.features],
    topology: { datacenter: node.topology?.datacenter ?? "", zone: node.topology?.zone ?? "", rack: node.topology?.rack ?? "" },
    state: node.state as core.NodeState,
    lease: { epoch: num(node.lease?.epoch ?? 0n), renewedIndex: num(node.lease?.renewedIndex ?? 0n) },
    allocated: resourcesFromProto(node.allocated),
    generation: num(node.generation),
  };
}

// ---- tenants ---------------------------------------------------------------------------

export function quotaToProto(quota: core.Quota): Quota {
  return create(QuotaSchema, {
    vmsMax: big(quota.vmsMax),
    vcpusMax: big(quota.vcpusMax),
    memoryMibMax: big(quota.memoryMibMax),
    diskGibMax: big(quota.diskGibMax),
    vmsPerNodeMax: big(quota.vmsPerNodeMax),
  });
}

export function quotaFromProto(quota: Quota | undefined): core.Quota {
  return {
    vmsMax: num(quota?.vmsMax ?? 0n),
    vcpusMax: num(quota?.vcpusMax ?? 0n),
    memoryMibMax: num(quota?.memoryMibMax ?? 0n),
    diskGibMax: num(quota?.diskGibMax ?? 0n),
    vmsPerNodeMax: num(quota?.vmsPerNodeMax ?? 0n),
  };
}

export function tenantToProto(tenant: core.TenantRecord): TenantRecord {
  return create(TenantRecordSchema, {
    name: tenant.name,
    quota: quotaToProto(tenant.quota),
    usage: create(TenantUsageSchema, { vms: big(tenant.usage.vms), resources: resourcesToProto(tenant.usage.resources) }),
  });
}

export function tenantFromProto(tenant: TenantRecord): core.TenantRecord {
  return { name: tenant.name, quota: quotaFromProto(tenant.quota), usage: { vms: num(tenant.usage?.vms ?? 0n), resources: resourcesFromProto(tenant.usage?.resources) } };
}

// ---- events ----------------------------------------------------------------------------

export function eventToProto(event: core.ClusterEvent): ClusterEvent {
  return create(ClusterEventSchema, {
    index: big(event.index),
    sequence: big(event.sequence),
    kind: event.kind,
    stampUs: big(event.stampUs),
    nodeId: big(event.nodeId),
    vmId: big(event.vmId),
    detail: event.detail,
  });
}

export function eventFromProto(event: ClusterEvent): core.ClusterEvent {
  return {
    index: num(event.index),
    sequence: num(event.sequence),
    kind: event.kind as core.ClusterEventKind,
    stampUs: num(event.stampUs),
    nodeId: num(event.nodeId),
    vmId: num(event.vmId),
    detail: event.detail,
  };
}
