// The flags of `blixard node` that make it run VMs: which backend, where the VMs' files and the
// default image live, how much of the host to hold back, the node's lease, and where in the
// topology it stands. Parsed here (pure, one-line UsageErrors naming the flag); the backend is
// built from them in node-orchestrator.ts.

import { join } from "node:path";
import type { Label, Resources, Topology } from "../../core/cluster/types.ts";
import { CLUSTER_LIMITS } from "../../core/cluster/types.ts";
import { OVERCOMMIT_PERMILLE_MAX } from "../../core/cluster/schemas.ts";
import { UsageError } from "./usage-error.ts";
import { validateLeaseTiming, type LeaseTiming } from "../../core/agent/lease-timing.ts";

export type VmBackendKind = "qemu" | "process";

export interface NodeVmFlagsInput {
  vmBackend?: string;
  vmsDir?: string;
  imageDir?: string;
  leaseMs?: string;
  reserveVcpus?: string;
  reserveMemoryMib?: string;
  reserveDiskGib?: string;
  datacenter?: string;
  zone?: string;
  rack?: string;
  label?: string[];
  cpuOvercommit?: string;
}

export interface NodeVmFlags {
  readonly backend: VmBackendKind;
  readonly vmsDir: string;
  /** "" means the user's default image directory (defaultImageDir()). */
  readonly imageDir: string;
  readonly leaseMs: number;
  readonly reserve: Resources;
  readonly topology: Topology;
  /** Sorted by key, keys unique. */
  readonly labels: readonly Label[];
  /** vCPUs promised per host CPU (time-shared). */
  readonly cpuOvercommit: number;
}

export const LEASE_MS_DEFAULT = 10_000;
export const CPU_OVERCOMMIT_DEFAULT = 4;
/** The cluster state's bound on an overcommit ratio (OVERCOMMIT_PERMILLE_MAX), in whole times. */
export const CPU_OVERCOMMIT_MAX = OVERCOMMIT_PERMILLE_MAX / 1_000;
/** Held back for the host and Blixard itself unless told otherwise. */
export const RESERVE_DEFAULT: Resources = { vcpus: 0, memoryMib: 512, diskGib: 1 };

const TOPOLOGY_NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const LABEL = /^([a-z0-9][a-z0-9._/-]{0,62})=([^\n,]{0,255})$/;

function wholeNumber(text: string | undefined, flag: string, fallback: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value)) throw new UsageError(`${flag}: "${text.slice(0, 40)}" is not a whole number`);
  if (value > max) throw new UsageError(`${flag}: ${value} is more than ${max}`);
  return value;
}

function topologyName(text: string | undefined, flag: string, fallback: string): string {
  if (text === undefined) return fallback;
  if (!TOPOLOGY_NAME.test(text)) throw new UsageError(`${flag}: "${text.slice(0, 70)}" must be 1 to 63 lowercase letters, digits or '-'`);
  return text;
}

/** The VM flags, or undefined when the node runs no VMs (--vm-backend none or absent). */
export function parseNodeVmFlags(input: NodeVmFlagsInput, dataDir: string): NodeVmFlags | undefined {
  const kind = input.vmBackend ?? "none";
  if (kind === "none") {
    const stray = (["vmsDir", "imageDir", "leaseMs"] as const).find((key) => input[key] !== undefined);
    if (stray !== undefined) throw new UsageError(`--${stray.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: only with --vm-backend qemu or process`);
    return undefined;
  }
  if (kind !== "qemu" && kind !== "process") throw new UsageError(`--vm-backend: "${kind.slice(0, 40)}" is not qemu, process or none`);
  const leaseMs = wholeNumber(input.leaseMs, "--lease-ms", LEASE_MS_DEFAULT, 3_600_000);
  if (leaseMs < 1_000) throw new UsageError("--lease-ms: at least 1000 (a lease must outlast a renewal round trip and a VM's stop)");
  const labels = (input.label ?? []).map((text) => {
    const match = LABEL.exec(text);
    if (match === null) throw new UsageError(`--label: "${text.slice(0, 70)}" is not KEY=VALUE (key: lowercase letters, digits, '.', '_', '/', '-')`);
    return { key: match[1]!, value: match[2]! };
  });
  labels.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (let i = 1; i < labels.length; i++) if (labels[i]!.key === labels[i - 1]!.key) throw new UsageError(`--label: key "${labels[i]!.key}" given twice`);
  if (labels.length > CLUSTER_LIMITS.labelsMax) throw new UsageError(`--label: at most ${CLUSTER_LIMITS.labelsMax}`);
  return {
    backend: kind,
    vmsDir: input.vmsDir ?? join(dataDir, "vms"),
    imageDir: input.imageDir ?? "",
    leaseMs,
    reserve: {
      vcpus: wholeNumber(input.reserveVcpus, "--reserve-vcpus", RESERVE_DEFAULT.vcpus, CLUSTER_LIMITS.vcpusMax),
      memoryMib: wholeNumber(input.reserveMemoryMib, "--reserve-memory-mib", RESERVE_DEFAULT.memoryMib, CLUSTER_LIMITS.memoryMibMax),
      diskGib: wholeNumber(input.reserveDiskGib, "--reserve-disk-gib", RESERVE_DEFAULT.diskGib, CLUSTER_LIMITS.diskGibMax),
    },
    topology: {
      datacenter: topologyName(input.datacenter, "--datacenter", "local"),
      zone: topologyName(input.zone, "--zone", "local"),
      rack: topologyName(input.rack, "--rack", "local"),
    },
    labels,
    cpuOvercommit: (() => {
      const ratio = wholeNumber(input.cpuOvercommit, "--cpu-overcommit", CPU_OVERCOMMIT_DEFAULT, CPU_OVERCOMMIT_MAX);
      if (ratio < 1) throw new UsageError("--cpu-overcommit: at least 1 (no more vCPUs than host CPUs)");
      return ratio;
    })(),
  };
}

/**
 * The lease timing for a lease of `leaseMs`: renewed ten times per lease; fencing starts a fifth of
 * the lease before the deadline (the graceful stops, then the guard's kill, fit in it); a start
 * needs a fifth of the lease left. validateLeaseTiming holds for every lease of 1 s or more.
 */
export function leaseTimingOf(leaseMs: number): LeaseTiming {
  const leaseDurationUs = leaseMs * 1_000;
  const timing = { leaseDurationUs, renewIntervalUs: Math.floor(leaseDurationUs / 10), stopBoundUs: Math.floor(leaseDurationUs / 5), startBoundUs: Math.floor(leaseDurationUs / 5) };
  validateLeaseTiming(timing);
  return timing;
}
