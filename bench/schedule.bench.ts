// The scheduler alone: places N pending VMs on 5,000 nodes in one schedule() call and prints
// placements per second, for 10k, 50k and 100k VMs (near-linear scaling shows as a flat rate),
// per strategy, with the load average (the machine is shared). The cluster has 2 datacenters,
// 10 zones, 250 racks, labels, a gpu feature on 10% of the nodes, overcommit and reserves; the
// VMs carry label, feature, zone and datacenter constraints, zone preferences, rack spreads,
// hard and soft anti-affinity groups and per-node tenant quotas. Asserts nothing but the plan's
// capacity; figures go to docs/SCHEDULER.md and docs/BENCHMARKS.md.
//   npm run bench:schedule
//   npm run bench:schedule -- --nodes 5000 --vms 10000,50000,100000 --strategies spread,bin-pack,round-robin
//
// The lead's end-to-end figure can reuse scheduleBenchWorkload() (the registrations and specs)
// and placeAll() (schedule() then planToCommands()).

import { loadavg } from "node:os";
import { pathToFileURL } from "node:url";
import type { ClusterCommand, NodeRegistration, PlacementConstraint, VmSpec } from "../src/core/cluster/types.ts";
import { Prng } from "../src/core/sim/prng.ts";
import { seedFromBigInt } from "../src/core/sim/seed.ts";
import { planToCommands } from "../src/core/scheduler/plan-commands.ts";
import { schedule } from "../src/core/scheduler/schedule.ts";
import { DEFAULT_SCHEDULER_OPTIONS, type SchedulePlan, type SchedulerOptions, type SchedulingStrategy } from "../src/core/scheduler/scheduler-types.ts";
import { FixtureView, nodeRecord, quota, vmRecord } from "../test/support/cluster-view-fixture.ts";

export interface ScheduleBenchWorkload {
  readonly registrations: readonly NodeRegistration[];
  readonly specs: readonly VmSpec[];
  /** Tenants with a per-node quota. */
  readonly tenants: readonly { readonly name: string; readonly vmsPerNodeMax: number }[];
}

const TENANTS = 50;

/** Deterministic for (nodeCount, vmCount, seed). */
export function scheduleBenchWorkload(nodeCount: number, vmCount: number, seed = 1n): ScheduleBenchWorkload {
  const random = Prng.stream(seedFromBigInt(seed), "schedule-bench");
  const registrations: NodeRegistration[] = [];
  for (let n = 0; n < nodeCount; n++) {
    const zone = n % 10;
    const gpu = n % 10 === 3;
    registrations.push({
      id: n + 1,
      address: "",
      capacity: { vcpus: 64, memoryMib: 262_144, diskGib: 2_000 },
      overcommit: { cpuPermille: 2_000, memoryPermille: 1_000, diskPermille: 1_000, reserve: { vcpus: 2, memoryMib: 4_096, diskGib: 50 } },
      labels: [
        { key: "pool", value: `p${Math.floor(n / 20) % 4}` },
        { key: "tier", value: n % 3 === 0 ? "ssd" : "hdd" },
      ],
      features: gpu ? ["gpu", "kvm"] : ["kvm"],
      topology: { datacenter: `dc${zone < 5 ? 1 : 2}`, zone: `z${zone}`, rack: `r${Math.floor(n / 20)}` },
    });
  }
  const specs: VmSpec[] = [];
  for (let v = 0; v < vmCount; v++) {
    const tenant = `tenant-${random.intBelow(TENANTS)}`;
    const constraints: PlacementConstraint[] = [{ kind: "feature", feature: "kvm" }];
    const roll = random.intBelow(100);
    if (roll < 30) constraints.push({ kind: "label", key: "tier", value: "ssd" });
    else if (roll < 32) constraints.push({ kind: "feature", feature: "gpu" });
    else if (roll < 52) constraints.push({ kind: "zone", mode: "require", value: `z${random.intBelow(10)}` });
    else if (roll < 62) constraints.push({ kind: "datacenter", mode: "exclude", value: "dc2" });
    else if (roll < 77) constraints.push({ kind: "zone", mode: "prefer", value: `z${random.intBelow(10)}` });
    if (random.intBelow(10) === 0) constraints.push({ kind: "label", key: "pool", value: `p${random.intBelow(4)}` });
    const groupRoll = random.intBelow(100);
    let group = "";
    let mode: "hard" | "soft" = "hard";
    if (groupRoll < 30) group = `hard-${Math.floor(v / 5)}`; // groups of about 5
    else if (groupRoll < 40) {
      group = `soft-${Math.floor(v / 10)}`;
      mode = "soft";
    }
    if (group !== "" && random.intBelow(3) === 0) constraints.push({ kind: "spread", domain: "rack" });
    specs.push({
      tenant,
      name: `vm-${v}`,
      resources: { vcpus: random.pick([1, 2, 4, 8]), memoryMib: random.pick([1_024, 2_048, 4_096, 8_192, 16_384]), diskGib: random.pick([10, 20, 50]) },
      image: { kernel: "/boot/vmlinux", initrd: "/boot/initrd", rootDisk: "" },
      kernelCmdline: "console=ttyS0",
      interfaces: [],
      priority: random.intBelow(10) * 100,
      preemptible: random.intBelow(4) === 0,
      restartPolicy: "always",
      healthCheck: { kind: "none" },
      antiAffinity: { group, mode, weight: 100, maxPerNode: 1 },
      constraints,
    });
  }
  const tenants = Array.from({ length: TENANTS }, (_, t) => ({ name: `tenant-${t}`, vmsPerNodeMax: t % 5 === 0 ? 8 : 1_000 }));
  return { registrations, specs, tenants };
}

