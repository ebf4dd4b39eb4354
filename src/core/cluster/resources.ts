// Resource arithmetic shared by the state machine, the scheduler and the simulator's checks:
// what a node may promise under its overcommit policy, and sums and fits of resources. One
// definition, so the scheduler's plan, the state machine's recheck at apply and the checkers
// can never disagree about what fits. Integer math only (floor), so every replica and engine agrees.

import { assert } from "../assert.ts";
import type { NodeRegistration, Resources } from "./types.ts";

export const NO_RESOURCES: Resources = { vcpus: 0, memoryMib: 0, diskGib: 0 };

/**
 * allocatable = floor(capacity * permille / 1000) - reserve, per resource. It may be negative (a
 * reserve larger than the node): such a node fits nothing of that resource, not even a zero demand.
 */
export function allocatable(node: Pick<NodeRegistration, "capacity" | "overcommit">): Resources {
  const { capacity, overcommit } = node;
  assert(overcommit.cpuPermille >= 0 && overcommit.memoryPermille >= 0 && overcommit.diskPermille >= 0, "overcommit ratios are non-negative");
  const result = {
    vcpus: scaled(capacity.vcpus, overcommit.cpuPermille) - overcommit.reserve.vcpus,
    memoryMib: scaled(capacity.memoryMib, overcommit.memoryPermille) - overcommit.reserve.memoryMib,
    diskGib: scaled(capacity.diskGib, overcommit.diskPermille) - overcommit.reserve.diskGib,
  };
  assert(Number.isSafeInteger(result.vcpus) && Number.isSafeInteger(result.memoryMib) && Number.isSafeInteger(result.diskGib), "allocatable resources are integers");
  return result;
}

/** floor(amount * permille / 1000) without leaving the safe integers for any amount the limits allow. */
function scaled(amount: number, permille: number): number {
  assert(Number.isSafeInteger(amount) && amount >= 0 && Number.isSafeInteger(permille), "integral amount and ratio");
  const whole = Math.floor(amount / 1000) * permille;
  const rest = Math.floor(((amount % 1000) * permille) / 1000);
  return whole + rest;
}

export function addResources(a: Resources, b: Resources): Resources {
  return { vcpus: a.vcpus + b.vcpus, memoryMib: a.memoryMib + b.memoryMib, diskGib: a.diskGib + b.diskGib };
}

/** Whether `used` fits inside `limit` in every resource. */
export function fitsWithin(used: Resources, limit: Resources): boolean {
  return used.vcpus <= limit.vcpus && used.memoryMib <= limit.memoryMib && used.diskGib <= limit.diskGib;
}
