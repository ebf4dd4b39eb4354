// The filters that depend only on the node and the VM's spec (state, pinned node, datacenter and
// zone require/exclude, features, labels), evaluated once per distinct constraint set and cached:
// 100,000 VMs with a few dozen constraint sets cost a few dozen passes over the nodes, not
// 100,000. The cache entry also orders the nodes that pass for the candidate scan: by how many
// "prefer" constraints they satisfy (descending), then by id, and keeps the scan's cursors.

import { assert } from "../assert.ts";
import type { NodeId, PlacementConstraint } from "../cluster/types.ts";
import { FILTER_INDEX } from "./scheduler-types.ts";
import { labelKey, type NodeTable } from "./node-table.ts";

export interface StaticConstraints {
  /** Identifies the constraint set (equal keys, equal results). */
  readonly key: string;
  readonly pinned: readonly NodeId[];
  readonly datacenterRequire: readonly string[];
  readonly datacenterExclude: readonly string[];
  readonly datacenterPrefer: readonly string[];
  readonly zoneRequire: readonly string[];
  readonly zoneExclude: readonly string[];
  readonly zonePrefer: readonly string[];
  readonly features: readonly string[];
  readonly labels: readonly { readonly key: string; readonly value: string }[];
}

/**
 * The key of a constraint set's static part, built without parsing it (the scheduler calls this
 * once per VM): length-prefixed fields, so distinct sets have distinct keys. Spread constraints
 * are scored, not filtered, and left out.
 */
export function staticKeyOf(constraints: readonly PlacementConstraint[], ignoreLabels: boolean): string {
  let key = "";
  for (const c of constraints) {
    switch (c.kind) {
      case "label":
        if (!ignoreLabels) key += `L${c.key.length}:${c.key}${c.value.length}:${c.value}`;
        break;
      case "feature":
        key += `F${c.feature.length}:${c.feature}`;
        break;
      case "datacenter":
        key += `D${c.mode[0]}${c.value.length}:${c.value}`;
        break;
      case "zone":
        key += `Z${c.mode[0]}${c.value.length}:${c.value}`;
        break;
      case "pinned":
        key += `P${c.nodeId};`;
        break;
      case "spread":
        break;
    }
  }
  return key;
}

export function staticConstraintsOf(constraints: readonly PlacementConstraint[], ignoreLabels: boolean): StaticConstraints {
  const result = {
    pinned: [] as NodeId[],
    datacenterRequire: [] as string[],
    datacenterExclude: [] as string[],
    datacenterPrefer: [] as string[],
    zoneRequire: [] as string[],
    zoneExclude: [] as string[],
    zonePrefer: [] as string[],
    features: [] as string[],
    labels: [] as { key: string; value: string }[],
  };
  for (const constraint of constraints) {
    switch (constraint.kind) {
      case "label":
        if (!ignoreLabels) result.labels.push({ key: constraint.key, value: constraint.value });
        break;
      case "feature":
        result.features.push(constraint.feature);
        break;
      case "datacenter":
        (constraint.mode === "require" ? result.datacenterRequire : constraint.mode === "exclude" ? result.datacenterExclude : result.datacenterPrefer).push(constraint.value);
        break;
      case "zone":
        (constraint.mode === "require" ? result.zoneRequire : constraint.mode === "exclude" ? result.zoneExclude : result.zonePrefer).push(constraint.value);
        break;
      case "pinned":
        result.pinned.push(constraint.nodeId);
        break;
      case "spread":
        break; // scored, not filtered (score.ts)
    }
  }
  return { key: staticKeyOf(constraints, ignoreLabels), ...result };
}

const DATACENTER = FILTER_INDEX.get("datacenter")!;
const ZONE = FILTER_INDEX.get("zone")!;
const PINNED = FILTER_INDEX.get("pinned elsewhere")!;
const FEATURE = FILTER_INDEX.get("missing feature")!;
const LABEL = FILTER_INDEX.get("missing label")!;

/**
 * Per node, 1 where it fails one static constraint (cached per call on the table: many
 * constraint sets share their constraints).
 */
function failingNodes(table: NodeTable, key: string, fails: (i: number) => boolean): Uint8Array {
  let column = table.memo.get(key);
  if (column === undefined) {
    column = new Uint8Array(table.count);
    for (let i = 0; i < table.count; i++) column[i] = fails(i) ? 1 : 0;
    table.memo.set(key, column);
  }
  return column;
}

/** The static filters of a constraint set as (filter index, failing nodes) columns, in evaluation order. */
function staticColumns(table: NodeTable, constraints: StaticConstraints): { readonly filter: number; readonly failing: Uint8Array }[] {
  const columns: { filter: number; failing: Uint8Array }[] = [];
  for (const pinned of constraints.pinned) columns.push({ filter: PINNED, failing: failingNodes(table, `pinned\u0000${pinned}`, (i) => table.ids[i] !== pinned) });
  for (const value of constraints.datacenterRequire)
    columns.push({ filter: DATACENTER, failing: failingNodes(table, `dc=\u0000${value}`, (i) => table.records[i]!.topology.datacenter !== value) });
  for (const value of constraints.datacenterExclude)
    columns.push({ filter: DATACENTER, failing: failingNodes(table, `dc!\u0000${value}`, (i) => table.records[i]!.topology.datacenter === value) });
  for (const value of constraints.zoneRequire) columns.push({ filter: ZONE, failing: failingNodes(table, `zone=\u0000${value}`, (i) => table.records[i]!.topology.zone !== value) });
  for (const value of constraints.zoneExclude) columns.push({ filter: ZONE, failing: failingNodes(table, `zone!\u0000${value}`, (i) => table.records[i]!.topology.zone === value) });
  for (const feature of constraints.features)
    columns.push({ filter: FEATURE, failing: failingNodes(table, `feature\u0000${feature}`, (i) => !table.records[i]!.features.includes(feature)) });
  for (const label of constraints.labels)
    columns.push({ filter: LABEL, failing: failingNodes(table, `label\u0000${labelKey(label.key, label.value)}`, (i) => !hasLabel(table, i, label.key, label.value)) });
  return columns;
}

