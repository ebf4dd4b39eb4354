// The scheduler end to end through a three-node cluster: placements committed per second. Three
// real nodes in this process (NodeRuntime: mutual TLS on loopback with a CA made for the run,
// fdatasync'd WAL in temporary directories), N registered nodes and M pending VMs (the same workload as the scheduler-alone
// bench, bench/schedule.bench.ts), then, timed: schedule() on the leader's applied state in
// batches, each batch split by planToCommands into placements-commit commands of at most
// CLUSTER_LIMITS.placementsPerCommandMax entries, submitted together, until every VM is placed.
// The figure is VMs placed (committed, applied, acknowledged) per wall second, scheduling,
// encoding, replication, fsync and apply on three nodes included. Registration and creation are
// not timed. Snapshots are switched off (snapshotEveryEntries 10^7): a 100,000-VM state's
// canonical-JSON snapshot would be timed instead of placement. A benchmark: prints, asserts only
// that every VM was placed.
//   npm run bench:schedule-cluster [-- --nodes 5000 --vms 100000 --batch 16384]
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { ClusterCommand, CommandEnvelope } from "../src/core/cluster/types.ts";
import { planToCommands } from "../src/core/scheduler/plan-commands.ts";
import { schedule } from "../src/core/scheduler/schedule.ts";
import { DEFAULT_SCHEDULER_OPTIONS } from "../src/core/scheduler/scheduler-types.ts";
import type { RequestOutcome } from "../src/core/replica/request-types.ts";
import { NodeRuntime } from "../src/shell/node/runtime.ts";
import { initCa, issueNode } from "../src/shell/cli/ca-command.ts";
import { freePort, waitFor } from "../test/e2e/process-cluster.ts";
import { scheduleBenchWorkload } from "./schedule.bench.ts";
import pino from "pino";

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    process.stderr.write(`${name}: a positive integer\n`);
    process.exit(2);
  }
  return value;
}

const nodeCount = flag("--nodes", 5_000);
const vmCount = flag("--vms", 100_000);
const batch = flag("--batch", 16_384);
const inFlightMax = 256;

function envelope(body: ClusterCommand): CommandEnvelope {
  return { stampUs: Date.now() * 1000, requestId: "", body };
}

function applied(outcome: RequestOutcome, what: string): void {
  if (outcome.status !== "ok" || outcome.result.kind !== "cluster" || outcome.result.result.status !== "ok") {
    throw new Error(`${what}: ${JSON.stringify(outcome).slice(0, 300)}`);
  }
}

/** Submits every command, at most inFlightMax at once, to `node`; resolves when all applied. */
async function submitAll(node: NodeRuntime, commands: readonly ClusterCommand[], what: string): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < commands.length) {
      const command = commands[next++]!;
      applied(await node.submit({ kind: "cluster", envelope: envelope(command) }), what);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlightMax, commands.length) }, worker));
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "blixard-bench-schedule-"));
  const ports = await Promise.all(Array.from({ length: 6 }, () => freePort()));
  const initialCluster = new Map([1, 2, 3].map((id) => [id, `127.0.0.1:${ports[id - 1]}`] as const));
  const log = pino({ level: "silent" });
  const nodes: NodeRuntime[] = [];
  try {
    await initCa(join(dir, "ca"));
    for (const id of [1, 2, 3]) {
      const tlsDir = await issueNode(join(dir, "ca"), id, ["127.0.0.1", "localhost"]);
      nodes.push(
        await NodeRuntime.start({
          security: { tlsDir },
          nodeId: id,
          peerListen: initialCluster.get(id)!,
          apiListen: `127.0.0.1:${ports[id + 2]}`,
          dataDir: join(dir, `node-${id}`),
          initialCluster,
          snapshotEveryEntries: 10_000_000,
          requestTimeoutMs: 60_000,
          log,
        }),
      );
    }
    const leader = await waitFor("a leader", 30_000, async () => {
      for (const node of nodes) {
        const outcome = await node.submit({ kind: "cluster-read", read: { what: "node", nodeId: 1 } });
        if (outcome.status === "ok" && outcome.servedBy !== 0) return nodes[outcome.servedBy - 1];
      }
      return undefined;
    });
    const workload = scheduleBenchWorkload(nodeCount, vmCount);
    const setupStarted = performance.now();
    await submitAll(leader, workload.registrations.map((node) => ({ kind: "node-register", node })), "register");
    const tenants = [...new Set(workload.specs.map((spec) => spec.tenant))].sort();
    const perNode = new Map(workload.tenants.map((tenant) => [tenant.name, tenant.vmsPerNodeMax]));
    await submitAll(
      leader,
      tenants.map((name) => ({ kind: "tenant-set", name, quota: { vmsMax: 200_000, vcpusMax: 10_000_000, memoryMibMax: 1_000_000_000, diskGibMax: 100_000_000, vmsPerNodeMax: perNode.get(name) ?? 1_000 } })),
      "tenant",
    );
    await submitAll(leader, workload.specs.map((spec) => ({ kind: "vm-create", spec, desired: "running" })), "create");
    const setupS = (performance.now() - setupStarted) / 1000;
    const view = leader.clusterView;
    const pending = (): number[] => {
      const ids: number[] = [];
      for (const vm of view.vms()) if (vm.phase === "pending" && vm.nodeId === 0) ids.push(vm.id);
      return ids;
    };
    const load = loadavg().map((value) => value.toFixed(2)).join(" ");
    const started = performance.now();
    let schedulingMs = 0;
    let commands = 0;
    for (let round = 0; round < 100; round++) {
      const ids = pending();
      if (ids.length === 0) break;
      const scheduleStarted = performance.now();
      const plan = schedule(view, ids.slice(0, batch), DEFAULT_SCHEDULER_OPTIONS);
      const split = planToCommands(plan, "controller");
      schedulingMs += performance.now() - scheduleStarted;
      if (split.kind !== "ok" || split.commands.length === 0) break;
      commands += split.commands.length;
      await submitAll(leader, split.commands, "placements-commit");
    }
    const seconds = (performance.now() - started) / 1000;
    const left = pending().length;
    const placed = vmCount - left;
    process.stdout.write(
      [
        `end to end through a three-node cluster (in-process nodes, mutual TLS on loopback, fdatasync WAL): ${nodeCount} nodes, ${vmCount} VMs`,
        `  setup (register, tenants, create; not timed): ${setupS.toFixed(1)} s`,
        `  placed ${placed} VMs in ${seconds.toFixed(2)} s: ${Math.round(placed / seconds)} placements committed per second (goal 3,750/s)`,
        `  of which scheduling and splitting on the leader: ${(schedulingMs / 1000).toFixed(2)} s; ${commands} placements-commit commands`,
        `  unplaced: ${left}; load average before: ${load}; after: ${loadavg().map((value) => value.toFixed(2)).join(" ")}`,
        "",
      ].join("\n"),
    );
    if (left > 0) process.exitCode = 1;
  } finally {
    await Promise.all(nodes.map((node) => node.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
