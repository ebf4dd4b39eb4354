// The replicated cluster state of the orchestrator: a pure, deterministic state machine over the
// commands of types.ts. Every replica applies the same envelopes at the same indexes and
// reaches the same state, byte for byte (snapshot()). No clock: stampUs only goes into events.
// Iteration is by ascending id (VM ids are creation indexes, so the VM map's insertion order is
// ascending; node ids are kept in a sorted array).
//
// Every handler checks everything before it changes anything, so a rejection changes nothing
// (only appliedIndex moves). docs/ORCHESTRATOR.md describes the records, the lifecycle and the
// rejections.

import { addResources, allocatable, fitsWithin } from "./resources.ts";
import { assert, unreachable } from "../assert.ts";
import { checkShape, copyCanonical, writeCanonical } from "./canonical-json.ts";
import { validateEnvelope } from "./command-validation.ts";
import { IpPool, formatIpv4, formatMac, parseCidr, parseIpv4 } from "./ip-pool.ts";
import { REPORT_RULES, RESTART_RULES, isAssignedPhase } from "./phase-rules.ts";
import { nodeRegistrationSchema, vmSpecSchema } from "./schemas.ts";
import { snapshotSchema, type SnapshotData } from "./snapshot-schema.ts";
import {
  CLUSTER_LIMITS,
  type ClusterCommand,
  type ClusterEvent,
  type ClusterEventKind,
  type ClusterResult,
  type ClusterView,
  type CommandEnvelope,
  type IpAssignment,
  type IpPoolSpec,
  type NodeId,
  type NodeRecord,
  type NodeRegistration,
  type PlacementEntry,
  type Quota,
  type RejectionCode,
  type Resources,
  type TenantRecord,
  type VmId,
  type VmRecord,
  type VmReport,
  type VmSpec,
} from "./types.ts";

/**
 * Bugs planted for the test harness only (docs/PLANTED-BUGS.md); production never sets any.
 *   capacity-check-stale: placements-commit trusts the plan's capacity and does not recheck it against the current state.
 *   quota-not-released-on-delete: a removed VM's usage stays counted against its tenant.
 *   ip-allocated-without-check: an address is handed out without checking that it is free.
 *   generation-not-compared: a change by generation (compare-and-set on a VM) skips the compare.
 */
export type ClusterPlantedBug = "capacity-check-stale" | "quota-not-released-on-delete" | "ip-allocated-without-check" | "generation-not-compared";

export interface ClusterStateOptions {
  readonly plantedBugs?: ReadonlySet<ClusterPlantedBug>;
}

const ZERO: Resources = { vcpus: 0, memoryMib: 0, diskGib: 0 };
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

interface NodeSlot {
  node: NodeRecord;
  /** The last index that changed what a placement decision reads (state, registration, allocation); heartbeats do not count. */
  placementChangedIndex: number;
  /** The VMs assigned to this node, ascending. */
  readonly vmIds: VmId[];
}

interface VmSlot {
  vm: VmRecord;
  /** The last index that changed this record (stale-plan checks). */
  changedIndex: number;
}

interface TenantSlot {
  tenant: TenantRecord;
  /** Set when tenant-set lowered the quota below the usage (allowed: it blocks growth); cleared once usage fits again. audit() skips the quota check while set. */
  overQuota: boolean;
}

function ok(detail: Extract<ClusterResult, { status: "ok" }>["detail"] = { kind: "none" }): ClusterResult {
  return { status: "ok", detail };
}

function reject(code: RejectionCode, message: string): ClusterResult {
  return { status: "rejected", code, message };
}

function add(a: Resources, b: Resources): Resources {
  return { vcpus: a.vcpus + b.vcpus, memoryMib: a.memoryMib + b.memoryMib, diskGib: a.diskGib + b.diskGib };
}

function subtract(a: Resources, b: Resources): Resources {
  const result = { vcpus: a.vcpus - b.vcpus, memoryMib: a.memoryMib - b.memoryMib, diskGib: a.diskGib - b.diskGib };
  assert(result.vcpus >= 0 && result.memoryMib >= 0 && result.diskGib >= 0, () => `resources would go negative: ${JSON.stringify(a)} - ${JSON.stringify(b)}`);
  return result;
}

function sameResources(a: Resources, b: Resources): boolean {
  return a.vcpus === b.vcpus && a.memoryMib === b.memoryMib && a.diskGib === b.diskGib;
}

/** Whether `need` fits on the node beside what is allocated there (resources.ts: the scheduler's definition too). */
function fitsOn(node: NodeRecord, need: Resources): boolean {
  return fitsWithin(addResources(node.allocated, need), allocatable(node));
}

/** The first resource of `need` that does not fit in `room`, named, or undefined when all fit. */
function shortfall(need: Resources, room: Resources): string | undefined {
  if (need.vcpus > room.vcpus) return `vcpus (needs ${need.vcpus}, ${room.vcpus} free)`;
  if (need.memoryMib > room.memoryMib) return `memoryMib (needs ${need.memoryMib}, ${room.memoryMib} free)`;
  if (need.diskGib > room.diskGib) return `diskGib (needs ${need.diskGib}, ${room.diskGib} free)`;
  return undefined;
}

function room(node: NodeRecord): Resources {
  const limit = allocatable(node);
  return {
    vcpus: Math.max(0, limit.vcpus - node.allocated.vcpus),
    memoryMib: Math.max(0, limit.memoryMib - node.allocated.memoryMib),
    diskGib: Math.max(0, limit.diskGib - node.allocated.diskGib),
  };
}

/** Index of the first element of ascending `ids` that is >= id. */
function lowerBound(ids: readonly number[], id: number): number {
  let low = 0;
  let high = ids.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (ids[middle]! < id) low = middle + 1;
    else high = middle;
  }
  return low;
}

function insertSorted(ids: number[], id: number): void {
  const at = lowerBound(ids, id);
  assert(ids[at] !== id, () => `id ${id} already in the index`);
  ids.splice(at, 0, id);
}

function removeSorted(ids: number[], id: number): void {
  const at = lowerBound(ids, id);
  assert(ids[at] === id, () => `id ${id} not in the index`);
  ids.splice(at, 1);
}

function nameKey(tenant: string, name: string): string {
  return `${tenant}\u0000${name}`;
}

function quotaBreach(quota: Quota, vms: number, usage: Resources): string | undefined {
  if (vms > quota.vmsMax) return `vmsMax ${quota.vmsMax} (would be ${vms})`;
  if (usage.vcpus > quota.vcpusMax) return `vcpusMax ${quota.vcpusMax} (would be ${usage.vcpus})`;
  if (usage.memoryMib > quota.memoryMibMax) return `memoryMibMax ${quota.memoryMibMax} (would be ${usage.memoryMib})`;
  if (usage.diskGib > quota.diskGibMax) return `diskGibMax ${quota.diskGibMax} (would be ${usage.diskGib})`;
  return undefined;
}

export class ClusterState implements ClusterView {
  private appliedIndexValue = 0;
  private readonly nodeSlots = new Map<NodeId, NodeSlot>();
  private readonly nodeIdsSorted: NodeId[] = [];
  /** Removed nodes' last epochs, so a node that registers again never reuses an epoch (bounded by nodesMax). */
  private readonly removedNodeEpochs = new Map<NodeId, number>();
  private readonly vmSlots = new Map<VmId, VmSlot>();
  private readonly vmIdsByName = new Map<string, VmId>();
  private readonly tenantSlots = new Map<string, TenantSlot>();
  private readonly pools = new Map<string, IpPool>();
  /** Recorded first results by request id, oldest first (FIFO, requestIdsRetainedMax). */
  private readonly requestResults = new Map<string, ClusterResult>();
  /** Retained events are events[eventsStart..]; the ring drops the oldest past eventsRetainedMax. */
  private events: ClusterEvent[] = [];
  private eventsStart = 0;
  /** The index of the newest dropped event (0: none dropped). */
  private droppedThroughIndex = 0;
  private eventSequence = 0;
  private readonly bugs: ReadonlySet<ClusterPlantedBug>;
  private readonly capacityCheckStale: boolean;

