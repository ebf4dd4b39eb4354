// A plan as placements-commit commands. Two uses (docs/SCHEDULER.md, "Plans and check indexes"):
//   - "controller": the leader's own batch, checkIndex 0. The state machine rechecks each entry
//     at apply (the VM still at its generation, the node still fits it) and skips the ones that
//     moved on; the batch is split into commands of at most placementsPerCommandMax entries.
//   - "checked": a user's plan (like `nomad job plan` then `nomad job run -check-index`):
//     checkIndex = the view's applied index when the plan was computed, so the commit is refused
//     whole (stale-plan) if anything it touches changed since. It must fit one command: a second
//     command would find the first one's changes and be refused.
// A preempting VM's evictions always travel in one command.

import { assert } from "../assert.ts";
import { CLUSTER_LIMITS, type ClusterCommand, type EvictionEntry, type PlacementEntry } from "../cluster/types.ts";
import type { SchedulePlan } from "./scheduler-types.ts";

export type PlanCommitMode = "controller" | "checked";

export type PlanCommands =
  | { readonly kind: "ok"; readonly commands: readonly ClusterCommand[] }
  | { readonly kind: "too-large"; readonly message: string };

export function planToCommands(plan: SchedulePlan, mode: PlanCommitMode, entriesPerCommandMax: number = CLUSTER_LIMITS.placementsPerCommandMax): PlanCommands {
  assert(Number.isSafeInteger(entriesPerCommandMax) && entriesPerCommandMax > 0 && entriesPerCommandMax <= CLUSTER_LIMITS.placementsPerCommandMax, "entries per command in range");
  const entries = plan.placements.length + plan.evictions.length;
  if (mode === "checked") {
    if (entries > entriesPerCommandMax) {
      return { kind: "too-large", message: `a checked plan must fit one command: ${entries} entries, at most ${entriesPerCommandMax} (plan fewer VMs at once)` };
    }
    if (entries === 0) return { kind: "ok", commands: [] };
    return { kind: "ok", commands: [{ kind: "placements-commit", checkIndex: plan.appliedIndex, placements: plan.placements, evictions: plan.evictions }] };
  }
  // Units that may not be split: one placement, or all the evictions made for one VM.
  const units: { readonly placements: readonly PlacementEntry[]; readonly evictions: readonly EvictionEntry[] }[] = [];
  for (const placement of plan.placements) units.push({ placements: [placement], evictions: [] });
  for (let start = 0; start < plan.evictions.length; ) {
    let end = start + 1;
    while (end < plan.evictions.length && plan.evictions[end]!.forVmId === plan.evictions[start]!.forVmId) end += 1;
    const group = plan.evictions.slice(start, end);
    assert(group.length <= entriesPerCommandMax, "one VM's evictions fit one command");
    units.push({ placements: [], evictions: group });
    start = end;
  }
  const commands: ClusterCommand[] = [];
  let placements: PlacementEntry[] = [];
  let evictions: EvictionEntry[] = [];
  const flush = (): void => {
    if (placements.length + evictions.length === 0) return;
    commands.push({ kind: "placements-commit", checkIndex: 0, placements, evictions });
    placements = [];
    evictions = [];
  };
  for (const unit of units) {
    if (placements.length + evictions.length + unit.placements.length + unit.evictions.length > entriesPerCommandMax) flush();
    placements.push(...unit.placements);
    evictions.push(...unit.evictions);
  }
  flush();
  assert(
    commands.reduce((sum, c) => sum + (c.kind === "placements-commit" ? c.placements.length + c.evictions.length : 0), 0) === entries,
    "every entry in exactly one command",
  );
  return { kind: "ok", commands };
}
