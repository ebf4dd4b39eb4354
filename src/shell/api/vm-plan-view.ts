// The view a dry run of a VM that does not exist yet is planned against: the applied state plus
// one pending VM with the spec, at an id no real VM can have (ids are Raft indexes, far below it),
// so the scheduler treats it as the last VM in id order and nothing else changes. Pure.
import { assert } from "../../core/assert.ts";
import type { ClusterView, VmId, VmRecord, VmSpec } from "../../core/cluster/types.ts";

/** The id of the planned VM in a hypothetical view. */
export const HYPOTHETICAL_VM_ID: VmId = Number.MAX_SAFE_INTEGER;

export function hypotheticalVm(spec: VmSpec): VmRecord {
  return {
    id: HYPOTHETICAL_VM_ID,
    spec,
    desired: "running",
    phase: "pending",
    nodeId: 0,
    token: { nodeId: 0, epoch: 0, placement: 0 },
    generation: 1,
    observed: { phase: "unknown", index: 0, detail: "" },
    addresses: [],
    restarts: 0,
    reason: "",
  };
}

/** `base` with `vm` added (pending, on no node). */
export function viewWithVm(base: ClusterView, vm: VmRecord): ClusterView {
  assert(base.vm(vm.id) === undefined, "the hypothetical vm's id is free");
  assert(vm.nodeId === 0 && vm.phase === "pending", "the hypothetical vm is pending on no node");
  return {
    get appliedIndex() {
      return base.appliedIndex;
    },
    node: (id) => base.node(id),
    nodes: () => base.nodes(),
    vm: (id) => (id === vm.id ? vm : base.vm(id)),
    vmByName: (tenant, name) => (tenant === vm.spec.tenant && name === vm.spec.name ? vm : base.vmByName(tenant, name)),
    *vms() {
      // Ascending id order: the hypothetical id is larger than every real one.
      yield* base.vms();
      yield vm;
    },
    vmsOnNode: (nodeId) => base.vmsOnNode(nodeId),
    tenant: (name) => base.tenant(name),
    eventsAfter: (afterIndex, limit) => base.eventsAfter(afterIndex, limit),
  };
}