  constructor(options: ClusterStateOptions = {}) {
    this.bugs = options.plantedBugs ?? new Set();
    this.capacityCheckStale = this.bugs.has("capacity-check-stale");
  }

  // -------------------------------------------------------------------------------------
  // ClusterView

  get appliedIndex(): number {
    return this.appliedIndexValue;
  }

  node(id: NodeId): NodeRecord | undefined {
    return this.nodeSlots.get(id)?.node;
  }

  *nodes(): Iterable<NodeRecord> {
    for (const id of this.nodeIdsSorted) yield this.nodeSlots.get(id)!.node;
  }

  vm(id: VmId): VmRecord | undefined {
    return this.vmSlots.get(id)?.vm;
  }

  vmByName(tenant: string, name: string): VmRecord | undefined {
    const id = this.vmIdsByName.get(nameKey(tenant, name));
    return id === undefined ? undefined : this.vmSlots.get(id)!.vm;
  }

  *vms(): Iterable<VmRecord> {
    for (const slot of this.vmSlots.values()) yield slot.vm;
  }

  *vmsOnNode(nodeId: NodeId): Iterable<VmRecord> {
    const slot = this.nodeSlots.get(nodeId);
    if (slot === undefined) return;
    for (const id of slot.vmIds) yield this.vmSlots.get(id)!.vm;
  }

  tenant(name: string): TenantRecord | undefined {
    return this.tenantSlots.get(name)?.tenant;
  }

  /**
   * Why pending `vmId` could not be placed on `nodeId` now, by the rule placements-commit applies
   * (capacity always checked, whatever bug is planted), or undefined when it could: the checkers'
   * oracle for "some node could hold it", independent of the scheduler under test.
   */
  placementRefusalOf(vmId: VmId, nodeId: NodeId): string | undefined {
    const vm = this.vmSlots.get(vmId)?.vm;
    const nodeSlot = this.nodeSlots.get(nodeId);
    assert(vm !== undefined && nodeSlot !== undefined, () => `placementRefusalOf names vm ${vmId} and node ${nodeId}, both present`);
    assert(vm.nodeId === 0 && vm.phase === "pending", () => `vm ${vmId} is pending, not ${vm.phase} on node ${vm.nodeId}`);
    return this.placementRefusal(vm, nodeSlot, true);
  }

  *tenants(): Iterable<TenantRecord> {
    for (const name of [...this.tenantSlots.keys()].sort()) yield this.tenantSlots.get(name)!.tenant;
  }

  get vmCount(): number {
    return this.vmSlots.size;
  }

