// The node's capacity (Resources, src/core/cluster/types.ts) read from the host at registration:
// every CPU, all memory and the free disk of the VMs' directory, less a reserve the operator keeps
// for the host itself (the node process, the guards, the page cache). Whole units, rounded down,
// never below zero: a reserve bigger than the host leaves nothing to schedule, not a negative.

import { statfsSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { assert } from "../../core/assert.ts";
import type { Resources } from "../../core/cluster/types.ts";

/** What the host has, in its own units. */
export interface HostResources {
  readonly cpuCount: number;
  readonly memoryBytes: number;
  readonly diskFreeBytes: number;
}

/** The default reserve: one vCPU is not reserved (VMs share cores with the host), 512 MiB and 2 GiB are. */
export const defaultHostReserve: Resources = { vcpus: 0, memoryMib: 512, diskGib: 2 };

const MIB = 1024 * 1024;
const GIB = 1024 * MIB;

/** The arithmetic: whole vCPUs, MiB and GiB (rounded down), less the reserve, at least zero. */
export function capacityFromHost(host: HostResources, reserve: Resources): Resources {
  for (const [name, value] of Object.entries(host)) {
    assert(Number.isSafeInteger(value) && value >= 0, () => `host ${name} = ${String(value)} must be a non-negative integer`);
  }
  for (const [name, value] of Object.entries(reserve)) {
    assert(Number.isSafeInteger(value) && value >= 0, () => `reserve ${name} = ${String(value)} must be a non-negative integer`);
  }
  const capacity: Resources = {
    vcpus: Math.max(0, host.cpuCount - reserve.vcpus),
    memoryMib: Math.max(0, Math.floor(host.memoryBytes / MIB) - reserve.memoryMib),
    diskGib: Math.max(0, Math.floor(host.diskFreeBytes / GIB) - reserve.diskGib),
  };
  assert(capacity.vcpus <= host.cpuCount && capacity.memoryMib * MIB <= host.memoryBytes, "capacity never exceeds the host");
  return capacity;
}

/** Reads this host: os.cpus(), os.totalmem(), and statfs of vmsDir (blocks free to unprivileged users). */
export function readHostResources(vmsDir: string): HostResources {
  const disk = statfsSync(vmsDir);
  return { cpuCount: cpus().length, memoryBytes: totalmem(), diskFreeBytes: Math.max(0, disk.bavail * disk.bsize) };
}

export function hostCapacity(vmsDir: string, reserve: Resources = defaultHostReserve): Resources {
  return capacityFromHost(readHostResources(vmsDir), reserve);
}
