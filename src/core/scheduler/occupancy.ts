// What the nodes hold, counted for the filters and scores that depend on other VMs: a tenant's
// VMs per node (Quota.vmsPerNodeMax), an anti-affinity group's VMs per node (hard and soft
// anti-affinity), and a group's or tenant's VMs per failure domain (the spread constraint).
// Built from the view once per call (every assigned VM, whatever its phase: it holds its place
// until the state machine unassigns it), then grown by the batch as it places. Sparse maps: a
// group touches a handful of nodes.

import { assert } from "../assert.ts";
import type { ClusterView, VmSpec } from "../cluster/types.ts";
import type { DomainKind, NodeTable } from "./node-table.ts";

export type NodeCounts = Map<number, number>;

/** The anti-affinity group of a spec, scoped to its tenant; "" when it has none. */
export function groupKeyOf(spec: VmSpec): string {
  return spec.antiAffinity.group === "" ? "" : `${spec.tenant}\u0000${spec.antiAffinity.group}`;
}

const DOMAIN_KINDS: readonly DomainKind[] = ["datacenter", "zone", "rack"];

export class Occupancy {
  private readonly tenantNodeCounts = new Map<string, NodeCounts>();
  private readonly groupNodeCounts = new Map<string, NodeCounts>();
  /** `${kind}\u0001${g|t}\u0001${group key or tenant}` -> domain id -> VMs there; built on first use. */
  private readonly domainCounts = new Map<string, NodeCounts>();
  private readonly table: NodeTable;

  constructor(view: ClusterView, table: NodeTable) {
    this.table = table;
    let assigned = 0;
    for (const vm of view.vms()) {
      if (vm.nodeId === 0) continue;
      const index = table.indexOf(vm.nodeId);
      // The state machine removes a node only when it holds no VM; a VM on an unknown node occupies nothing we could place on.
      if (index < 0) continue;
      this.add(vm.spec, index);
      assigned += 1;
    }
    assert(assigned >= 0, "counted assigned VMs");
  }

  tenantOnNodes(tenant: string): NodeCounts | undefined {
    return this.tenantNodeCounts.get(tenant);
  }

  groupOnNodes(groupKey: string): NodeCounts | undefined {
    assert(groupKey !== "", "a group key");
    return this.groupNodeCounts.get(groupKey);
  }

  /** VMs of the spec's group (or, without one, its tenant) per domain of the given kind. */
  spreadCounts(kind: DomainKind, spec: VmSpec): NodeCounts {
    const groupKey = groupKeyOf(spec);
    const key = domainKey(kind, groupKey !== "" ? "g" : "t", groupKey !== "" ? groupKey : spec.tenant);
    let counts = this.domainCounts.get(key);
    if (counts === undefined) {
      counts = new Map();
      const perNode = groupKey !== "" ? this.groupNodeCounts.get(groupKey) : this.tenantNodeCounts.get(spec.tenant);
      const domains = this.table.domainIds[kind];
      for (const [index, count] of perNode ?? []) {
        const domain = domains[index]!;
        counts.set(domain, (counts.get(domain) ?? 0) + count);
      }
      this.domainCounts.set(key, counts);
    }
    return counts;
  }

  /** One more VM of this spec on node index. */
  add(spec: VmSpec, index: number): void {
    assert(index >= 0 && index < this.table.count, () => `node index ${index} in range`);
    increment(this.tenantNodeCounts, spec.tenant, index);
    const groupKey = groupKeyOf(spec);
    if (groupKey !== "") increment(this.groupNodeCounts, groupKey, index);
    if (this.domainCounts.size === 0) return;
    for (const kind of DOMAIN_KINDS) {
      const domain = this.table.domainIds[kind][index]!;
      bump(this.domainCounts.get(domainKey(kind, "t", spec.tenant)), domain);
      if (groupKey !== "") bump(this.domainCounts.get(domainKey(kind, "g", groupKey)), domain);
    }
  }
}

function domainKey(kind: DomainKind, scope: "g" | "t", name: string): string {
  return `${kind}\u0001${scope}\u0001${name}`;
}

function increment(maps: Map<string, NodeCounts>, key: string, index: number): void {
  let counts = maps.get(key);
  if (counts === undefined) {
    counts = new Map();
    maps.set(key, counts);
  }
  counts.set(index, (counts.get(index) ?? 0) + 1);
}

function bump(counts: NodeCounts | undefined, domain: number): void {
  if (counts !== undefined) counts.set(domain, (counts.get(domain) ?? 0) + 1);
}