  eventsAfter(afterIndex: number, limit: number): { readonly events: readonly ClusterEvent[]; readonly truncated: boolean } {
    assert(Number.isSafeInteger(limit) && limit >= 0, "eventsAfter: limit must be a non-negative integer");
    let low = this.eventsStart;
    let high = this.events.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (this.events[middle]!.index <= afterIndex) low = middle + 1;
      else high = middle;
    }
    const events = this.events.slice(low, Math.min(this.events.length, low + limit));
    assert(events.every((e) => e.index > afterIndex), "eventsAfter returned an old event");
    return { events, truncated: this.droppedThroughIndex > afterIndex };
  }

  // -------------------------------------------------------------------------------------
  // Apply

  apply(index: number, envelope: CommandEnvelope): ClusterResult {
    assert(Number.isSafeInteger(index) && index > this.appliedIndexValue, () => `apply: index ${index} after ${this.appliedIndexValue}`);
    this.appliedIndexValue = index;
    this.eventSequence = 0;
    const requestId = typeof envelope?.requestId === "string" ? envelope.requestId : "";
    if (requestId !== "") {
      const recorded = this.requestResults.get(requestId);
      if (recorded !== undefined) return recorded;
    }
    const invalid = validateEnvelope(envelope);
    if (invalid !== undefined) return reject("invalid", invalid);
    const eventsBefore = this.events.length;
    const result = this.applyBody(index, envelope.stampUs, envelope.body);
    assert(result.status === "ok" || this.events.length === eventsBefore, "a rejected command emitted events");
    if (result.status === "ok" && requestId !== "") {
      if (this.requestResults.size >= CLUSTER_LIMITS.requestIdsRetainedMax) {
        this.requestResults.delete(this.requestResults.keys().next().value!);
      }
      this.requestResults.set(requestId, result);
    }
    return result;
  }

  private applyBody(index: number, stampUs: number, body: ClusterCommand): ClusterResult {
    switch (body.kind) {
      case "node-register":
        return this.nodeRegister(index, stampUs, copyCanonical(body.node, nodeRegistrationSchema));
      case "node-heartbeat":
        return this.nodeHeartbeat(index, body.nodeId, body.epoch);
      case "node-set-state":
        return this.nodeSetState(index, stampUs, body.nodeId, body.state);
      case "node-declare-down":
        return this.nodeDeclareDown(index, stampUs, body.nodeId, body.epoch, body.renewedIndex);
      case "node-remove":
        return this.nodeRemove(index, stampUs, body.nodeId);
      case "vm-create":
        return this.vmCreate(index, stampUs, copyCanonical(body.spec, vmSpecSchema), body.desired);
      case "vm-update":
        return this.vmUpdate(index, stampUs, body.vmId, body.expectedGeneration, copyCanonical(body.spec, vmSpecSchema));
      case "vm-set-desired":
        return this.vmSetDesired(index, stampUs, body.vmId, body.expectedGeneration, body.desired);
      case "vm-delete":
        return this.vmDelete(index, stampUs, body.vmId, body.expectedGeneration);
      case "vm-migrate":
        return this.vmMigrate(index, stampUs, body.vmId, body.expectedGeneration, body.targetNodeId);
      case "placements-commit":
        return this.placementsCommit(index, stampUs, body);
      case "vm-observed":
        return this.vmObserved(index, stampUs, body.nodeId, body.epoch, body.reports);
      case "vm-fail":
        return this.vmFail(index, stampUs, body.vmId, body.expectedGeneration, body.reason);
      case "tenant-set":
        return this.tenantSet(index, stampUs, body.name, { ...body.quota });
      case "tenant-remove":
        return this.tenantRemove(index, stampUs, body.name);
      case "ip-pool-create":
        return this.ipPoolCreate(index, stampUs, { ...body.pool, reserved: [...body.pool.reserved] });
      case "ip-pool-remove":
        return this.ipPoolRemove(index, stampUs, body.name);
      default:
        return unreachable(body, "cluster command");
    }
  }

  private emit(index: number, stampUs: number, kind: ClusterEventKind, nodeId: NodeId, vmId: VmId, detail: string): void {
    this.events.push({ index, sequence: this.eventSequence++, kind, stampUs, nodeId, vmId, detail });
    if (this.events.length - this.eventsStart > CLUSTER_LIMITS.eventsRetainedMax) {
      this.droppedThroughIndex = this.events[this.eventsStart]!.index;
      this.eventsStart++;
      if (this.eventsStart >= CLUSTER_LIMITS.eventsRetainedMax) {
        this.events = this.events.slice(this.eventsStart);
        this.eventsStart = 0;
      }
    }
    assert(this.events.length - this.eventsStart <= CLUSTER_LIMITS.eventsRetainedMax, "event ring over its bound");
  }

  // -------------------------------------------------------------------------------------
  // Record updates: every change bumps the record's generation.

  private setNode(slot: NodeSlot, changes: Partial<NodeRecord>, index: number, placementRelevant: boolean): NodeRecord {
    const before = slot.node.generation;
    slot.node = { ...slot.node, ...changes, generation: before + 1 };
    if (placementRelevant) slot.placementChangedIndex = index;
    assert(slot.node.generation > before, "node generation did not grow");
    return slot.node;
  }

  private setVm(slot: VmSlot, changes: Partial<VmRecord>, index: number): VmRecord {
    const before = slot.vm.generation;
    slot.vm = { ...slot.vm, ...changes, generation: before + 1 };
    slot.changedIndex = index;
    assert(slot.vm.generation > before && slot.vm.id === slot.vm.id, "vm generation did not grow");
    return slot.vm;
  }

  private setTenantUsage(name: string, vmsDelta: number, grow: Resources | undefined, shrink: Resources | undefined): void {
    const slot = this.tenantSlots.get(name);
    assert(slot !== undefined, () => `tenant ${name} of an existing vm is missing`);
    let resources = slot.tenant.usage.resources;
    if (grow !== undefined) resources = add(resources, grow);
    if (shrink !== undefined) resources = subtract(resources, shrink);
    const vms = slot.tenant.usage.vms + vmsDelta;
    assert(vms >= 0, () => `tenant ${name}: vm count would go negative`);
    slot.tenant = { ...slot.tenant, usage: { vms, resources } };
    if (slot.overQuota && quotaBreach(slot.tenant.quota, vms, resources) === undefined) slot.overQuota = false;
  }

  private nodeRefusal(nodeId: NodeId): ClusterResult | undefined {
    return this.nodeSlots.has(nodeId) ? undefined : reject("not-found", `nodeId: node ${nodeId} is not registered`);
  }

  private vmSlotChecked(vmId: VmId, expectedGeneration: number): VmSlot | ClusterResult {
    const slot = this.vmSlots.get(vmId);
    if (slot === undefined) return reject("not-found", `vmId: vm ${vmId} does not exist`);
    if (expectedGeneration !== 0 && slot.vm.generation !== expectedGeneration && !this.bugs.has("generation-not-compared")) {
      return reject("stale-generation", `expectedGeneration: vm ${vmId} is at generation ${slot.vm.generation}, not ${expectedGeneration}`);
    }
    return slot;
  }

  // -------------------------------------------------------------------------------------
  // Nodes

  private nodeRegister(index: number, stampUs: number, registration: NodeRegistration): ClusterResult {
    const slot = this.nodeSlots.get(registration.id);
    if (slot === undefined) {
      if (this.nodeSlots.size >= CLUSTER_LIMITS.nodesMax) return reject("limit-exceeded", `nodesMax: ${CLUSTER_LIMITS.nodesMax} nodes registered`);
      const epoch = (this.removedNodeEpochs.get(registration.id) ?? 0) + 1;
      const node: NodeRecord = { ...registration, state: "ready", lease: { epoch, renewedIndex: index }, allocated: ZERO, generation: 1 };
      this.removedNodeEpochs.delete(registration.id);
      this.nodeSlots.set(node.id, { node, placementChangedIndex: index, vmIds: [] });
      insertSorted(this.nodeIdsSorted, node.id);
      this.emit(index, stampUs, "node-registered", node.id, 0, `epoch ${epoch}`);
      return ok({ kind: "node", node });
    }
    const current = slot.node;
    if (current.state === "down") {
      assert(slot.vmIds.length === 0 && sameResources(current.allocated, ZERO), "a down node holds vms");
      const epoch = current.lease.epoch + 1;
      const node = this.setNode(slot, { ...registration, state: "ready", lease: { epoch, renewedIndex: index } }, index, true);
      this.emit(index, stampUs, "node-registered", node.id, 0, `epoch ${epoch} (registered again after down)`);
      return ok({ kind: "node", node });
    }
    const registered = writeCanonical(current, nodeRegistrationSchema);
    if (registered === writeCanonical(registration, nodeRegistrationSchema)) return ok({ kind: "node", node: current });
    const missing = shortfall(current.allocated, allocatable(registration));
    if (missing !== undefined) {
      return reject("no-capacity", `node.capacity: node ${registration.id}'s assigned vms would no longer fit: ${missing.replace("free", "allocatable")}`);
    }
    const node = this.setNode(slot, { ...registration }, index, true);
    this.emit(index, stampUs, "node-registered", node.id, 0, "registration updated");
    return ok({ kind: "node", node });
  }

  private nodeHeartbeat(index: number, nodeId: NodeId, epoch: number): ClusterResult {
    const slot = this.nodeSlots.get(nodeId);
    if (slot === undefined) return reject("not-found", `nodeId: node ${nodeId} is not registered`);
    if (slot.node.state === "down") return reject("stale-epoch", `epoch: node ${nodeId} was declared down in epoch ${slot.node.lease.epoch}; it must register again`);
    if (slot.node.lease.epoch !== epoch) return reject("stale-epoch", `epoch: node ${nodeId} is in epoch ${slot.node.lease.epoch}, not ${epoch}`);
    // A renewal is not an event: thousands of nodes renewing would flood the watchers' ring.
    const node = this.setNode(slot, { lease: { epoch, renewedIndex: index } }, index, false);
    return ok({ kind: "node", node });
  }

  private nodeSetState(index: number, stampUs: number, nodeId: NodeId, state: "ready" | "cordoned" | "draining"): ClusterResult {
    const slot = this.nodeSlots.get(nodeId);
    if (slot === undefined) return reject("not-found", `nodeId: node ${nodeId} is not registered`);
    if (slot.node.state === "down") return reject("conflict", `state: node ${nodeId} is down; it must register again before it can be ${state}`);
    if (slot.node.state === state) return ok({ kind: "node", node: slot.node });
    const from = slot.node.state;
    const node = this.setNode(slot, { state }, index, true);
    this.emit(index, stampUs, "node-state-changed", nodeId, 0, `${from} -> ${state}`);
    return ok({ kind: "node", node });
  }

  private nodeDeclareDown(index: number, stampUs: number, nodeId: NodeId, epoch: number, renewedIndex: number): ClusterResult {
    const slot = this.nodeSlots.get(nodeId);
    if (slot === undefined) return reject("not-found", `nodeId: node ${nodeId} is not registered`);
    const lease = slot.node.lease;
    if (slot.node.state === "down") return reject("conflict", `state: node ${nodeId} is already down (epoch ${lease.epoch})`);
    if (lease.epoch !== epoch) return reject("stale-epoch", `epoch: node ${nodeId} is in epoch ${lease.epoch}, not ${epoch}`);
    if (renewedIndex < lease.renewedIndex) {
      return reject("stale-epoch", `renewedIndex: node ${nodeId}'s lease was renewed at index ${lease.renewedIndex}, after ${renewedIndex}`);
    }
    this.setNode(slot, { state: "down" }, index, true);
    this.emit(index, stampUs, "node-down", nodeId, 0, `epoch ${epoch}, last renewed at index ${lease.renewedIndex}`);
    for (const vmId of [...slot.vmIds]) this.unassign(index, stampUs, this.vmSlots.get(vmId)!, `node ${nodeId} down`, true);
    assert(slot.vmIds.length === 0 && sameResources(slot.node.allocated, ZERO), "a node declared down still holds vms");
    return ok({ kind: "node", node: slot.node });
  }

  private nodeRemove(index: number, stampUs: number, nodeId: NodeId): ClusterResult {
    const slot = this.nodeSlots.get(nodeId);
    if (slot === undefined) return reject("not-found", `nodeId: node ${nodeId} is not registered`);
    if (slot.vmIds.length > 0) return reject("conflict", `nodeId: node ${nodeId} still has ${slot.vmIds.length} vms assigned (first: vm ${slot.vmIds[0]})`);
    if (this.removedNodeEpochs.size >= CLUSTER_LIMITS.nodesMax) {
      return reject("limit-exceeded", `nodesMax: ${CLUSTER_LIMITS.nodesMax} removed nodes remembered (their epochs are never reused)`);
    }
    this.removedNodeEpochs.set(nodeId, slot.node.lease.epoch);
    this.nodeSlots.delete(nodeId);
    removeSorted(this.nodeIdsSorted, nodeId);
    this.emit(index, stampUs, "node-removed", nodeId, 0, `epoch ${slot.node.lease.epoch}`);
    assert(!this.nodeSlots.has(nodeId), "node still present after remove");
    return ok();
  }

  // -------------------------------------------------------------------------------------
  // VMs

  /**
   * Why no registered node could ever hold the spec (capacity under overcommit, ignoring what is
   * allocated), or "" when one could. With no node registered yet (a cluster starting) there is
   * nothing to judge by: "", so the controller does not fail VMs created before the nodes came up.
   */
  private neverFits(spec: VmSpec): string {
    if (this.nodeSlots.size === 0) return "";
    for (const id of this.nodeIdsSorted) {
      if (shortfall(spec.resources, allocatable(this.nodeSlots.get(id)!.node)) === undefined) return "";
    }
    return `no registered node could ever hold ${spec.resources.vcpus} vcpus, ${spec.resources.memoryMib} MiB, ${spec.resources.diskGib} GiB`;
  }

  /** Takes one address per interface with a pool, or rolls back and says why it could not. */
  private allocateAddresses(vmId: VmId, spec: VmSpec): IpAssignment[] | ClusterResult {
    const withoutCheck = this.bugs.has("ip-allocated-without-check");
    const taken: { pool: IpPool; address: number }[] = [];
    const rollBack = (): void => {
      for (const t of taken) t.pool.release(t.address, vmId, withoutCheck);
    };
    for (let i = 0; i < spec.interfaces.length; i++) {
      const poolName = spec.interfaces[i]!.ipPool;
      if (poolName === "") continue;
      const pool = this.pools.get(poolName);
      if (pool === undefined) {
        rollBack();
        return reject("not-found", `spec.interfaces[${i}].ipPool: pool ${JSON.stringify(poolName)} does not exist`);
      }
      const address = pool.lowestFree(withoutCheck);
      if (address === undefined) {
        rollBack();
        return reject("pool-exhausted", `spec.interfaces[${i}].ipPool: pool ${JSON.stringify(poolName)} (${pool.spec.cidr}) has no free address`);
      }
      pool.hold(address, vmId, withoutCheck);
      taken.push({ pool, address });
    }
    return taken.map((t) => ({ pool: t.pool.spec.name, address: formatIpv4(t.address), mac: formatMac(t.pool.poolNumber, t.address) }));
  }

  private releaseAddresses(vm: VmRecord): void {
    const lenient = this.bugs.has("ip-allocated-without-check");
    for (const a of vm.addresses) {
      const pool = this.pools.get(a.pool);
      assert(pool !== undefined, () => `vm ${vm.id} holds an address of missing pool ${a.pool}`);
      pool.release(parseIpv4(a.address)!, vm.id, lenient);
    }
  }

  private vmCreate(index: number, stampUs: number, spec: VmSpec, desired: "running" | "stopped"): ClusterResult {
    const tenant = this.tenantSlots.get(spec.tenant);
    if (tenant === undefined) return reject("not-found", `spec.tenant: tenant ${JSON.stringify(spec.tenant)} does not exist (create it with tenant-set)`);
    if (this.vmIdsByName.has(nameKey(spec.tenant, spec.name))) {
      return reject("already-exists", `spec.name: tenant ${spec.tenant} already has a vm named ${JSON.stringify(spec.name)}`);
    }
    if (this.vmSlots.size >= CLUSTER_LIMITS.vmsMax) return reject("limit-exceeded", `vmsMax: ${CLUSTER_LIMITS.vmsMax} vms exist`);
    const usage = tenant.tenant.usage;
    const breach = quotaBreach(tenant.tenant.quota, usage.vms + 1, add(usage.resources, spec.resources));
    if (breach !== undefined) return reject("quota-exceeded", `quota.${breach}: tenant ${spec.tenant}`);
    assert(!this.vmSlots.has(index), () => `vm id ${index} reused`);
    const addresses = this.allocateAddresses(index, spec);
    if (!Array.isArray(addresses)) return addresses;
    const vm: VmRecord = {
      id: index,
      spec,
      desired,
      phase: desired === "running" ? "pending" : "stopped",
      nodeId: 0,
      token: { nodeId: 0, epoch: 0, placement: 0 },
      generation: 1,
      observed: { phase: "unknown", index: 0, detail: "" },
      addresses,
      restarts: 0,
      reason: desired === "running" ? this.neverFits(spec) : "",
    };
    this.vmSlots.set(vm.id, { vm, changedIndex: index });
    this.vmIdsByName.set(nameKey(spec.tenant, spec.name), vm.id);
    this.setTenantUsage(spec.tenant, 1, spec.resources, undefined);
    this.emit(index, stampUs, "vm-created", 0, vm.id, `${spec.tenant}/${spec.name} ${vm.phase}`);
    return ok({ kind: "vm", vm });
  }

  private vmUpdate(index: number, stampUs: number, vmId: VmId, expectedGeneration: number, spec: VmSpec): ClusterResult {
    const slot = this.vmSlotChecked(vmId, expectedGeneration);
    if (!("vm" in slot)) return slot;
    const vm = slot.vm;
    if (spec.tenant !== vm.spec.tenant) return reject("invalid", `spec.tenant: a vm's tenant never changes (${JSON.stringify(vm.spec.tenant)})`);
    if (spec.name !== vm.spec.name) return reject("invalid", `spec.name: a vm's name never changes (${JSON.stringify(vm.spec.name)})`);
    if (vm.phase === "deleting") return reject("conflict", `vmId: vm ${vmId} is deleting`);
    const pools = (s: VmSpec): string => s.interfaces.map((i) => i.ipPool).join(",");
    if (pools(spec) !== pools(vm.spec)) return reject("conflict", `spec.interfaces: the ip pools of a vm's interfaces never change (${pools(vm.spec)})`);
    if (vm.nodeId !== 0) {
      if (!sameResources(spec.resources, vm.spec.resources)) {
        return reject("conflict", `spec.resources: vm ${vmId} is assigned to node ${vm.nodeId} (phase ${vm.phase}); stop it before resizing`);
      }
      const a = spec.antiAffinity;
      const b = vm.spec.antiAffinity;
      if (a.group !== b.group || a.mode !== b.mode || a.maxPerNode !== b.maxPerNode) {
        return reject("conflict", `spec.antiAffinity: vm ${vmId} is assigned to node ${vm.nodeId}; stop it before changing its hard anti-affinity`);
      }
    }
    const tenant = this.tenantSlots.get(vm.spec.tenant)!;
    const grows =
      spec.resources.vcpus > vm.spec.resources.vcpus || spec.resources.memoryMib > vm.spec.resources.memoryMib || spec.resources.diskGib > vm.spec.resources.diskGib;
    if (grows) {
      const after = add(subtract(tenant.tenant.usage.resources, vm.spec.resources), spec.resources);
      const breach = quotaBreach({ ...tenant.tenant.quota, vmsMax: Number.MAX_SAFE_INTEGER }, 0, after);
      if (breach !== undefined) return reject("quota-exceeded", `quota.${breach}: tenant ${vm.spec.tenant}`);
    }
    this.setTenantUsage(vm.spec.tenant, 0, spec.resources, vm.spec.resources);
    const reason = vm.phase === "pending" ? this.neverFits(spec) : vm.reason;
    const updated = this.setVm(slot, { spec, reason }, index);
    this.emit(index, stampUs, "vm-updated", updated.nodeId, vmId, "spec replaced");
    return ok({ kind: "vm", vm: updated });
  }

  private vmSetDesired(index: number, stampUs: number, vmId: VmId, expectedGeneration: number, desired: "running" | "stopped"): ClusterResult {
    const slot = this.vmSlotChecked(vmId, expectedGeneration);
    if (!("vm" in slot)) return slot;
    const vm = slot.vm;
    if (vm.phase === "deleting") return reject("conflict", `desired: vm ${vmId} is deleting`);
    if (vm.phase === "failed" && vm.nodeId !== 0 && desired === "running") {
      return reject("conflict", `desired: failed vm ${vmId} is still being stopped on node ${vm.nodeId}`);
    }
    // Nothing to do, except that desired running restarts a failed (unassigned) VM.
    if (vm.desired === desired && !(vm.phase === "failed" && desired === "running")) return ok({ kind: "vm", vm });
    let changes: Partial<VmRecord>;
    if (desired === "running") {
      // stopped or failed (unassigned) -> pending; stopping stays stopping and becomes pending once stopped.
      changes = vm.phase === "stopped" || vm.phase === "failed" ? { desired, phase: "pending", reason: this.neverFits(vm.spec), restarts: 0 } : { desired };
    } else if (vm.phase === "pending") {
      changes = { desired, phase: "stopped", reason: "" };
    } else if (vm.phase === "scheduled" || vm.phase === "starting" || vm.phase === "running") {
      changes = { desired, phase: "stopping", reason: "" };
    } else {
      changes = { desired };
    }
    const updated = this.setVm(slot, changes, index);
    this.emit(index, stampUs, "vm-updated", updated.nodeId, vmId, `desired ${desired}, phase ${updated.phase}`);
    return ok({ kind: "vm", vm: updated });
  }

  private vmDelete(index: number, stampUs: number, vmId: VmId, expectedGeneration: number): ClusterResult {
    const slot = this.vmSlotChecked(vmId, expectedGeneration);
    if (!("vm" in slot)) return slot;
    const vm = slot.vm;
    if (vm.phase === "deleting") return ok({ kind: "vm", vm });
    if (vm.nodeId === 0) {
      this.removeVm(index, stampUs, slot, "deleted");
      return ok({ kind: "vm", vm });
    }
    const updated = this.setVm(slot, { phase: "deleting", reason: "" }, index);
    this.emit(index, stampUs, "vm-updated", updated.nodeId, vmId, `deleting: node ${vm.nodeId} stops it`);
    return ok({ kind: "vm", vm: updated });
  }

  private vmMigrate(index: number, stampUs: number, vmId: VmId, expectedGeneration: number, targetNodeId: NodeId): ClusterResult {
    const slot = this.vmSlotChecked(vmId, expectedGeneration);
    if (!("vm" in slot)) return slot;
    const vm = slot.vm;
    if (vm.phase !== "running" || vm.nodeId === 0) return reject("conflict", `vmId: only a running vm migrates; vm ${vmId} is ${vm.phase}`);
    if (targetNodeId !== 0 && !this.nodeSlots.has(targetNodeId)) return reject("not-found", `targetNodeId: node ${targetNodeId} is not registered`);
    if (targetNodeId === vm.nodeId) return reject("conflict", `targetNodeId: vm ${vmId} already runs on node ${targetNodeId}`);
    const changes: Partial<VmRecord> = { phase: "stopping", reason: targetNodeId === 0 ? "moving" : `moving to node ${targetNodeId}` };
    const updated = this.setVm(slot, targetNodeId === 0 ? changes : { ...changes, migrateTargetNodeId: targetNodeId }, index);
    this.emit(index, stampUs, "vm-migrated", vm.nodeId, vmId, updated.reason);
    return ok({ kind: "vm", vm: updated });
  }

  private vmFail(index: number, stampUs: number, vmId: VmId, expectedGeneration: number, reason: string): ClusterResult {
    const slot = this.vmSlotChecked(vmId, expectedGeneration);
    if (!("vm" in slot)) return slot;
    const vm = slot.vm;
    if (vm.phase !== "pending" && vm.phase !== "scheduled" && vm.phase !== "starting" && vm.phase !== "running") {
      return reject("conflict", `vmId: vm ${vmId} is ${vm.phase}; only a pending, scheduled, starting or running vm can fail`);
    }
    // An assigned VM stays assigned (and allocated) until its agent reports it stopped.
    const updated = this.setVm(slot, { phase: "failed", reason: reason === "" ? "failed by the controller" : reason }, index);
    this.emit(index, stampUs, "vm-failed", updated.nodeId, vmId, updated.reason);
    return ok({ kind: "vm", vm: updated });
  }

  /** The VM's placement ends: off its node, resources released, token bumped; then removed, pending, stopped or failed. */
  private unassign(index: number, stampUs: number, slot: VmSlot, why: string, fenced: boolean): void {
    const vm = slot.vm;
    const nodeSlot = this.nodeSlots.get(vm.nodeId);
    assert(vm.nodeId !== 0 && nodeSlot !== undefined, () => `vm ${vm.id} is not assigned to a known node`);
    removeSorted(nodeSlot.vmIds, vm.id);
    this.setNode(nodeSlot, { allocated: subtract(nodeSlot.node.allocated, vm.spec.resources) }, index, true);
    const token = { ...vm.token, placement: vm.token.placement + 1 };
    if (fenced) this.emit(index, stampUs, "vm-fenced", vm.nodeId, vm.id, `${why}: placement ${vm.token.placement} (epoch ${vm.token.epoch}) fenced`);
    if (vm.phase === "deleting") {
      slot.vm = { ...vm, nodeId: 0, token };
      this.removeVm(index, stampUs, slot, why);
      return;
    }
    const phase = vm.phase === "failed" ? "failed" : vm.desired === "running" ? "pending" : "stopped";
    const reason = phase === "failed" ? vm.reason : phase === "pending" ? (vm.reason !== "" ? vm.reason : why) : "";
    const updated = this.setVm(slot, { nodeId: 0, token, phase, reason, restarts: 0 }, index);
    this.emit(index, stampUs, "vm-stopped", vm.nodeId, vm.id, `${why}; now ${updated.phase}`);
    assert(updated.nodeId === 0 && !nodeSlot.vmIds.includes(vm.id), "unassigned vm still on its node");
  }

  /** The record goes: usage and addresses released (it must be unassigned already). */
  private removeVm(index: number, stampUs: number, slot: VmSlot, why: string): void {
    const vm = slot.vm;
    assert(vm.nodeId === 0, () => `vm ${vm.id} removed while assigned to node ${vm.nodeId}`);
    this.releaseAddresses(vm);
    if (!this.bugs.has("quota-not-released-on-delete")) this.setTenantUsage(vm.spec.tenant, -1, undefined, vm.spec.resources);
    this.vmSlots.delete(vm.id);
    this.vmIdsByName.delete(nameKey(vm.spec.tenant, vm.spec.name));
    this.emit(index, stampUs, "vm-deleted", vm.token.nodeId, vm.id, why);
    assert(!this.vmSlots.has(vm.id), "vm still present after removal");
  }

  // -------------------------------------------------------------------------------------
  // Placements

  /** Why `vm` cannot be placed on `node` now (the current state, not the plan's), or undefined. */
  private placementRefusal(vm: VmRecord, nodeSlot: NodeSlot, checkCapacity: boolean): string | undefined {
    const node = nodeSlot.node;
    if (node.state !== "ready") return `node ${node.id} is ${node.state}`;
    if (checkCapacity && !fitsOn(node, vm.spec.resources)) return `node ${node.id} lacks ${shortfall(vm.spec.resources, room(node))}`;
    const constraints = vm.spec.constraints;
    for (let i = 0; i < constraints.length; i++) {
      const c = constraints[i]!;
      if (c.kind === "label" && !node.labels.some((l) => l.key === c.key && l.value === c.value)) return `node ${node.id} lacks label ${c.key}=${c.value}`;
      if (c.kind === "feature" && !node.features.includes(c.feature)) return `node ${node.id} lacks feature ${c.feature}`;
      if (c.kind === "pinned" && c.nodeId !== node.id) return `vm is pinned to node ${c.nodeId}`;
      if (c.kind === "datacenter" || c.kind === "zone") {
        const where = c.kind === "datacenter" ? node.topology.datacenter : node.topology.zone;
        if (c.mode === "require" && where !== c.value) return `node ${node.id} is not in ${c.kind} ${c.value}`;
        if (c.mode === "exclude" && where === c.value) return `node ${node.id} is in excluded ${c.kind} ${c.value}`;
      }
    }
    const spec = vm.spec;
    const quota = this.tenantSlots.get(spec.tenant)!.tenant.quota;
    const group = spec.antiAffinity.group;
    let tenantVms = 0;
    let groupVms = 0;
    let groupMax = spec.antiAffinity.mode === "hard" ? spec.antiAffinity.maxPerNode : Number.MAX_SAFE_INTEGER;
    for (const id of nodeSlot.vmIds) {
      const other = this.vmSlots.get(id)!.vm.spec;
      if (other.tenant !== spec.tenant) continue;
      tenantVms++;
      if (group !== "" && other.antiAffinity.group === group) {
        groupVms++;
        if (other.antiAffinity.mode === "hard") groupMax = Math.min(groupMax, other.antiAffinity.maxPerNode);
      }
    }
    if (tenantVms + 1 > quota.vmsPerNodeMax) return `tenant ${spec.tenant} has ${tenantVms} vms on node ${node.id} (quota vmsPerNodeMax ${quota.vmsPerNodeMax})`;
    if (group !== "" && groupVms + 1 > groupMax) return `anti-affinity group ${group} has ${groupVms} vms on node ${node.id} (at most ${groupMax})`;
    return undefined;
  }

  private placementsCommit(index: number, stampUs: number, body: Extract<ClusterCommand, { kind: "placements-commit" }>): ClusterResult {
    const { checkIndex, placements, evictions } = body;
    if (checkIndex >= index) return reject("invalid", `checkIndex: ${checkIndex} is not before this command's index ${index}`);
    if (checkIndex !== 0) {
      const stale = this.stalePlan(checkIndex, placements, evictions.map((e) => [e.vmId, e.forVmId]).flat());
      if (stale !== undefined) return reject("stale-plan", `checkIndex: ${stale} after the plan's index ${checkIndex}`);
    }
    const placed: VmId[] = [];
    const skipped: VmId[] = [];
    const evicted: VmId[] = [];
    for (const e of evictions) {
      const slot = this.vmSlots.get(e.vmId);
      const forVm = this.vmSlots.get(e.forVmId)?.vm;
      const vm = slot?.vm;
      const applies =
        vm !== undefined &&
        forVm !== undefined &&
        vm.generation === e.expectedGeneration &&
        vm.nodeId !== 0 &&
        (vm.phase === "scheduled" || vm.phase === "starting" || vm.phase === "running") &&
        vm.spec.preemptible &&
        vm.spec.priority < forVm.spec.priority;
      if (!applies) {
        skipped.push(e.vmId);
        continue;
      }
      const updated = this.setVm(slot!, { phase: "stopping", reason: `evicted for vm ${e.forVmId}` }, index);
      evicted.push(e.vmId);
      this.emit(index, stampUs, "vm-evicted", updated.nodeId, e.vmId, updated.reason);
    }
    for (const p of placements) {
      const slot = this.vmSlots.get(p.vmId);
      const nodeSlot = this.nodeSlots.get(p.nodeId);
      const vm = slot?.vm;
      const applies =
        vm !== undefined &&
        nodeSlot !== undefined &&
        vm.generation === p.expectedGeneration &&
        vm.nodeId === 0 &&
        vm.desired === "running" &&
        vm.phase === "pending" &&
        this.placementRefusal(vm, nodeSlot, !this.capacityCheckStale) === undefined;
      if (!applies) {
        skipped.push(p.vmId);
        continue;
      }
      this.place(index, stampUs, slot!, nodeSlot!);
      placed.push(p.vmId);
    }
    assert(placed.length + evicted.length + skipped.length === placements.length + evictions.length, "placements-commit lost an entry");
    return ok({ kind: "placements", placed, skipped, evicted });
  }

  /** What a plan computed at checkIndex touches that changed since (or vanished), or undefined. */
  private stalePlan(checkIndex: number, placements: readonly PlacementEntry[], evictionVmIds: readonly VmId[]): string | undefined {
    const vmStale = (vmId: VmId): string | undefined => {
      const slot = this.vmSlots.get(vmId);
      if (slot === undefined) return `vm ${vmId} no longer exists`;
      return slot.changedIndex > checkIndex ? `vm ${vmId} changed at index ${slot.changedIndex}` : undefined;
    };
    for (const p of placements) {
      const stale = vmStale(p.vmId);
      if (stale !== undefined) return stale;
      const nodeSlot = this.nodeSlots.get(p.nodeId);
      if (nodeSlot === undefined) return `node ${p.nodeId} is not registered`;
      if (nodeSlot.placementChangedIndex > checkIndex) return `node ${p.nodeId} changed at index ${nodeSlot.placementChangedIndex}`;
    }
    for (const vmId of evictionVmIds) {
      const stale = vmStale(vmId);
      if (stale !== undefined) return stale;
    }
    return undefined;
  }

  private place(index: number, stampUs: number, slot: VmSlot, nodeSlot: NodeSlot): void {
    const vm = slot.vm;
    const node = nodeSlot.node;
    assert(vm.nodeId === 0 && node.state === "ready", "placing an assigned vm or on a node that is not ready");
    insertSorted(nodeSlot.vmIds, vm.id);
    this.setNode(nodeSlot, { allocated: add(node.allocated, vm.spec.resources) }, index, true);
    const token = { nodeId: node.id, epoch: node.lease.epoch, placement: vm.token.placement + 1 };
    const changes: Partial<VmRecord> = { nodeId: node.id, token, phase: "scheduled", reason: "", restarts: 0, observed: { phase: "unknown", index, detail: "" } };
    if (vm.migrateTargetNodeId !== undefined) {
      const { migrateTargetNodeId: _target, ...withoutTarget } = vm;
      slot.vm = withoutTarget;
    }
    const updated = this.setVm(slot, changes, index);
    this.emit(index, stampUs, "vm-scheduled", node.id, vm.id, `placement ${token.placement}, epoch ${token.epoch}`);
    assert(updated.generation === vm.generation + 1, "placement bumped the generation more than once");
  }

  // -------------------------------------------------------------------------------------
  // Agent reports

  private vmObserved(index: number, stampUs: number, nodeId: NodeId, epoch: number, reports: readonly VmReport[]): ClusterResult {
    const refusal = this.nodeRefusal(nodeId);
    if (refusal !== undefined) return refusal;
    const node = this.nodeSlots.get(nodeId)!.node;
    if (node.state === "down") return reject("stale-epoch", `epoch: node ${nodeId} was declared down in epoch ${node.lease.epoch}; it must register again`);
    if (node.lease.epoch !== epoch) return reject("stale-epoch", `epoch: node ${nodeId} is in epoch ${node.lease.epoch}, not ${epoch}`);
    for (const report of reports) {
      const slot = this.vmSlots.get(report.vmId);
      // Reports about VMs that left this node, or about an older placement, are late news: ignored.
      if (slot === undefined || slot.vm.nodeId !== nodeId || slot.vm.token.placement !== report.placement) continue;
      this.applyReport(index, stampUs, slot, report);
    }
    return ok();
  }

  private applyReport(index: number, stampUs: number, slot: VmSlot, report: VmReport): void {
    const vm = slot.vm;
    assert(isAssignedPhase(vm.phase), () => `vm ${vm.id} is assigned but ${vm.phase}`);
    const observed = { phase: report.phase, index, detail: report.detail };
    const outcome = REPORT_RULES[vm.phase][report.phase];
    switch (outcome) {
      case "observe":
        this.setVm(slot, { observed }, index);
        this.emit(index, stampUs, "vm-updated", vm.nodeId, vm.id, `observed ${report.phase}`);
        return;
      case "starting":
        this.setVm(slot, { observed, phase: "starting" }, index);
        this.emit(index, stampUs, "vm-updated", vm.nodeId, vm.id, "starting");
        return;
      case "running":
        this.setVm(slot, { observed, phase: "running" }, index);
        this.emit(index, stampUs, "vm-started", vm.nodeId, vm.id, `placement ${vm.token.placement}`);
        return;
      case "restart-policy":
        this.applyRestartPolicy(index, stampUs, slot, report, observed);
        return;
      case "unassign":
        slot.vm = { ...vm, observed };
        this.unassign(index, stampUs, slot, `stopped on node ${vm.nodeId}`, false);
        return;
      case "remove":
        slot.vm = { ...vm, observed };
        this.unassign(index, stampUs, slot, `stopped on node ${vm.nodeId} and deleted`, false);
        return;
      default:
        unreachable(outcome, "report outcome");
    }
  }

  private applyRestartPolicy(index: number, stampUs: number, slot: VmSlot, report: VmReport, observed: VmRecord["observed"]): void {
    const vm = slot.vm;
    assert(report.phase === "stopped" || report.phase === "exited" || report.phase === "crashed" || report.phase === "unhealthy", "restart policy for a live report");
    const verdict = RESTART_RULES[vm.spec.restartPolicy][report.phase];
    if (verdict === "restart") {
      this.setVm(slot, { observed, phase: "starting", restarts: vm.restarts + 1 }, index);
      this.emit(index, stampUs, "vm-updated", vm.nodeId, vm.id, `${report.phase}; restart ${vm.restarts + 1} (policy ${vm.spec.restartPolicy})`);
    } else if (verdict === "observe") {
      this.setVm(slot, { observed }, index);
      this.emit(index, stampUs, "vm-updated", vm.nodeId, vm.id, `observed ${report.phase}`);
    } else {
      const reason = `${report.phase} on node ${vm.nodeId}; restart policy ${vm.spec.restartPolicy}`;
      slot.vm = { ...vm, observed, phase: "failed", reason };
      this.emit(index, stampUs, "vm-failed", vm.nodeId, vm.id, reason);
      this.unassign(index, stampUs, slot, reason, false);
    }
  }

  // -------------------------------------------------------------------------------------
  // Tenants and pools

  private tenantSet(index: number, stampUs: number, name: string, quota: Quota): ClusterResult {
    const slot = this.tenantSlots.get(name);
    if (slot === undefined) {
      if (this.tenantSlots.size >= CLUSTER_LIMITS.tenantsMax) return reject("limit-exceeded", `tenantsMax: ${CLUSTER_LIMITS.tenantsMax} tenants exist`);
      this.tenantSlots.set(name, { tenant: { name, quota, usage: { vms: 0, resources: ZERO } }, overQuota: false });
    } else {
      slot.tenant = { ...slot.tenant, quota };
      slot.overQuota = quotaBreach(quota, slot.tenant.usage.vms, slot.tenant.usage.resources) !== undefined;
    }
    this.emit(index, stampUs, "tenant-changed", 0, 0, `${name}: quota set`);
    return ok();
  }

  private tenantRemove(index: number, stampUs: number, name: string): ClusterResult {
    const slot = this.tenantSlots.get(name);
    if (slot === undefined) return reject("not-found", `name: tenant ${JSON.stringify(name)} does not exist`);
    if (slot.tenant.usage.vms > 0) return reject("conflict", `name: tenant ${name} still has ${slot.tenant.usage.vms} vms`);
    this.tenantSlots.delete(name);
    this.emit(index, stampUs, "tenant-changed", 0, 0, `${name}: removed`);
    return ok();
  }

  private ipPoolCreate(index: number, stampUs: number, spec: IpPoolSpec): ClusterResult {
    if (this.pools.has(spec.name)) return reject("already-exists", `pool.name: pool ${JSON.stringify(spec.name)} exists`);
    if (this.pools.size >= CLUSTER_LIMITS.ipPoolsMax) return reject("limit-exceeded", `ipPoolsMax: ${CLUSTER_LIMITS.ipPoolsMax} pools exist`);
    const cidr = parseCidr(spec.cidr);
    assert(typeof cidr !== "string", "validated cidr does not parse");
    for (const name of [...this.pools.keys()].sort()) {
      if (this.pools.get(name)!.overlaps(cidr)) return reject("conflict", `pool.cidr: ${spec.cidr} overlaps pool ${name} (${this.pools.get(name)!.spec.cidr})`);
    }
    const numbers = new Set([...this.pools.values()].map((p) => p.poolNumber));
    let poolNumber = 0;
    while (numbers.has(poolNumber)) poolNumber++;
    assert(poolNumber <= 255, "no pool number left under ipPoolsMax");
    this.pools.set(spec.name, new IpPool(spec, poolNumber));
    this.emit(index, stampUs, "ip-pool-changed", 0, 0, `${spec.name} (${spec.cidr}) created`);
    return ok();
  }

  private ipPoolRemove(index: number, stampUs: number, name: string): ClusterResult {
    const pool = this.pools.get(name);
    if (pool === undefined) return reject("not-found", `name: pool ${JSON.stringify(name)} does not exist`);
    if (pool.heldCount > 0) return reject("conflict", `name: pool ${name} still has ${pool.heldCount} addresses held`);
    this.pools.delete(name);
    this.emit(index, stampUs, "ip-pool-changed", 0, 0, `${name} removed`);
    return ok();
  }

  ipPool(name: string): IpPoolSpec | undefined {
    return this.pools.get(name)?.spec;
  }

  // -------------------------------------------------------------------------------------
  // Audit: every invariant recomputed from scratch.

  audit(): string[] {
    const problems: string[] = [];
    const usage = new Map<string, { vms: number; resources: Resources }>();
    const allocated = new Map<NodeId, Resources>();
    const onNode = new Map<NodeId, VmRecord[]>();
    const addresses = new Map<string, VmId>();
    const macs = new Map<string, VmId>();
    let previousId = 0;
    for (const [id, slot] of this.vmSlots) {
      const vm = slot.vm;
      if (vm.id !== id || id <= previousId) problems.push(`vm ${id}: record id ${vm.id} or order wrong`);
      previousId = id;
      if (vm.generation < 1 || slot.changedIndex > this.appliedIndexValue) problems.push(`vm ${id}: generation ${vm.generation}, changed at ${slot.changedIndex}`);
      if (this.vmIdsByName.get(nameKey(vm.spec.tenant, vm.spec.name)) !== id) problems.push(`vm ${id}: name index does not point to it`);
      const u = usage.get(vm.spec.tenant) ?? { vms: 0, resources: ZERO };
      usage.set(vm.spec.tenant, { vms: u.vms + 1, resources: add(u.resources, vm.spec.resources) });
      if (!this.tenantSlots.has(vm.spec.tenant)) problems.push(`vm ${id}: tenant ${vm.spec.tenant} does not exist`);
      for (const a of vm.addresses) {
        const key = `${a.address}`;
        if (addresses.has(key)) problems.push(`address ${a.address} held by vm ${addresses.get(key)} and vm ${id}`);
        if (macs.has(a.mac)) problems.push(`mac ${a.mac} held by vm ${macs.get(a.mac)} and vm ${id}`);
        addresses.set(key, id);
        macs.set(a.mac, id);
        const pool = this.pools.get(a.pool);
        if (pool === undefined) problems.push(`vm ${id}: address ${a.address} of missing pool ${a.pool}`);
        else if (pool.holder(parseIpv4(a.address)!) !== id) problems.push(`vm ${id}: pool ${a.pool} does not record ${a.address} as its`);
      }
      if (vm.nodeId === 0) {
        if (vm.phase !== "pending" && vm.phase !== "stopped" && vm.phase !== "failed") problems.push(`vm ${id}: unassigned but ${vm.phase}`);
        if (vm.phase === "pending" && vm.desired !== "running") problems.push(`vm ${id}: pending but desired ${vm.desired}`);
        continue;
      }
      if (!isAssignedPhase(vm.phase)) problems.push(`vm ${id}: assigned to node ${vm.nodeId} but ${vm.phase}`);
      const node = this.nodeSlots.get(vm.nodeId)?.node;
      if (node === undefined) problems.push(`vm ${id}: assigned to missing node ${vm.nodeId}`);
      else if (node.state === "down") problems.push(`vm ${id}: assigned to down node ${vm.nodeId}`);
      else if (vm.token.nodeId !== vm.nodeId || vm.token.epoch !== node.lease.epoch || vm.token.placement < 1) {
        problems.push(`vm ${id}: token ${JSON.stringify(vm.token)} does not match node ${vm.nodeId} epoch ${node.lease.epoch}`);
      }
      allocated.set(vm.nodeId, add(allocated.get(vm.nodeId) ?? ZERO, vm.spec.resources));
      const list = onNode.get(vm.nodeId) ?? [];
      list.push(vm);
      onNode.set(vm.nodeId, list);
    }
    if (this.vmIdsByName.size !== this.vmSlots.size) problems.push(`name index holds ${this.vmIdsByName.size} names for ${this.vmSlots.size} vms`);
    for (const [name, slot] of this.tenantSlots) {
      const t = slot.tenant;
      const expected = usage.get(name) ?? { vms: 0, resources: ZERO };
      if (t.usage.vms !== expected.vms || !sameResources(t.usage.resources, expected.resources)) {
        problems.push(`tenant ${name}: usage ${JSON.stringify(t.usage)} but its vms sum to ${JSON.stringify(expected)}`);
      }
      const breach = quotaBreach(t.quota, t.usage.vms, t.usage.resources);
      if (breach !== undefined && !slot.overQuota) problems.push(`tenant ${name}: usage beyond quota ${breach}`);
    }
    let previousNode = 0;
    for (const id of this.nodeIdsSorted) {
      const slot = this.nodeSlots.get(id);
      if (slot === undefined || id <= previousNode) {
        problems.push(`node index: ${id} missing or out of order`);
        continue;
      }
      previousNode = id;
      const node = slot.node;
      const expected = allocated.get(id) ?? ZERO;
      if (!sameResources(node.allocated, expected)) problems.push(`node ${id}: allocated ${JSON.stringify(node.allocated)} but its vms sum to ${JSON.stringify(expected)}`);
      const missing = shortfall(node.allocated, allocatable(node));
      if (missing !== undefined) problems.push(`node ${id}: allocated beyond allocatable: ${missing.replace("free", "allocatable")}`);
      const vms = onNode.get(id) ?? [];
      if (vms.map((v) => v.id).join(",") !== slot.vmIds.join(",")) problems.push(`node ${id}: vm index ${slot.vmIds.join(",")} but assigned vms ${vms.map((v) => v.id).join(",")}`);
      for (const vm of vms) {
        const a = vm.spec.antiAffinity;
        if (a.group === "" || a.mode !== "hard") continue;
        const together = vms.filter((o) => o.spec.tenant === vm.spec.tenant && o.spec.antiAffinity.group === a.group).length;
        if (together > a.maxPerNode) problems.push(`node ${id}: hard anti-affinity group ${vm.spec.tenant}/${a.group} has ${together} vms (vm ${vm.id} allows ${a.maxPerNode})`);
      }
      if (node.generation < 1 || node.lease.epoch < 1) problems.push(`node ${id}: generation ${node.generation}, epoch ${node.lease.epoch}`);
    }
    if (this.nodeIdsSorted.length !== this.nodeSlots.size) problems.push(`node index holds ${this.nodeIdsSorted.length} ids for ${this.nodeSlots.size} nodes`);
    for (const id of onNode.keys()) if (!this.nodeSlots.has(id)) problems.push(`vms assigned to missing node ${id}`);
    let heldTotal = 0;
    for (const pool of this.pools.values()) heldTotal += pool.heldCount;
    if (heldTotal !== addresses.size) problems.push(`pools hold ${heldTotal} addresses but vms hold ${addresses.size}`);
    return problems;
  }

  // -------------------------------------------------------------------------------------
  // Snapshot and restore

  /** The whole state as canonical JSON bytes: equal states give equal bytes. */
  snapshot(): Uint8Array {
    const data: SnapshotData = {
      appliedIndex: this.appliedIndexValue,
      nodes: this.nodeIdsSorted.map((id) => {
        const slot = this.nodeSlots.get(id)!;
        return { node: slot.node, placementChangedIndex: slot.placementChangedIndex };
      }),
      removedNodes: [...this.removedNodeEpochs.keys()].sort((a, b) => a - b).map((nodeId) => ({ nodeId, epoch: this.removedNodeEpochs.get(nodeId)! })),
      vms: [...this.vmSlots.values()].map((slot) => ({ vm: slot.vm, changedIndex: slot.changedIndex })),
      tenants: [...this.tenantSlots.keys()].sort().map((name) => ({ tenant: this.tenantSlots.get(name)!.tenant, overQuota: this.tenantSlots.get(name)!.overQuota })),
      pools: [...this.pools.keys()].sort().map((name) => ({ spec: this.pools.get(name)!.spec, poolNumber: this.pools.get(name)!.poolNumber })),
      requests: [...this.requestResults].map(([requestId, result]) => ({ requestId, result })),
      droppedThroughIndex: this.droppedThroughIndex,
      events: this.events.slice(this.eventsStart),
    };
    return encoder.encode(writeCanonical(data, snapshotSchema));
  }

  /** Replaces the whole state with a snapshot's (bytes this class wrote; anything else is a programmer error). */
  restore(bytes: Uint8Array): void {
    const parsed: unknown = JSON.parse(decoder.decode(bytes));
    const problem = checkShape(parsed, snapshotSchema, "snapshot");
    assert(problem === undefined, () => `cluster snapshot malformed: ${problem}`);
    const data = parsed as SnapshotData;
    this.appliedIndexValue = data.appliedIndex;
    this.nodeSlots.clear();
    this.nodeIdsSorted.length = 0;
    this.removedNodeEpochs.clear();
    this.vmSlots.clear();
    this.vmIdsByName.clear();
    this.tenantSlots.clear();
    this.pools.clear();
    this.requestResults.clear();
    for (const n of data.nodes) {
      assert(this.nodeIdsSorted.length === 0 || this.nodeIdsSorted[this.nodeIdsSorted.length - 1]! < n.node.id, "snapshot nodes out of order");
      this.nodeSlots.set(n.node.id, { node: n.node, placementChangedIndex: n.placementChangedIndex, vmIds: [] });
      this.nodeIdsSorted.push(n.node.id);
    }
    for (const r of data.removedNodes) this.removedNodeEpochs.set(r.nodeId, r.epoch);
    for (const t of data.tenants) this.tenantSlots.set(t.tenant.name, { tenant: t.tenant, overQuota: t.overQuota });
    for (const p of data.pools) this.pools.set(p.spec.name, new IpPool(p.spec, p.poolNumber));
    const lenient = this.bugs.has("ip-allocated-without-check");
    let previousId = 0;
    for (const v of data.vms) {
      const vm = v.vm;
      assert(vm.id > previousId, "snapshot vms out of order");
      previousId = vm.id;
      this.vmSlots.set(vm.id, { vm, changedIndex: v.changedIndex });
      this.vmIdsByName.set(nameKey(vm.spec.tenant, vm.spec.name), vm.id);
      if (vm.nodeId !== 0) this.nodeSlots.get(vm.nodeId)!.vmIds.push(vm.id);
      for (const a of vm.addresses) this.pools.get(a.pool)!.hold(parseIpv4(a.address)!, vm.id, lenient);
    }
    for (const r of data.requests) this.requestResults.set(r.requestId, r.result);
    this.droppedThroughIndex = data.droppedThroughIndex;
    this.events = data.events;
    this.eventsStart = 0;
    this.eventSequence = 0;
    assert(this.bugs.size > 0 || this.audit().length === 0, () => `restored cluster state fails its audit: ${this.audit()[0]}`);
  }
}
