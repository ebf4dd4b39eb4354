// fast-check arbitraries for valid cluster commands (every field within its range).

import fc from "fast-check";
import type { ClusterCommand, CommandEnvelope, HealthCheck, NodeRegistration, PlacementConstraint, VmSpec } from "../../../src/core/cluster/types.ts";

export const nameArb = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,10}$/);
const textArb = fc.string({ unit: "grapheme", maxLength: 12 });
const uint = (max: number) => fc.integer({ min: 0, max });
const pos = (max: number) => fc.integer({ min: 1, max });
const r = <T extends object>(shape: { [K in keyof T]: fc.Arbitrary<T[K]> }) => fc.record(shape, { noNullPrototype: true }) as fc.Arbitrary<T>;

const healthArb: fc.Arbitrary<HealthCheck> = fc.oneof(
  fc.constant({ kind: "none" as const }),
  fc.constant({ kind: "process" as const }),
  r({ kind: fc.constant("tcp" as const), port: pos(65_535), intervalMs: pos(60_000), timeoutMs: pos(60_000), failuresMax: pos(10) }),
  r({ kind: fc.constant("http" as const), port: pos(65_535), path: fc.constant("/health"), expectStatus: fc.integer({ min: 100, max: 599 }), intervalMs: pos(1000), timeoutMs: pos(1000), failuresMax: pos(5) }),
  r({ kind: fc.constant("console" as const), pattern: fc.string({ minLength: 1, maxLength: 10 }), withinMs: pos(100_000) }),
);

const constraintArb: fc.Arbitrary<PlacementConstraint> = fc.oneof(
  r({ kind: fc.constant("label" as const), key: fc.string({ minLength: 1, maxLength: 8 }), value: textArb }),
  r({ kind: fc.constant("feature" as const), feature: fc.constantFrom("kvm", "gpu") }),
  r({ kind: fc.constant("datacenter" as const), mode: fc.constantFrom("require" as const, "prefer" as const, "exclude" as const), value: nameArb }),
  r({ kind: fc.constant("zone" as const), mode: fc.constantFrom("require" as const, "prefer" as const, "exclude" as const), value: nameArb }),
  r({ kind: fc.constant("spread" as const), domain: fc.constantFrom("datacenter" as const, "zone" as const, "rack" as const) }),
  r({ kind: fc.constant("pinned" as const), nodeId: pos(1000) }),
);

export const specArb: fc.Arbitrary<VmSpec> = r<VmSpec>({
  tenant: nameArb,
  name: nameArb,
  resources: r({ vcpus: pos(1024), memoryMib: pos(1 << 20), diskGib: uint(1 << 20) }),
  image: r({ kernel: fc.string({ minLength: 1, maxLength: 20 }), initrd: textArb, rootDisk: textArb }),
  kernelCmdline: textArb,
  interfaces: fc.array(r({ mode: fc.constant("user" as const), ipPool: fc.oneof(fc.constant(""), nameArb), portForwards: fc.constant([]) }), { maxLength: 3 }),
  priority: uint(1000),
  preemptible: fc.boolean(),
  restartPolicy: fc.constantFrom("always" as const, "on-failure" as const, "never" as const),
  healthCheck: healthArb,
  antiAffinity: r({ group: fc.oneof(fc.constant(""), nameArb), mode: fc.constantFrom("hard" as const, "soft" as const), weight: pos(1000), maxPerNode: pos(1000) }),
  constraints: fc.array(constraintArb, { maxLength: 4 }),
});

