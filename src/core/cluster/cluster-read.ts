// Reads of the cluster state a client may ask for: one VM, a page of VMs, one node, the nodes,
// a page of events (the watch), and a plan (the scheduler's dry run over pending VMs, with the
// index it was computed at, for a placements-commit with that check index). Answers are plain
// JSON-shaped values: they travel in client frames (forwarded reads) and API responses.
//
// Every list is a bounded page with a cursor (ascending ids / indexes), so no read grows
// without bound however large the cluster is.

import { assert, unreachable } from "../assert.ts";
import { schedule } from "../scheduler/schedule.ts";
import type { SchedulePlan, SchedulerOptions } from "../scheduler/scheduler-types.ts";
import { CLUSTER_LIMITS, type ClusterEvent, type ClusterView, type NodeId, type NodeRecord, type VmId, type VmRecord } from "./types.ts";

/** Records in one page of a list read: 50 records at their largest (long image paths and command lines) stay well inside a client frame. */
export const CLUSTER_PAGE_MAX = 50;
/** VMs one plan read may ask about. */
export const PLAN_VMS_MAX = 512;

export type ClusterRead =
  | { readonly what: "vm"; readonly tenant: string; readonly name: string }
  | { readonly what: "vms"; readonly tenant: string; readonly afterId: VmId; readonly limit: number }
  | { readonly what: "node"; readonly nodeId: NodeId }
  | { readonly what: "nodes"; readonly afterId: NodeId; readonly limit: number }
  | { readonly what: "events"; readonly afterIndex: number; readonly limit: number }
  | { readonly what: "plan"; readonly vmIds: readonly VmId[] };

export type ClusterReadAnswer =
  | { readonly what: "vm"; readonly vm: VmRecord | null }
  | { readonly what: "vms"; readonly vms: readonly VmRecord[]; readonly more: boolean }
  | { readonly what: "node"; readonly node: NodeRecord | null }
  | { readonly what: "nodes"; readonly nodes: readonly NodeRecord[]; readonly more: boolean }
  | { readonly what: "events"; readonly events: readonly ClusterEvent[]; readonly truncated: boolean }
  | { readonly what: "plan"; readonly checkIndex: number; readonly plan: SchedulePlan };

function isCount(value: number, max: number): boolean {
  return Number.isSafeInteger(value) && value >= 1 && value <= max;
}

function isIndex(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

/** Why a read is malformed, or undefined. */
export function validateClusterRead(read: ClusterRead): string | undefined {
  switch (read.what) {
    case "vm":
      if (read.tenant === "" || read.name === "") return "tenant and name: must not be empty";
      if (read.tenant.length > CLUSTER_LIMITS.nameBytesMax || read.name.length > CLUSTER_LIMITS.nameBytesMax) return `tenant and name: at most ${CLUSTER_LIMITS.nameBytesMax} characters`;
      return undefined;
    case "vms":
      if (read.tenant.length > CLUSTER_LIMITS.nameBytesMax) return `tenant: at most ${CLUSTER_LIMITS.nameBytesMax} characters`;
      if (!isIndex(read.afterId)) return `after_id: must be a non-negative integer, got ${read.afterId}`;
      return isCount(read.limit, CLUSTER_PAGE_MAX) ? undefined : `limit: must be 1..${CLUSTER_PAGE_MAX}, got ${read.limit}`;
    case "node":
      return Number.isSafeInteger(read.nodeId) && read.nodeId >= 1 ? undefined : `node_id: must be a positive integer, got ${read.nodeId}`;
    case "nodes":
      if (!isIndex(read.afterId)) return `after_id: must be a non-negative integer, got ${read.afterId}`;
      return isCount(read.limit, CLUSTER_PAGE_MAX) ? undefined : `limit: must be 1..${CLUSTER_PAGE_MAX}, got ${read.limit}`;
    case "events":
      if (!isIndex(read.afterIndex)) return `after_index: must be a non-negative integer, got ${read.afterIndex}`;
      return isCount(read.limit, CLUSTER_PAGE_MAX) ? undefined : `limit: must be 1..${CLUSTER_PAGE_MAX}, got ${read.limit}`;
    case "plan":
      if (read.vmIds.length === 0 || read.vmIds.length > PLAN_VMS_MAX) return `vm_ids: must hold 1..${PLAN_VMS_MAX} ids, got ${read.vmIds.length}`;
      return read.vmIds.every((id) => Number.isSafeInteger(id) && id >= 1) ? undefined : "vm_ids: every id must be a positive integer";
    default:
      return unreachable(read, "cluster read");
  }
}

/** Answers a validated read against the applied state. */
export function answerClusterRead(view: ClusterView, read: ClusterRead, scheduler: SchedulerOptions): ClusterReadAnswer {
  assert(validateClusterRead(read) === undefined, "a cluster read is validated before it is answered");
  switch (read.what) {
    case "vm":
      return { what: "vm", vm: view.vmByName(read.tenant, read.name) ?? null };
    case "vms": {
      const vms: VmRecord[] = [];
      let more = false;
      for (const vm of view.vms()) {
        if (vm.id <= read.afterId || (read.tenant !== "" && vm.spec.tenant !== read.tenant)) continue;
        if (vms.length === read.limit) {
          more = true;
          break;
        }
        vms.push(vm);
      }
      assert(vms.length <= read.limit, "a page holds at most its limit");
      return { what: "vms", vms, more };
    }
    case "node":
      return { what: "node", node: view.node(read.nodeId) ?? null };
    case "nodes": {
      const nodes: NodeRecord[] = [];
      let more = false;
      for (const node of view.nodes()) {
        if (node.id <= read.afterId) continue;
        if (nodes.length === read.limit) {
          more = true;
          break;
        }
        nodes.push(node);
      }
      return { what: "nodes", nodes, more };
    }
    case "events": {
      const page = view.eventsAfter(read.afterIndex, read.limit);
      assert(page.events.length <= read.limit, "an events page holds at most its limit");
      return { what: "events", events: page.events, truncated: page.truncated };
    }
    case "plan": {
      const ids = [...new Set(read.vmIds)].sort((a, b) => a - b);
      return { what: "plan", checkIndex: view.appliedIndex, plan: schedule(view, ids, scheduler) };
    }
    default:
      return unreachable(read, "cluster read");
  }
}
