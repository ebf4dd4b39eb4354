// The lifecycle rules for agent reports, as tables: what a report (the agent's observed phase)
// does to a VM assigned to that agent's node, by the VM's phase. docs/ORCHESTRATOR.md holds
// the same tables; change both together.

import type { ObservedPhase, RestartPolicy, VmPhase } from "./types.ts";

/**
 * observe:        only `observed` changes (the agent is still on its way).
 * starting:       phase starting.
 * running:        phase running (event vm-started).
 * restart-policy: the VM should run but stopped: RESTART_RULES decides.
 * unassign:       it stopped as asked: unassigned, resources released; then pending (desired
 *                 running: evicted or moved), stopped (desired stopped) or failed (it had failed).
 * remove:         it stopped while deleting: the record goes, with its usage and addresses.
 */
export type ReportOutcome = "observe" | "starting" | "running" | "restart-policy" | "unassign" | "remove";

/** The phases a VM assigned to a node can have. */
export type AssignedPhase = Extract<VmPhase, "scheduled" | "starting" | "running" | "stopping" | "deleting" | "failed">;

export const REPORT_RULES: Readonly<Record<AssignedPhase, Readonly<Record<ObservedPhase, ReportOutcome>>>> = {
  //          unknown    starting    running    stopped            exited             crashed            unhealthy
  // scheduled + stopped: not started yet (an agent may list it before starting it), nothing to restart.
  scheduled: { unknown: "observe", starting: "starting", running: "running", stopped: "observe", exited: "restart-policy", crashed: "restart-policy", unhealthy: "restart-policy" },
  starting: { unknown: "observe", starting: "observe", running: "running", stopped: "restart-policy", exited: "restart-policy", crashed: "restart-policy", unhealthy: "restart-policy" },
  running: { unknown: "observe", starting: "starting", running: "observe", stopped: "restart-policy", exited: "restart-policy", crashed: "restart-policy", unhealthy: "restart-policy" },
  stopping: { unknown: "observe", starting: "observe", running: "observe", stopped: "unassign", exited: "unassign", crashed: "unassign", unhealthy: "observe" },
  deleting: { unknown: "observe", starting: "observe", running: "observe", stopped: "remove", exited: "remove", crashed: "remove", unhealthy: "observe" },
  failed: { unknown: "observe", starting: "observe", running: "observe", stopped: "unassign", exited: "unassign", crashed: "unassign", unhealthy: "observe" },
};

/**
 * A VM that should run reported not running (or unhealthy):
 * restart: the agent restarts it in place (restarts + 1, phase starting);
 * fail:    it stays down: phase failed, unassigned (it is not running);
 * observe: still running though unhealthy, and the policy does not restart it.
 */
export type RestartOutcome = "restart" | "fail" | "observe";

export const RESTART_RULES: Readonly<Record<RestartPolicy, Readonly<Record<"stopped" | "exited" | "crashed" | "unhealthy", RestartOutcome>>>> = {
  always: { stopped: "restart", exited: "restart", crashed: "restart", unhealthy: "restart" },
  "on-failure": { stopped: "fail", exited: "fail", crashed: "restart", unhealthy: "restart" },
  never: { stopped: "fail", exited: "fail", crashed: "fail", unhealthy: "observe" },
};

export function isAssignedPhase(phase: VmPhase): phase is AssignedPhase {
  return Object.hasOwn(REPORT_RULES, phase);
}
