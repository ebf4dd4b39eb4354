// The shape of a cluster state snapshot (canonical JSON): every record in ascending id or name
// order, plus what the state derives nothing from (per-record change indexes for stale-plan
// checks, removed nodes' epochs, the request-id results, the event ring). IP pools' held
// addresses are not stored: they are the VMs' addresses, rebuilt on restore.

import { arrayOf, bool, field, int, object, text } from "./canonical-json.ts";
import { CLUSTER_LIMITS } from "./types.ts";
import { eventSchema, ipPoolSpecSchema, nodeRecordSchema, resultSchema, tenantRecordSchema, vmRecordSchema } from "./schemas.ts";
import type { ClusterEvent, ClusterResult, IpPoolSpec, NodeId, NodeRecord, TenantRecord, VmRecord } from "./types.ts";

const SAFE_MAX = Number.MAX_SAFE_INTEGER;
const count = int(0, SAFE_MAX);

export interface SnapshotData {
  readonly appliedIndex: number;
  readonly nodes: readonly { readonly node: NodeRecord; readonly placementChangedIndex: number }[];
  readonly removedNodes: readonly { readonly nodeId: NodeId; readonly epoch: number }[];
  readonly vms: readonly { readonly vm: VmRecord; readonly changedIndex: number }[];
  readonly tenants: readonly { readonly tenant: TenantRecord; readonly overQuota: boolean }[];
  readonly pools: readonly { readonly spec: IpPoolSpec; readonly poolNumber: number }[];
  readonly requests: readonly { readonly requestId: string; readonly result: ClusterResult }[];
  readonly droppedThroughIndex: number;
  readonly events: ClusterEvent[];
}

export const snapshotSchema = object(
  field("appliedIndex", count),
  field("nodes", arrayOf(object(field("node", nodeRecordSchema), field("placementChangedIndex", count)), SAFE_MAX)),
  field("removedNodes", arrayOf(object(field("nodeId", int(1, SAFE_MAX)), field("epoch", count)), SAFE_MAX)),
  field("vms", arrayOf(object(field("vm", vmRecordSchema), field("changedIndex", count)), SAFE_MAX)),
  field("tenants", arrayOf(object(field("tenant", tenantRecordSchema), field("overQuota", bool)), SAFE_MAX)),
  field("pools", arrayOf(object(field("spec", ipPoolSpecSchema), field("poolNumber", int(0, 255))), SAFE_MAX)),
  field("requests", arrayOf(object(field("requestId", text(1, CLUSTER_LIMITS.requestIdBytesMax)), field("result", resultSchema)), SAFE_MAX)),
  field("droppedThroughIndex", count),
  field("events", arrayOf(eventSchema, SAFE_MAX)),
);
