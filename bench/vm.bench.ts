// `npm run bench:vm`: how long a VM takes from `vm create` on the API to its guest's readiness
// line, split into Blixard's parts and the hypervisor's, on a real local cluster started the way
// `blixard up` starts one (separate node processes, mutual TLS, a token). Then how many VMs per
// second one node starts, and what an idle VM costs the host in memory.
//
// The split, all on this host's wall clock (one machine, one clock):
//   consensus     the Create call, from send to answer (committed on a quorum)
//   scheduling    from the answer to the controller's placement proposal (the vm-scheduled event's stamp)
//   agent         from that proposal to the guard's "spawned" line: the placement's commit, the
//                 agent's reaction, the backend, and the guard process's own start
//   boot          from "spawned" to the guest's BLIXARD-READY line: the hypervisor and the guest
// Blixard's own share is everything but boot.
//
// Usage: npm run bench:vm [-- --backend qemu|process] [--vms N]. Run it on a quiet machine; it
// prints the load average beside every figure.
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { clientsOf, prepareCluster, startNodes, stopNodes, waitForCluster, type PreparedCluster } from "../src/shell/up/local-cluster.ts";
import { upDefaultTenant, upImage, upNodesReady, upStopVms } from "../src/shell/up/up-vms.ts";
import { detectQemu } from "../src/shell/vm/qemu/qemu-launcher.ts";
import { specToProto } from "../src/shell/api/vm-proto.ts";
import { VmSpecSchema } from "../src/shell/api/gen/blixard/v1/vm_pb.ts";
import { specFromDocument } from "../src/shell/api/vm-spec-input.ts";
import { defaultImageDir } from "../src/shell/vm/image/image-dir.ts";
import type { ApiClients } from "../src/shell/api/client.ts";

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const at = args.indexOf(name);
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1]! : fallback;
};
const backend = flag("--backend", (await detectQemu()).available ? "qemu" : "process") as "qemu" | "process";
const sequentialVms = Number(flag("--vms", "5"));
const burstVms = Number(flag("--burst", "16"));

const load = (): string => loadavg().map((value) => value.toFixed(2)).join(" ");

function specOf(name: string, memoryMib: number): ReturnType<typeof specToProto> {
  const parsed = specFromDocument({ name, tenant: "default", resources: { vcpus: 1, memoryMib, diskGib: 1 } });
  if (!parsed.ok) throw new Error(parsed.error);
  return specToProto(parsed.spec);
}

async function startCluster(nodes: number, kind: "qemu" | "process", basePort: number, nodeArgs: readonly string[] = []): Promise<{ prepared: PreparedCluster; stop: () => Promise<void>; clients: ApiClients; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), "blixard-bench-vm-"));
  const imageDir = defaultImageDir();
  if (kind === "qemu") await upImage(imageDir, (line) => console.log(`  ${line}`));
  const prepared = await prepareCluster(join(dir, "cluster"), { nodes, basePort, backend: kind, imageDir, leaseMs: 10_000 }, new Set());
  const running = startNodes(prepared, nodeArgs);
  const stop = async (): Promise<void> => {
    await stopNodes(running);
    await upStopVms(prepared.nodes);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForCluster(prepared, running, 120_000, async (clients) => {
      const missing = await upNodesReady(clients, nodes);
      if (missing === undefined) await upDefaultTenant(clients);
      return missing;
    }, () => {});
  } catch (error) {
    await stop();
    throw error;
  }
  return { prepared, stop, clients: clientsOf(prepared, prepared.nodes[0]!, 30_000), dir };
}

/** Host times (ms) of console lines: "[guard] spawned" and "BLIXARD-READY vm=<id>". */
function consoleMarks(path: string, vmId: number): { spawnedMs: number; readyMs: number } | undefined {
  if (!existsSync(path)) return undefined;
  let spawnedMs = 0;
  let readyMs = 0;
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const at = Date.parse(line.slice(0, 24));
    if (line.includes("[guard] spawned") && spawnedMs === 0) spawnedMs = at;
    if (line.includes(`BLIXARD-READY vm=${vmId}`) && readyMs === 0) readyMs = at;
  }
  return spawnedMs > 0 && readyMs > 0 ? { spawnedMs, readyMs } : undefined;
}

