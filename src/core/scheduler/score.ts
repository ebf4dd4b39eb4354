// A candidate node's score, in integers (higher is better; ties go to the lowest node id, or in
// round-robin to the first node in rotation order). Components, from strongest to weakest:
//   - SPREAD_PENALTY_PER_VM for every VM of the VM's group (or tenant) already in the node's
//     failure domain, per spread constraint: fewest in the domain wins;
//   - PREFER_BONUS_PER_MATCH for every "prefer" datacenter/zone constraint the node satisfies;
//   - minus weight for every VM of the VM's soft anti-affinity group already on the node;
//   - the strategy's resource score in 0..1000: spread, the mean free per-mille of the three
//     resources after placing (most free wins); bin-pack, 1000 minus that (least free wins);
//     round-robin, 0 (the rotation decides).

import { assert } from "../assert.ts";
import type { SchedulingStrategy } from "./scheduler-types.ts";

export const SPREAD_PENALTY_PER_VM = 1_000_000;
export const PREFER_BONUS_PER_MATCH = 10_000;
export const RESOURCE_SCORE_MAX = 1_000;

/** Free per-mille of one resource after placing: floor(freeAfter * 1000 / allocatable), 0 when nothing is allocatable. */
export function freePermille(freeAfter: number, allocatable: number): number {
  if (allocatable <= 0) return 0;
  return Math.floor((Math.max(0, freeAfter) * RESOURCE_SCORE_MAX) / allocatable);
}

export function resourceScore(strategy: SchedulingStrategy, cpuPermille: number, memoryPermille: number, diskPermille: number): number {
  assert(cpuPermille >= 0 && memoryPermille >= 0 && diskPermille >= 0, "free per-mille is non-negative");
  const meanFree = Math.floor((Math.min(cpuPermille, 1000) + Math.min(memoryPermille, 1000) + Math.min(diskPermille, 1000)) / 3);
  switch (strategy) {
    case "spread":
      return meanFree;
    case "bin-pack":
      return RESOURCE_SCORE_MAX - meanFree;
    case "round-robin":
      return 0;
  }
}
