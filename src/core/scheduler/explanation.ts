// Why a VM fits nowhere, in words a person reads: every node counted once, under the first
// filter it failed, largest count first (ties in filter order), e.g.
//   "5 nodes: 3 insufficient memory, 1 cordoned, 1 anti-affinity".

import { assert } from "../assert.ts";
import { FILTER_NAMES, type FilterExclusion } from "./scheduler-types.ts";

/** countsByFilter[i]: nodes excluded by FILTER_NAMES[i]. */
export function exclusionsOf(countsByFilter: readonly number[]): FilterExclusion[] {
  assert(countsByFilter.length === FILTER_NAMES.length, "one count per filter");
  const exclusions: FilterExclusion[] = [];
  for (let i = 0; i < FILTER_NAMES.length; i++) {
    const nodes = countsByFilter[i]!;
    assert(Number.isSafeInteger(nodes) && nodes >= 0, "counts are non-negative integers");
    if (nodes > 0) exclusions.push({ filter: FILTER_NAMES[i]!, nodes });
  }
  // Stable sort: equal counts keep filter order.
  return exclusions.sort((a, b) => b.nodes - a.nodes);
}

export function explain(exclusions: readonly FilterExclusion[]): string {
  const total = exclusions.reduce((sum, e) => sum + e.nodes, 0);
  if (total === 0) return "no nodes";
  const parts = exclusions.map((e) => `${e.nodes} ${e.filter}`);
  return `${total} ${total === 1 ? "node" : "nodes"}: ${parts.join(", ")}`;
}
