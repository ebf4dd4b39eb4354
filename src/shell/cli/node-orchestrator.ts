// Builds the orchestrator's runtime settings of one `blixard node` from its VM flags: the launcher
// (qemu: the accel probe runs here, at node start, so status says kvm or tcg and why; process), the
// host backend over it, what the node registers (capacity read from the host minus the reserve,
// topology, labels, features), and the lease timing.
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import type { Logger } from "../../core/env/environment.ts";
import type { OvercommitPolicy } from "../../core/cluster/types.ts";
import type { OrchestratorRuntimeConfig } from "../node/runtime.ts";
import { HostVmBackend } from "../vm/host-backend.ts";
import { hostCapacity } from "../vm/host-capacity.ts";
import type { VmLauncher } from "../vm/launch-plan.ts";
import { ProcessLauncher } from "../vm/process/process-launcher.ts";
import { createDetectedQemuLauncher } from "../vm/qemu/qemu-launcher.ts";
import { defaultImageDir } from "../vm/image/image-dir.ts";
import { leaseTimingOf, type NodeVmFlags } from "./node-vm-flags.ts";

/**
 * vCPUs are time-shared, so a node promises --cpu-overcommit of them per host CPU (default four);
 * memory and disk exactly. The reserve is already taken off the capacity (hostCapacity), so none is
 * held back twice.
 */
export function nodeOvercommit(cpuOvercommit: number): OvercommitPolicy {
  return { cpuPermille: cpuOvercommit * 1_000, memoryPermille: 1_000, diskPermille: 1_000, reserve: { vcpus: 0, memoryMib: 0, diskGib: 0 } };
}

export async function orchestratorRuntimeConfig(flags: NodeVmFlags, log: Logger): Promise<OrchestratorRuntimeConfig> {
  const vmsDir = resolve(flags.vmsDir);
  mkdirSync(vmsDir, { recursive: true, mode: 0o700 });
  const imageDir = resolve(flags.imageDir === "" ? defaultImageDir() : flags.imageDir);
  const launcher: VmLauncher = flags.backend === "qemu" ? await createDetectedQemuLauncher({ imageDir }) : new ProcessLauncher();
  const features = launcher.description === "qemu (kvm)" ? ["kvm"] : [];
  return {
    backend: (env) => {
      const backend = new HostVmBackend({ vmsDir, launcher, monotonicNowUs: () => env.monotonic.nowUs(), log, nodeId: env.nodeId, failpoint: env.failpoint });
      return { backend, host: backend, close: async () => backend.close() };
    },
    registration: {
      capacity: hostCapacity(vmsDir, flags.reserve),
      overcommit: nodeOvercommit(flags.cpuOvercommit),
      labels: flags.labels,
      features,
      topology: flags.topology,
    },
    timing: leaseTimingOf(flags.leaseMs),
  };
}
