// The orchestrator's settings in simulation: what each simulated node registers (capacity,
// labels, features, topology), the lease timing (shorter than production's, so a minute holds
// many lease lifetimes; the same arithmetic, src/core/agent/lease-timing.ts), the simulated VM
// hosts, the controller, the users, the liveness bound, and the planted bugs a test may switch on.

import { assert } from "../assert.ts";
import { validateLeaseTiming, type LeaseTiming } from "../agent/lease-timing.ts";
import { defaultReconcileIntervalUs, type NodeAgentOptions } from "../agent/node-agent.ts";
import { defaultReconcilerOptions, type AgentPlantedBug } from "../agent/reconciler.ts";
import type { ClusterPlantedBug } from "../cluster/cluster-state.ts";
import type { NodeRegistration, OvercommitPolicy, Resources } from "../cluster/types.ts";
import type { ControllerPlantedBug } from "../controller/cluster-controller.ts";
import type { NodeId } from "../raft/types.ts";
import type { OrchestratorNodeOptions } from "../replica/node-process.ts";
import { DEFAULT_SCHEDULER_OPTIONS, type SchedulerOptions } from "../scheduler/scheduler-types.ts";
import { defaultOrchestratorWorkloadOptions, type OrchestratorWorkloadOptions } from "./orchestrator-workload.ts";
import { defaultSimVmHostOptions, type SimVmBackendPlantedBug, type SimVmHostOptions } from "./sim-vm-backend.ts";

export interface OrchestratorPlantedBugs {
  readonly cluster?: ReadonlySet<ClusterPlantedBug>;
  readonly controller?: ReadonlySet<ControllerPlantedBug>;
  readonly agent?: ReadonlySet<AgentPlantedBug>;
  readonly backend?: ReadonlySet<SimVmBackendPlantedBug>;
}

export interface SimOrchestratorOptions {
  readonly workload: OrchestratorWorkloadOptions;
  readonly timing: LeaseTiming;
  /** What every node offers (zones, racks and features vary by node id: nodeRegistration). */
  readonly capacity: Resources;
  readonly overcommit: OvercommitPolicy;
  readonly vmHost: Omit<SimVmHostOptions, "plantedBugs">;
  readonly controllerRoundMs: number;
  readonly scheduleBatchMax: number;
  readonly scheduler: SchedulerOptions;
  /** Once faults and users stop, every VM that can run runs within this (VM Liveness). */
  readonly livenessBoundMs: number;
  /** Test harness only: never reachable from the CLI. */
  readonly plantedBugs: OrchestratorPlantedBugs;
  /**
   * Whether every plan the controllers compute is checked (Plan Admissible, Unplaceable Only When
   * Full). Off only beside a planted scheduler bug switched on as a companion, to test the state
   * machine's recheck behind bad plans (vopr-worker.ts, PLANT_COMPANIONS).
   */
  readonly planChecks: boolean;
}

/**
 * A 3 s lease renewed every 500 ms: fencing starts 700 ms before the deadline (a simulated VM
 * stops within 200 ms), a start needs 600 ms of lease left (a boot takes at most 500 ms). The
 * controller waits Lc = ceil(3 s * 1.1 / 0.9) = 3.667 s after the last renewal it saw.
 */
export const simLeaseTiming: LeaseTiming = {
  leaseDurationUs: 3_000_000,
  renewIntervalUs: 500_000,
  stopBoundUs: 700_000,
  startBoundUs: 600_000,
};

export const defaultSimOrchestratorOptions: SimOrchestratorOptions = {
  workload: defaultOrchestratorWorkloadOptions,
  timing: simLeaseTiming,
  // Small nodes: a few VMs fill one, so capacity binds (and the plans racing for it matter).
  capacity: { vcpus: 8, memoryMib: 4_096, diskGib: 200 },
  // Twice the vCPUs (CPU is time-shared), memory exact, a little held back for the host.
  overcommit: { cpuPermille: 2_000, memoryPermille: 1_000, diskPermille: 1_000, reserve: { vcpus: 0, memoryMib: 512, diskGib: 10 } },
  vmHost: defaultSimVmHostOptions,
  controllerRoundMs: 200,
  scheduleBatchMax: 256,
  scheduler: DEFAULT_SCHEDULER_OPTIONS,
  // A node declared down (Lc 3.7 s after its last renewal), its VMs placed (a round) and booted
  // (0.5 s), nodes that crashed restarted and registered again, with room to spare.
  livenessBoundMs: 10_000,
  plantedBugs: {},
  planChecks: true,
};

export type ResolvedSimOrchestrator = SimOrchestratorOptions & { readonly vmHost: SimVmHostOptions };

export function resolveSimOrchestrator(options: Partial<SimOrchestratorOptions>): ResolvedSimOrchestrator {
  const resolved = { ...defaultSimOrchestratorOptions, ...options };
  validateLeaseTiming(resolved.timing);
  assert(resolved.controllerRoundMs > 0 && resolved.scheduleBatchMax > 0 && resolved.livenessBoundMs > 0, "orchestrator intervals are positive");
  const backendBugs = [...(resolved.plantedBugs.backend ?? [])].sort();
  return { ...resolved, vmHost: { ...resolved.vmHost, plantedBugs: backendBugs } };
}

/** What node `id` registers: the run's capacity, in zone z<id mod 3> and rack r<id>; odd ids have kvm. */
export function nodeRegistration(options: SimOrchestratorOptions, id: NodeId): NodeRegistration {
  assert(Number.isSafeInteger(id) && id >= 1, "node ids are positive");
  return {
    id,
    address: `sim-host-${id}:8000`,
    capacity: options.capacity,
    overcommit: options.overcommit,
    labels: [{ key: "pool", value: id % 2 === 0 ? "even" : "odd" }],
    features: id % 2 === 1 ? ["kvm"] : [],
    topology: { datacenter: "dc1", zone: `z${id % 3}`, rack: `r${id}` },
  };
}

/** `observePlan`: the simulator's plan checks, handed every plan the node's controller computes. */
export function orchestratorNodeOptions(options: ResolvedSimOrchestrator, id: NodeId, observePlan?: SchedulerOptions["observePlan"]): OrchestratorNodeOptions {
  const agent: NodeAgentOptions = {
    reconciler: { ...defaultReconcilerOptions(nodeRegistration(options, id), options.timing), plantedBugs: [...(options.plantedBugs.agent ?? [])].sort() },
    reconcileIntervalUs: defaultReconcileIntervalUs,
  };
  return {
    agent,
    controller: {
      timing: options.timing,
      roundIntervalMs: options.controllerRoundMs,
      scheduler: observePlan === undefined ? options.scheduler : { ...options.scheduler, observePlan },
      scheduleBatchMax: options.scheduleBatchMax,
      plantedBugs: options.plantedBugs.controller,
    },
  };
}
