// What a node may promise under its overcommit policy, per resource, in integer math:
//   allocatable = floor(capacity * permille / 1000) - reserve
// It may be negative (a reserve larger than the node): such a node fits nothing that asks for
// that resource. The state machine's capacity check at apply uses the same definition.

import { assert } from "../assert.ts";
import type { NodeRegistration, Resources } from "../cluster/types.ts";

export function allocatableOf(node: Pick<NodeRegistration, "capacity" | "overcommit">): Resources {
  const { capacity, overcommit } = node;
  assert(overcommit.cpuPermille >= 0 && overcommit.memoryPermille >= 0 && overcommit.diskPermille >= 0, "overcommit ratios are non-negative");
  const allocatable = {
    vcpus: scaled(capacity.vcpus, overcommit.cpuPermille) - overcommit.reserve.vcpus,
    memoryMib: scaled(capacity.memoryMib, overcommit.memoryPermille) - overcommit.reserve.memoryMib,
    diskGib: scaled(capacity.diskGib, overcommit.diskPermille) - overcommit.reserve.diskGib,
  };
  assert(Number.isSafeInteger(allocatable.vcpus) && Number.isSafeInteger(allocatable.memoryMib) && Number.isSafeInteger(allocatable.diskGib), "allocatable is integral");
  return allocatable;
}

/** floor(amount * permille / 1000) without leaving the safe integers for any amount the limits allow. */
function scaled(amount: number, permille: number): number {
  assert(Number.isSafeInteger(amount) && amount >= 0 && Number.isSafeInteger(permille), "integral amount and ratio");
  const whole = Math.floor(amount / 1000) * permille;
  const rest = Math.floor(((amount % 1000) * permille) / 1000);
  return whole + rest;
}