async function until<T>(what: string, deadlineMs: number, probe: () => Promise<T | undefined> | T | undefined, pollMs = 5): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function createToReady(): Promise<void> {
  console.log(`create to readiness: ${sequentialVms} VMs one after another on 3 nodes, ${backend} backend (load ${load()})`);
  const { prepared, stop, clients } = await startCluster(3, backend, 17300);
  const rows: Array<{ consensus: number; scheduling: number; agent: number; boot: number }> = [];
  try {
    for (let i = 0; i < sequentialVms; i++) {
      const t0 = Date.now();
      const created = await clients.vm.create({ spec: create(VmSpecSchema, specOf(`bench-${i}`, 128)), requestId: `bench-${i}-${t0}` });
      const t1 = Date.now();
      const vmId = Number(created.vm!.id);
      const scheduled = await until("the vm-scheduled event", 30_000, async () => {
        const page = await clients.vm.events({ afterIndex: created.index - 1n, vmId: BigInt(vmId), limit: 50 });
        return page.events.find((event) => event.kind === "vm-scheduled");
      });
      const nodeId = Number(scheduled.nodeId);
      const node = prepared.nodes.find((n) => n.id === nodeId)!;
      const marks = await until("the readiness line", 120_000, () => consoleMarks(join(node.vmsDir, String(vmId), "console.log"), vmId), 20);
      const scheduledMs = Number(scheduled.stampUs) / 1000;
      const row = { consensus: t1 - t0, scheduling: scheduledMs - t1, agent: marks.spawnedMs - scheduledMs, boot: marks.readyMs - marks.spawnedMs };
      rows.push(row);
      console.log(`  vm ${vmId} on node ${nodeId}: consensus ${row.consensus.toFixed(0)} ms, scheduling ${row.scheduling.toFixed(0)} ms, agent ${row.agent.toFixed(0)} ms, boot ${row.boot.toFixed(0)} ms; Blixard ${(row.consensus + row.scheduling + row.agent).toFixed(0)} ms (load ${load()})`);
      await clients.vm.delete({ vm: { id: BigInt(vmId) }, requestId: `bench-del-${i}-${t0}` });
    }
    const m = (key: keyof (typeof rows)[number]): string => median(rows.map((r) => r[key])).toFixed(0);
    console.log(`  median: consensus ${m("consensus")} ms, scheduling ${m("scheduling")} ms, agent ${m("agent")} ms, boot ${m("boot")} ms; Blixard's share ${median(rows.map((r) => r.consensus + r.scheduling + r.agent)).toFixed(0)} ms (load ${load()})`);
  } finally {
    await stop();
  }
}

async function burstOnOneNode(kind: "qemu" | "process", count: number): Promise<void> {
  console.log(`burst: ${count} VMs created at once on 1 node, ${kind} backend (load ${load()})`);
  // One vCPU each: the node promises enough of them for the burst (--cpu-overcommit).
  const { prepared, stop, clients } = await startCluster(1, kind, 17400, ["--cpu-overcommit", "10"]);
  try {
    const t0 = Date.now();
    await Promise.all(Array.from({ length: count }, (_, i) => clients.vm.create({ spec: create(VmSpecSchema, specOf(`burst-${i}`, kind === "qemu" ? 128 : 16)), requestId: `burst-${i}-${t0}` })));
    const created = Date.now();
    await until("every VM running", 300_000, async () => {
      const listed = await clients.vm.list({ tenant: "default", limit: 50, phase: "running" });
      return listed.vms.length >= Math.min(count, 50) ? true : undefined;
    }, 50);
    const seconds = (Date.now() - t0) / 1000;
    console.log(`  ${count} VMs running ${seconds.toFixed(2)} s after the first create (creates took ${((created - t0) / 1000).toFixed(2)} s): ${(count / seconds).toFixed(1)} VMs/s (load ${load()})`);
    // Idle memory: each VM's guard and its process (qemu, or the process guest), once they settle.
    await new Promise((r) => setTimeout(r, 3_000));
    const node = prepared.nodes[0]!;
    const rss = (pid: number): number => {
      try {
        const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
        return match === null ? 0 : Number(match[1]) / 1024;
      } catch {
        return 0;
      }
    };
    const guards: number[] = [];
    const children: number[] = [];
    for (const entry of (await import("node:fs")).readdirSync(node.vmsDir).filter((name) => /^\d+$/.test(name))) {
      const state = JSON.parse(readFileSync(join(node.vmsDir, entry, "state.json"), "utf8")) as { guardPid: number; childPid: number };
      guards.push(rss(state.guardPid));
      children.push(rss(state.childPid));
    }
    console.log(`  idle VM memory (RSS, median of ${guards.length}): guard ${median(guards).toFixed(1)} MiB + ${kind === "qemu" ? "qemu" : "process guest"} ${median(children).toFixed(1)} MiB (load ${load()})`);
  } finally {
    await stop();
  }
}

console.log(`bench:vm on ${process.version}, ${(await import("node:os")).cpus().length} cores; load ${load()}`);
await createToReady();
await burstOnOneNode("process", burstVms);
if (backend === "qemu") await burstOnOneNode("qemu", 4);
