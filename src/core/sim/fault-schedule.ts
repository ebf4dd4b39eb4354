// An explicit fault schedule: the nemesis's faults for a run as a list of timed, concrete events
// (which node, which links, how long), recorded as the nemesis draws them (nemesis.ts). A run given a
// schedule (SimulationOptions.faultSchedule) replays it instead of drawing, and a run replaying its
// own recorded schedule gives the same trace hash as the run that drew it: every step, including
// the steps at which the nemesis drew a fault it could not inflict ("none"), is scheduled at the same
// point of the event queue as it was drawn. Any subset replays too (the shrinker removes events one
// by one): an event that no longer applies (its node down already, beyond the crash bound, or outside
// a smaller cluster) is skipped at its time.

import { assert } from "../assert.ts";
import type { CrashKind } from "../env/environment.ts";
import type { NodeId } from "../raft/types.ts";
import type { PartitionShape } from "./fault-profile.ts";

/** A schedule's length bound: far beyond a swarm run's faulty phase at its fastest nemesis (one step per 50 ms for 14 s). */
export const FAULT_SCHEDULE_EVENTS_MAX = 100_000;

export type FaultEvent =
  | { readonly atUs: number; readonly kind: "none" }
  | { readonly atUs: number; readonly kind: "partition"; readonly shape: PartitionShape; readonly node: NodeId; readonly blocked: ReadonlyArray<readonly [NodeId, NodeId]>; readonly durationUs: number }
  | { readonly atUs: number; readonly kind: "crash"; readonly node: NodeId; readonly crashKind: CrashKind; readonly downtimeUs: number }
  | { readonly atUs: number; readonly kind: "clock-jump"; readonly node: NodeId; readonly deltaUs: number }
  | { readonly atUs: number; readonly kind: "clog"; readonly node: NodeId; readonly outbound: boolean; readonly durationUs: number }
  | { readonly atUs: number; readonly kind: "loss-burst"; readonly node: NodeId; readonly durationUs: number }
  | { readonly atUs: number; readonly kind: "pause"; readonly node: NodeId; readonly durationUs: number }
  | { readonly atUs: number; readonly kind: "disk-full"; readonly node: NodeId; readonly slackBytes: number; readonly durationUs: number };

export type FaultSchedule = readonly FaultEvent[];

/** The events that inflict something (not "none"). */
export function faultEventCount(schedule: FaultSchedule): number {
  return schedule.filter((event) => event.kind !== "none").length;
}

/** Asserts a schedule's shape: times ascending, nodes and durations in range. */
export function validateFaultSchedule(schedule: FaultSchedule, nodeCountMax: number): void {
  assert(schedule.length <= FAULT_SCHEDULE_EVENTS_MAX, "fault schedule longer than its bound");
  let previousUs = 0;
  for (const event of schedule) {
    assert(Number.isSafeInteger(event.atUs) && event.atUs >= previousUs, "fault schedule times must ascend");
    previousUs = event.atUs;
    if (event.kind === "none") continue;
    assert(Number.isSafeInteger(event.node) && event.node >= 1 && event.node <= nodeCountMax, "fault schedule node out of range");
    if (event.kind === "clock-jump") assert(Number.isSafeInteger(event.deltaUs), "clock jump must be whole microseconds");
    else {
      const durationUs = event.kind === "crash" ? event.downtimeUs : event.durationUs;
      assert(Number.isSafeInteger(durationUs) && durationUs >= 0, "fault duration must be whole non-negative microseconds");
    }
  }
}

/** The schedule for a cluster of `nodeCount` nodes: events on removed nodes dropped, partitions cut to the remaining links. */
export function restrictFaultSchedule(schedule: FaultSchedule, nodeCount: number): FaultEvent[] {
  const kept: FaultEvent[] = [];
  for (const event of schedule) {
    if (event.kind === "none") kept.push(event);
    else if (event.node > nodeCount) continue;
    else if (event.kind === "partition") {
      const blocked = event.blocked.filter(([from, to]) => from <= nodeCount && to <= nodeCount);
      if (blocked.length > 0) kept.push({ ...event, blocked });
    } else kept.push(event);
  }
  assert(kept.length <= schedule.length, "restricting a schedule never adds events");
  return kept;
}