/** A fixture view of the workload with every VM pending (ids 1..N). */
export function pendingView(workload: ScheduleBenchWorkload): FixtureView {
  return new FixtureView({
    nodes: workload.registrations.map((registration) => ({ ...nodeRecord({ id: registration.id }), ...registration })),
    vms: workload.specs.map((spec, v) => ({ ...vmRecord({ id: v + 1 }), spec })),
    tenants: workload.tenants.map((t) => ({ name: t.name, quota: quota(t.vmsPerNodeMax) })),
  });
}

/** schedule() then the controller's commands: what a leader's controller does with a batch. */
export function placeAll(view: FixtureView, vmIds: readonly number[], options: SchedulerOptions): { readonly plan: SchedulePlan; readonly commands: readonly ClusterCommand[] } {
  const plan = schedule(view, vmIds, options);
  const commands = planToCommands(plan, "controller");
  if (commands.kind !== "ok") throw new Error(commands.message);
  return { plan, commands: commands.commands };
}

function checkCapacity(view: FixtureView, plan: SchedulePlan): void {
  const used = new Map<number, [number, number, number]>();
  for (const placement of plan.placements) {
    const resources = view.vm(placement.vmId)!.spec.resources;
    const u = used.get(placement.nodeId) ?? [0, 0, 0];
    used.set(placement.nodeId, [u[0] + resources.vcpus, u[1] + resources.memoryMib, u[2] + resources.diskGib]);
  }
  for (const [nodeId, u] of used) {
    const node = view.node(nodeId)!;
    const o = node.overcommit;
    if (u[0] > Math.floor((node.capacity.vcpus * o.cpuPermille) / 1000) - o.reserve.vcpus || u[1] > Math.floor((node.capacity.memoryMib * o.memoryPermille) / 1000) - o.reserve.memoryMib) {
      throw new Error(`node ${nodeId} over capacity`);
    }
  }
}

/**
 * A full cluster: every node holds 31 preemptible VMs of 4 vcpus (priority 0-2), leaving 2 vcpus
 * free; `pending` VMs of priority 900 and 4 vcpus each must preempt one.
 */
export function preemptionView(workload: ScheduleBenchWorkload, pending: number): { readonly view: FixtureView; readonly vmIds: readonly number[] } {
  const nodes = workload.registrations.map((registration) => ({ ...nodeRecord({ id: registration.id }), ...registration }));
  const vms = [];
  let id = 1;
  for (const node of nodes) {
    for (let k = 0; k < 31; k++) vms.push(vmRecord({ id: id++, nodeId: node.id, resources: { vcpus: 4, memoryMib: 2_048, diskGib: 20 }, priority: k % 3, preemptible: true, tenant: `tenant-${k}` }));
  }
  const vmIds: number[] = [];
  for (let k = 0; k < pending; k++) {
    vmIds.push(id);
    vms.push(vmRecord({ id: id++, resources: { vcpus: 4, memoryMib: 2_048, diskGib: 20 }, priority: 900, tenant: `urgent-${k % 10}`, constraints: [{ kind: "feature", feature: "kvm" }] }));
  }
  return { view: new FixtureView({ nodes, vms }), vmIds };
}

