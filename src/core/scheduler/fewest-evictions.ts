// The fewest VMs to evict from one node so that a VM fits: the smallest k such that some k of the
// candidates free at least the deficit in every resource, and among those the lowest total
// priority (ties: the first such set in the search order, candidates sorted by priority then id).
// Covering several resources at once is a multi-dimensional covering problem (NP-hard in
// general), so this is a branch-and-bound search over subsets of growing size k, bounded by a
// step budget: within the budget the answer is exact; past it the best set found so far, or a
// greedy cover, is returned and marked inexact (docs/SCHEDULER.md, "Preemption").

import { assert } from "../assert.ts";
import type { Resources, VmId } from "../cluster/types.ts";

export interface EvictionCandidate {
  readonly vmId: VmId;
  readonly generation: number;
  readonly priority: number;
  readonly vcpus: number;
  readonly memoryMib: number;
  readonly diskGib: number;
}

export interface EvictionChoice {
  readonly chosen: readonly EvictionCandidate[];
  readonly prioritySum: number;
  /** False when the step budget ran out: fewest and lowest priority are then not guaranteed. */
  readonly exact: boolean;
}

/** Priority ascending, then id ascending: the search order (and the order of a choice). */
export function compareCandidates(a: EvictionCandidate, b: EvictionCandidate): number {
  return a.priority - b.priority || a.vmId - b.vmId;
}

/**
 * candidates: sorted by compareCandidates. deficit: what the node lacks (some component > 0).
 * countMax: sets larger than this are of no use to the caller (it has a choice of that size elsewhere).
 */
export function fewestEvictions(candidates: readonly EvictionCandidate[], deficit: Resources, countMax: number, stepsMax: number): EvictionChoice | undefined {
  assert(deficit.vcpus > 0 || deficit.memoryMib > 0 || deficit.diskGib > 0, "there is a deficit to cover");
  assert(stepsMax > 0 && countMax >= 0, "a search budget");
  for (let i = 1; i < candidates.length; i++) assert(compareCandidates(candidates[i - 1]!, candidates[i]!) < 0, "candidates sorted and unique");
  const n = candidates.length;
  const need = [Math.max(0, deficit.vcpus), Math.max(0, deficit.memoryMib), Math.max(0, deficit.diskGib)];
  const amounts = candidates.map((c) => [c.vcpus, c.memoryMib, c.diskGib]);
  // The smallest k any set could have: per resource, the largest amounts first.
  let lowerBound = 0;
  for (let r = 0; r < 3; r++) {
    if (need[r]! <= 0) continue;
    const sorted = amounts.map((a) => a[r]!).sort((a, b) => b - a);
    let covered = 0;
    let count = 0;
    while (count < n && covered < need[r]!) covered += sorted[count++]!;
    if (covered < need[r]!) return undefined; // every candidate together does not free enough
    lowerBound = Math.max(lowerBound, count);
  }
  if (lowerBound > countMax) return undefined;

  const priorityPrefix = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) priorityPrefix[i + 1] = priorityPrefix[i]! + candidates[i]!.priority;
  // suffixMax[r][i]: the largest amount of resource r among candidates i..n-1.
  const suffixMax = [0, 1, 2].map((r) => {
    const column = new Float64Array(n + 1);
    for (let i = n - 1; i >= 0; i--) column[i] = Math.max(column[i + 1]!, amounts[i]![r]!);
    return column;
  });

  let steps = 0;
  let exhausted = false;
  for (let k = lowerBound; k <= Math.min(n, countMax); k++) {
    let best: number[] | undefined;
    let bestPriority = Infinity;
    const chosen: number[] = [];
    const search = (start: number, left0: number, left1: number, left2: number, prioritySum: number): void => {
      if (exhausted) return;
      steps += 1;
      if (steps > stepsMax) {
        exhausted = true;
        return;
      }
      const slots = k - chosen.length;
      if (slots === 0) {
        if (left0 <= 0 && left1 <= 0 && left2 <= 0 && prioritySum < bestPriority) {
          best = [...chosen];
          bestPriority = prioritySum;
        }
        return;
      }
      if (n - start < slots) return;
      if (prioritySum + priorityPrefix[start + slots]! - priorityPrefix[start]! >= bestPriority) return;
      if (left0 > slots * suffixMax[0]![start]! || left1 > slots * suffixMax[1]![start]! || left2 > slots * suffixMax[2]![start]!) return;
      for (let i = start; i <= n - slots; i++) {
        const a = amounts[i]!;
        chosen.push(i);
        search(i + 1, left0 - a[0]!, left1 - a[1]!, left2 - a[2]!, prioritySum + candidates[i]!.priority);
        chosen.pop();
        if (exhausted) return;
      }
    };
    search(0, need[0]!, need[1]!, need[2]!, 0);
    if (best !== undefined) {
      const picked = best.map((i) => candidates[i]!);
      assert(covers(picked, need), "the chosen evictions free the deficit");
      return { chosen: picked, prioritySum: bestPriority, exact: !exhausted };
    }
    if (exhausted) break;
  }
  if (!exhausted) return undefined; // no set of at most countMax covers it
  const greedy = greedyCover(candidates, need);
  if (greedy === undefined || greedy.length > countMax) return undefined;
  return { chosen: greedy, prioritySum: greedy.reduce((sum, c) => sum + c.priority, 0), exact: false };
}

/** Past the budget: repeatedly take the candidate that covers most of what is left (in units of the remaining deficit, per-mille, integers). */
function greedyCover(candidates: readonly EvictionCandidate[], need: readonly number[]): EvictionCandidate[] | undefined {
  const left = [...need];
  const taken = new Set<number>();
  const picked: EvictionCandidate[] = [];
  while (left.some((x) => x > 0)) {
    let bestIndex = -1;
    let bestGain = -1;
    for (let i = 0; i < candidates.length; i++) {
      if (taken.has(i)) continue;
      const c = candidates[i]!;
      const amounts = [c.vcpus, c.memoryMib, c.diskGib];
      let gain = 0;
      for (let r = 0; r < 3; r++) if (left[r]! > 0) gain += Math.floor((Math.min(amounts[r]!, left[r]!) * 1000) / left[r]!);
      if (gain > bestGain) {
        bestGain = gain;
        bestIndex = i;
      }
    }
    if (bestIndex < 0 || bestGain === 0) return undefined;
    taken.add(bestIndex);
    const c = candidates[bestIndex]!;
    picked.push(c);
    left[0] = left[0]! - c.vcpus;
    left[1] = left[1]! - c.memoryMib;
    left[2] = left[2]! - c.diskGib;
  }
  picked.sort(compareCandidates);
  assert(covers(picked, need), "the greedy cover frees the deficit");
  return picked;
}

function covers(picked: readonly EvictionCandidate[], need: readonly number[]): boolean {
  let vcpus = 0;
  let memoryMib = 0;
  let diskGib = 0;
  for (const c of picked) {
    vcpus += c.vcpus;
    memoryMib += c.memoryMib;
    diskGib += c.diskGib;
  }
  return vcpus >= need[0]! && memoryMib >= need[1]! && diskGib >= need[2]!;
}