/** The index (FILTER_NAMES) of the first static filter node i fails, or -1 when it passes them all (the oracle's definition; StaticFeasibility computes the same by columns). */
export function firstStaticFailure(table: NodeTable, i: number, constraints: StaticConstraints): number {
  const state = table.stateFilter[i]!;
  if (state >= 0) return state;
  const id = table.ids[i]!;
  for (const pinned of constraints.pinned) if (pinned !== id) return PINNED;
  const topology = table.records[i]!.topology;
  for (const value of constraints.datacenterRequire) if (topology.datacenter !== value) return DATACENTER;
  for (const value of constraints.datacenterExclude) if (topology.datacenter === value) return DATACENTER;
  for (const value of constraints.zoneRequire) if (topology.zone !== value) return ZONE;
  for (const value of constraints.zoneExclude) if (topology.zone === value) return ZONE;
  const features = table.records[i]!.features;
  for (const feature of constraints.features) if (!features.includes(feature)) return FEATURE;
  for (const label of constraints.labels) if (!hasLabel(table, i, label.key, label.value)) return LABEL;
  return -1;
}

function hasLabel(table: NodeTable, i: number, key: string, value: string): boolean {
  for (const label of table.records[i]!.labels) if (label.key === key && label.value === value) return true;
  return false;
}

/** How many "prefer" constraints node i satisfies. */
export function preferredMatches(table: NodeTable, i: number, constraints: StaticConstraints): number {
  const topology = table.records[i]!.topology;
  let matches = 0;
  for (const value of constraints.datacenterPrefer) if (topology.datacenter === value) matches += 1;
  for (const value of constraints.zonePrefer) if (topology.zone === value) matches += 1;
  return matches;
}

/** The nodes that pass the static filters of one constraint set, ready for the candidate scan. */
export class StaticFeasibility {
  readonly constraints: StaticConstraints;
  /** Passing node indices, by preferred matches descending, then index ascending; tier t is [tierStarts[t], tierStarts[t+1]). */
  readonly ordered: Int32Array;
  readonly tierStarts: readonly number[];
  /** Preferred matches of each tier. */
  readonly tierMatches: readonly number[];
  /** Passing node indices in ascending index (id) order: the round-robin rotation. */
  readonly byIndex: Int32Array;
  /** The scan's next start position within each tier (spread and bin-pack). */
  readonly cursors: number[];
  /** First static failure per node (-1: passes), kept for explanations. */
  readonly failures: Int8Array;
  /** Preferred matches per node index (0 for nodes that fail). */
  readonly preferMatches: Int16Array;

  constructor(table: NodeTable, constraints: StaticConstraints) {
    this.constraints = constraints;
    this.failures = new Int8Array(table.count);
    this.preferMatches = new Int16Array(table.count);
    const hasPreferences = constraints.datacenterPrefer.length + constraints.zonePrefer.length > 0;
    const columns = staticColumns(table, constraints);
    const passing = new Int32Array(table.count);
    let passingCount = 0;
    let matchesMax = 0;
    for (let i = 0; i < table.count; i++) {
      let failure: number = table.stateFilter[i]!;
      for (let c = 0; failure < 0 && c < columns.length; c++) if (columns[c]!.failing[i] === 1) failure = columns[c]!.filter;
      this.failures[i] = failure;
      if (failure !== -1) continue;
      passing[passingCount++] = i;
      if (hasPreferences) {
        const m = preferredMatches(table, i, constraints);
        this.preferMatches[i] = m;
        if (m > matchesMax) matchesMax = m;
      }
    }
    this.byIndex = passing.slice(0, passingCount);
    // Tiers by preferred matches, descending, each in index order: a counting sort (matches are few).
    this.ordered = new Int32Array(passingCount);
    const tierStarts: number[] = [];
    const tierMatches: number[] = [];
    let filled = 0;
    for (let m = matchesMax; m >= 0; m--) {
      const start = filled;
      for (let p = 0; p < passingCount; p++) {
        const i = this.byIndex[p]!;
        if (this.preferMatches[i] === m) this.ordered[filled++] = i;
      }
      if (filled > start) {
        tierStarts.push(start);
        tierMatches.push(m);
      }
    }
    tierStarts.push(filled);
    this.tierStarts = tierStarts;
    this.tierMatches = tierMatches;
    this.cursors = tierMatches.map(() => 0);
    assert(this.ordered.length === this.byIndex.length, "both orders hold the same nodes");
    assert(tierStarts[tierStarts.length - 1] === this.ordered.length, "the tiers cover the passing nodes");
  }
}
