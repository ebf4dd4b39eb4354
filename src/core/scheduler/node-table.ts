// The nodes of one schedule() call as columns: index i is the i-th node in ascending id order
// (sorted here, so the result never depends on the view's iteration order). Free resources live
// in typed arrays that the batch decrements as it places, so the per-candidate capacity check is
// three array reads. Topology values become small integers (for the spread counts).

import { assert } from "../assert.ts";
import type { ClusterView, NodeId, NodeRecord, NodeState } from "../cluster/types.ts";
import { allocatable } from "../cluster/resources.ts";

/** Node state as a small integer: the filter index of a state that excludes (FILTER_NAMES order), -1 for ready. */
export function stateFilterIndex(state: NodeState): number {
  switch (state) {
    case "ready":
      return -1;
    case "down":
      return 0;
    case "cordoned":
      return 1;
    case "draining":
      return 2;
  }
}

export type DomainKind = "datacenter" | "zone" | "rack";

export class NodeTable {
  readonly count: number;
  readonly ids: Float64Array;
  readonly records: readonly NodeRecord[];
  /** -1 when ready, else the filter index of its state. */
  readonly stateFilter: Int8Array;
  readonly allocatableVcpus: Float64Array;
  readonly allocatableMemoryMib: Float64Array;
  readonly allocatableDiskGib: Float64Array;
  /** allocatable - allocated - what this batch placed: decremented as the batch places. */
  readonly freeVcpus: Float64Array;
  readonly freeMemoryMib: Float64Array;
  readonly freeDiskGib: Float64Array;
  /** Interned topology values per domain kind (ids are dense from 0, in order of first appearance by node id). */
  readonly domainIds: Readonly<Record<DomainKind, Int32Array>>;
  /** Per-call cache of per-node columns for single static constraints (static-feasibility.ts). */
  readonly memo = new Map<string, Uint8Array>();
  private readonly indexById: Map<NodeId, number>;

  constructor(view: ClusterView, capacityIgnoresOvercommit: boolean) {
    const records = [...view.nodes()].sort((a, b) => a.id - b.id);
    const count = records.length;
    this.count = count;
    this.records = records;
    this.ids = new Float64Array(count);
    this.stateFilter = new Int8Array(count);
    this.allocatableVcpus = new Float64Array(count);
    this.allocatableMemoryMib = new Float64Array(count);
    this.allocatableDiskGib = new Float64Array(count);
    this.freeVcpus = new Float64Array(count);
    this.freeMemoryMib = new Float64Array(count);
    this.freeDiskGib = new Float64Array(count);
    this.indexById = new Map();
    const interners: Record<DomainKind, Map<string, number>> = { datacenter: new Map(), zone: new Map(), rack: new Map() };
    this.domainIds = { datacenter: new Int32Array(count), zone: new Int32Array(count), rack: new Int32Array(count) };
    for (let i = 0; i < count; i++) {
      const node = records[i]!;
      assert(i === 0 || records[i - 1]!.id < node.id, () => `node ids are unique (node ${node.id} twice)`);
      this.ids[i] = node.id;
      this.indexById.set(node.id, i);
      this.stateFilter[i] = stateFilterIndex(node.state);
      const promised = capacityIgnoresOvercommit ? node.capacity : allocatable(node);
      this.allocatableVcpus[i] = promised.vcpus;
      this.allocatableMemoryMib[i] = promised.memoryMib;
      this.allocatableDiskGib[i] = promised.diskGib;
      this.freeVcpus[i] = promised.vcpus - node.allocated.vcpus;
      this.freeMemoryMib[i] = promised.memoryMib - node.allocated.memoryMib;
      this.freeDiskGib[i] = promised.diskGib - node.allocated.diskGib;
      for (const kind of ["datacenter", "zone", "rack"] as const) {
        const value = node.topology[kind];
        let id = interners[kind].get(value);
        if (id === undefined) {
          id = interners[kind].size;
          interners[kind].set(value, id);
        }
        this.domainIds[kind][i] = id;
      }
    }
    assert(this.indexById.size === count, "one index per node");
  }

  /** The index of a node id, or -1 when the view has no such node. */
  indexOf(id: NodeId): number {
    return this.indexById.get(id) ?? -1;
  }

  idAt(index: number): NodeId {
    assert(index >= 0 && index < this.count, () => `node index ${index} in range`);
    return this.ids[index]!;
  }
}

export function labelKey(key: string, value: string): string {
  return `${key}\u0000${value}`;
}