export const registrationArb: fc.Arbitrary<NodeRegistration> = r<NodeRegistration>({
  id: pos(1 << 30),
  address: fc.constant("host:1"),
  capacity: r({ vcpus: uint(1024), memoryMib: uint(1 << 20), diskGib: uint(1 << 20) }),
  overcommit: r({ cpuPermille: pos(10_000), memoryPermille: pos(10_000), diskPermille: pos(10_000), reserve: r({ vcpus: uint(4), memoryMib: uint(1024), diskGib: uint(10) }) }),
  labels: fc.uniqueArray(r({ key: fc.string({ minLength: 1, maxLength: 6 }), value: textArb }), { selector: (l) => l.key, maxLength: 4 }).map((labels) => [...labels].sort((a, b) => (a.key < b.key ? -1 : 1))),
  features: fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { maxLength: 4 }).map((f) => [...f].sort()),
  topology: r({ datacenter: nameArb, zone: nameArb, rack: fc.constant("") }),
});

const idArb = pos(1 << 40);
export const commandArb: fc.Arbitrary<ClusterCommand> = fc.oneof(
  r({ kind: fc.constant("node-register" as const), node: registrationArb }),
  r({ kind: fc.constant("node-heartbeat" as const), nodeId: idArb, epoch: idArb }),
  r({ kind: fc.constant("node-set-state" as const), nodeId: idArb, state: fc.constantFrom("ready" as const, "cordoned" as const, "draining" as const) }),
  r({ kind: fc.constant("node-declare-down" as const), nodeId: idArb, epoch: idArb, renewedIndex: uint(1 << 40) }),
  r({ kind: fc.constant("node-remove" as const), nodeId: idArb }),
  r({ kind: fc.constant("vm-create" as const), spec: specArb, desired: fc.constantFrom("running" as const, "stopped" as const) }),
  r({ kind: fc.constant("vm-update" as const), vmId: idArb, expectedGeneration: uint(100), spec: specArb }),
  r({ kind: fc.constant("vm-set-desired" as const), vmId: idArb, expectedGeneration: uint(100), desired: fc.constantFrom("running" as const, "stopped" as const) }),
  r({ kind: fc.constant("vm-delete" as const), vmId: idArb, expectedGeneration: uint(100) }),
  r({ kind: fc.constant("vm-migrate" as const), vmId: idArb, expectedGeneration: uint(100), targetNodeId: uint(100) }),
  r({
    kind: fc.constant("placements-commit" as const),
    checkIndex: uint(1000),
    placements: fc.uniqueArray(r({ vmId: idArb, expectedGeneration: pos(100), nodeId: idArb }), { selector: (p) => p.vmId, maxLength: 5 }),
    evictions: fc.constant([]),
  }),
  r({
    kind: fc.constant("vm-observed" as const),
    nodeId: idArb,
    epoch: idArb,
    reports: fc.array(r({ vmId: idArb, placement: pos(100), phase: fc.constantFrom("unknown" as const, "starting" as const, "running" as const, "stopped" as const, "exited" as const, "crashed" as const, "unhealthy" as const), detail: textArb }), { maxLength: 3 }),
  }),
  r({ kind: fc.constant("vm-fail" as const), vmId: idArb, expectedGeneration: uint(100), reason: textArb }),
  r({ kind: fc.constant("tenant-set" as const), name: nameArb, quota: r({ vmsMax: uint(1 << 30), vcpusMax: uint(1 << 30), memoryMibMax: uint(1 << 40), diskGibMax: uint(1 << 40), vmsPerNodeMax: uint(1000) }) }),
  r({ kind: fc.constant("tenant-remove" as const), name: nameArb }),
  r({ kind: fc.constant("ip-pool-create" as const), pool: fc.constant({ name: "net", cidr: "192.168.0.0/16", gateway: "192.168.0.1", reserved: ["192.168.0.2"] }) }),
  r({ kind: fc.constant("ip-pool-remove" as const), name: nameArb }),
);

export const envelopeArb: fc.Arbitrary<CommandEnvelope> = r<CommandEnvelope>({
  stampUs: uint(Number.MAX_SAFE_INTEGER),
  requestId: fc.oneof(fc.constant(""), fc.string({ maxLength: 16 })),
  body: commandArb,
});
