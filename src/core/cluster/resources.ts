// Resource arithmetic shared by the state machine, the scheduler and the simulator's checks:
// what a node may promise (its allocatable resources under its overcommit policy) and whether
// a demand fits. Integer math only (floor), so every replica and engine agrees.

import { assert } from "../assert.ts";
import type { NodeRegistration, Resources } from "./types.ts";

export const NO_RESOURCES: Resources = { vcpus: 0, memoryMib: 0, diskGib: 0 };

/** floor(capacity * permille / 1000) - reserve, per resource, never below zero. */
export function allocatable(node: NodeRegistration): Resources {
  const { capacity, overcommit } = node;
  const scaled = (amount: number, permille: number, reserve: number): number => Math.max(0, Math.floor((amount * permille) / 1000) - reserve);
  const result = {
    vcpus: scaled(capacity.vcpus, overcommit.cpuPermille, overcommit.reserve.vcpus),
    memoryMib: scaled(capacity.memoryMib, overcommit.memoryPermille, overcommit.reserve.memoryMib),
    diskGib: scaled(capacity.diskGib, overcommit.diskPermille, overcommit.reserve.diskGib),
  };
  assert(Number.isSafeInteger(result.vcpus) && Number.isSafeInteger(result.memoryMib) && Number.isSafeInteger(result.diskGib), "allocatable resources are integers");
  return result;
}

export function addResources(a: Resources, b: Resources): Resources {
  return { vcpus: a.vcpus + b.vcpus, memoryMib: a.memoryMib + b.memoryMib, diskGib: a.diskGib + b.diskGib };
}

/** Whether `used` fits inside `limit` in every resource. */
export function fitsWithin(used: Resources, limit: Resources): boolean {
  return used.vcpus <= limit.vcpus && used.memoryMib <= limit.memoryMib && used.diskGib <= limit.diskGib;
}
