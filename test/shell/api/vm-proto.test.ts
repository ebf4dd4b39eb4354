// The orchestrator's records through their protobuf messages and the wire: core -> proto ->
// bytes -> proto -> core is the identity for VMs, nodes, tenants and events (fast-check), and
// every refusal of the state machine maps to the Connect code docs/VM-API.md names.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Code } from "@connectrpc/connect";
import { fromBinary, toBinary } from "@bufbuild/protobuf";
import type { ClusterEvent, NodeRecord, RejectionCode, TenantRecord, VmRecord } from "../../../src/core/cluster/types.ts";
import { eventFromProto, eventToProto, nodeFromProto, nodeToProto, tenantFromProto, tenantToProto, vmFromProto, vmToProto } from "../../../src/shell/api/vm-proto.ts";
import { ClusterEventSchema, VmRecordSchema } from "../../../src/shell/api/gen/blixard/v1/vm_pb.ts";
import { NodeRecordSchema } from "../../../src/shell/api/gen/blixard/v1/node_pb.ts";
import { TenantRecordSchema } from "../../../src/shell/api/gen/blixard/v1/tenant_pb.ts";
import { codeForRejection, REJECTION_HEADER, rejectionError } from "../../../src/shell/api/vm-rejection-codes.ts";
import { OUTCOME_HEADER } from "../../../src/shell/api/outcome-codes.ts";
import { registrationArb, specArb } from "../../core/cluster/arbitraries.ts";

const r = <T extends object>(shape: { [K in keyof T]: fc.Arbitrary<T[K]> }) => fc.record(shape, { noNullPrototype: true }) as fc.Arbitrary<T>;
const count = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
const resources = r({ vcpus: count, memoryMib: count, diskGib: count });

const vmArb: fc.Arbitrary<VmRecord> = fc
  .tuple(
    r<Omit<VmRecord, "migrateTargetNodeId">>({
      id: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
      spec: specArb,
      desired: fc.constantFrom("running" as const, "stopped" as const),
      phase: fc.constantFrom("pending" as const, "scheduled" as const, "starting" as const, "running" as const, "stopping" as const, "stopped" as const, "failed" as const, "deleting" as const),
      nodeId: count,
      token: r({ nodeId: count, epoch: count, placement: count }),
      generation: count,
      observed: r({ phase: fc.constantFrom("unknown" as const, "running" as const, "crashed" as const), index: count, detail: fc.string({ maxLength: 20 }) }),
      addresses: fc.array(r({ pool: fc.string({ minLength: 1, maxLength: 8 }), address: fc.ipV4(), mac: fc.constant("02:00:00:00:00:01") }), { maxLength: 2 }),
      restarts: count,
      reason: fc.string({ maxLength: 30 }),
    }),
    fc.option(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), { nil: undefined }),
  )
  .map(([vm, target]) => (target === undefined ? vm : { ...vm, migrateTargetNodeId: target }));

const nodeArb: fc.Arbitrary<NodeRecord> = fc
  .tuple(registrationArb, r({ state: fc.constantFrom("ready" as const, "cordoned" as const, "draining" as const, "down" as const), lease: r({ epoch: count, renewedIndex: count }), allocated: resources, generation: count }))
  .map(([registration, rest]) => ({ ...registration, ...rest }));

const tenantArb: fc.Arbitrary<TenantRecord> = r({
  name: fc.string({ minLength: 1, maxLength: 63 }),
  quota: r({ vmsMax: count, vcpusMax: count, memoryMibMax: count, diskGibMax: count, vmsPerNodeMax: count }),
  usage: r({ vms: count, resources }),
});

const eventArb: fc.Arbitrary<ClusterEvent> = r({
  index: count,
  sequence: count,
  kind: fc.constantFrom("vm-created" as const, "node-down" as const, "tenant-changed" as const),
  stampUs: count,
  nodeId: count,
  vmId: count,
  detail: fc.string({ maxLength: 40 }),
});

describe("proto <-> core conversions", () => {
  test("VM records round-trip through the wire", () => {
    fc.assert(fc.property(vmArb, (vm) => assert.deepEqual(vmFromProto(fromBinary(VmRecordSchema, toBinary(VmRecordSchema, vmToProto(vm)))), vm)));
  });
  test("node records round-trip through the wire", () => {
    fc.assert(fc.property(nodeArb, (node) => assert.deepEqual(nodeFromProto(fromBinary(NodeRecordSchema, toBinary(NodeRecordSchema, nodeToProto(node)))), node)));
  });
  test("tenant records round-trip through the wire", () => {
    fc.assert(fc.property(tenantArb, (tenant) => assert.deepEqual(tenantFromProto(fromBinary(TenantRecordSchema, toBinary(TenantRecordSchema, tenantToProto(tenant)))), tenant)));
  });
  test("events round-trip through the wire", () => {
    fc.assert(fc.property(eventArb, (event) => assert.deepEqual(eventFromProto(fromBinary(ClusterEventSchema, toBinary(ClusterEventSchema, eventToProto(event)))), event)));
  });
});

describe("refusals as Connect codes", () => {
  const table: Record<RejectionCode, Code> = {
    invalid: Code.InvalidArgument,
    "not-found": Code.NotFound,
    "already-exists": Code.AlreadyExists,
    "stale-generation": Code.FailedPrecondition,
    "stale-epoch": Code.FailedPrecondition,
    "stale-plan": Code.FailedPrecondition,
    conflict: Code.FailedPrecondition,
    "quota-exceeded": Code.ResourceExhausted,
    "no-capacity": Code.ResourceExhausted,
    "limit-exceeded": Code.ResourceExhausted,
    "pool-exhausted": Code.ResourceExhausted,
  };
  for (const [rejection, code] of Object.entries(table) as [RejectionCode, Code][]) {
    test(`${rejection} -> ${Code[code]}, certainly not applied, the rejection in its header`, () => {
      assert.equal(codeForRejection(rejection), code);
      const error = rejectionError(rejection, "body.spec.resources.vcpus: must be an integer 1..1024, got 0");
      assert.equal(error.code, code);
      assert.equal(error.metadata.get(OUTCOME_HEADER), "not-applied");
      assert.equal(error.metadata.get(REJECTION_HEADER), rejection);
      assert.equal(error.rawMessage, `${rejection}: spec.resources.vcpus: must be an integer 1..1024, got 0`);
    });
  }
});

describe("events paging", () => {
  const at = (index: number, sequence: number): ClusterEvent => ({ index, sequence, kind: "vm-created", stampUs: 0, nodeId: 0, vmId: 1, detail: "" });
  test("a short page continues after its last index; a full page ending inside an index repeats that index; a full page of one index is cut", async () => {
    const { nextPageAfter } = await import("../../../src/shell/api/vm-service.ts");
    assert.deepEqual(nextPageAfter([], 3, 7), { nextAfterIndex: 7, cut: false });
    assert.deepEqual(nextPageAfter([at(8, 0), at(9, 0)], 3, 7), { nextAfterIndex: 9, cut: false });
    assert.deepEqual(nextPageAfter([at(8, 0), at(9, 0), at(9, 1)], 3, 7), { nextAfterIndex: 8, cut: false });
    assert.deepEqual(nextPageAfter([at(9, 0), at(9, 1), at(9, 2)], 3, 7), { nextAfterIndex: 9, cut: true });
  });
});