/** How evenly (spread) or tightly (bin-pack) the plan filled the nodes. */
function quality(view: FixtureView, plan: SchedulePlan): string {
  const vcpus = new Map<number, number>();
  for (const node of view.nodes()) vcpus.set(node.id, node.allocated.vcpus);
  for (const p of plan.placements) vcpus.set(p.nodeId, vcpus.get(p.nodeId)! + view.vm(p.vmId)!.spec.resources.vcpus);
  const values = [...vcpus.values()].sort((a, b) => a - b);
  const used = values.filter((v) => v > 0).length;
  return `${used} of ${values.length} nodes used; vcpus per node min ${values[0] ?? 0}, median ${values[values.length >> 1] ?? 0}, max ${values[values.length - 1] ?? 0}`;
}

function argument(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && at + 1 < process.argv.length ? process.argv[at + 1]! : fallback;
}

function load(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
}

function main(): void {
  const nodeCount = Number(argument("nodes", "5000"));
  const sizes = argument("vms", "10000,50000,100000").split(",").map(Number);
  const strategies = argument("strategies", "spread,bin-pack,round-robin").split(",") as SchedulingStrategy[];
  const candidatesMax = Number(argument("candidates", String(DEFAULT_SCHEDULER_OPTIONS.candidatesMax)));
  console.log(`scheduler alone: ${nodeCount} nodes, candidatesMax ${candidatesMax}, Node.js ${process.version}`);
  console.log(`load average before: ${load()}`);
  console.log("wall: elapsed time; cpu: this process's CPU time (user + system), which a shared machine disturbs less");
  console.log("strategy      VMs       placed  preempting  unplaceable wall ms wall placed/s  cpu ms  cpu placed/s   load average (1 5 15 min)");
  const qualities: string[] = [];
  for (const strategy of strategies) {
    for (const vmCount of sizes) {
      const workload = scheduleBenchWorkload(nodeCount, vmCount);
      const view = pendingView(workload);
      const vmIds = workload.specs.map((_, v) => v + 1);
      const options: SchedulerOptions = { ...DEFAULT_SCHEDULER_OPTIONS, strategy, candidatesMax };
      // One untimed warm-up on a small batch so the JIT has compiled the scan.
      schedule(view, vmIds.slice(0, 2_000), options);
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      const plan = schedule(view, vmIds, options);
      const elapsedMs = performance.now() - started;
      const cpu = process.cpuUsage(cpuBefore);
      const cpuMs = (cpu.user + cpu.system) / 1000;
      checkCapacity(view, plan);
      let preempting = 0;
      let unplaceable = 0;
      for (const decision of plan.decisions) {
        if (decision.kind === "preempting") preempting += 1;
        else if (decision.kind === "unplaceable") unplaceable += 1;
      }
      qualities.push(`${strategy} ${vmCount}: ${quality(view, plan)}`);
      const rate = Math.round(plan.placements.length / (elapsedMs / 1000));
      const cpuRate = Math.round(plan.placements.length / (cpuMs / 1000));
      console.log(
        `${strategy.padEnd(12)} ${String(vmCount).padStart(7)} ${String(plan.placements.length).padStart(10)} ${String(preempting).padStart(11)} ${String(unplaceable).padStart(12)} ${elapsedMs.toFixed(0).padStart(7)} ${String(rate).padStart(14)} ${cpuMs.toFixed(0).padStart(7)} ${String(cpuRate).padStart(14)}   ${load()}`,
      );
    }
  }
  console.log("placement quality (vcpus allocated per node, under the overcommit policy's allocatable):");
  for (const line of qualities) console.log(`  ${line}`);
  const preempt = Number(argument("preempt", "10000"));
  if (preempt > 0) preemptionBench(nodeCount, preempt);
}

function preemptionBench(nodeCount: number, pending: number): void {
  const { view, vmIds } = preemptionView(scheduleBenchWorkload(nodeCount, 0), pending);
  const options: SchedulerOptions = { ...DEFAULT_SCHEDULER_OPTIONS, strategy: "spread" };
  schedule(view, vmIds.slice(0, 500), options);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const plan = schedule(view, vmIds, options);
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  const preempting = plan.decisions.filter((d) => d.kind === "preempting").length;
  console.log(
    `preemption: ${nodeCount} full nodes (${nodeCount * 31} preemptible VMs), ${pending} VMs of priority 900: ${preempting} preempting (${plan.evictions.length} evictions), ` +
      `${elapsedMs.toFixed(0)} ms wall (${Math.round(pending / (elapsedMs / 1000))} decisions/s), ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms cpu; load ${load()}`,
  );
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) main();
