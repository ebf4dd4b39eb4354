// Failpoints of the node agent and the VM backend on a real `blixard node` that runs VMs (the
// process backend: each VM a supervised process under its guard), docs/FAILPOINTS.md:
// - agent.backend / agent.backend.after with a count (`1*return`): the one lost backend call or
//   lost report is recovered by the agent's reconciliation, and the VM reaches running;
// - agent.backend / agent.backend.after with `return` while a VM is created: the VM's create (or
//   the backend's report that it was created) is lost, so it is not running while the point is
//   set (with the report lost, the backend has the instance but the agent never starts it); once
//   the point is cleared the reconciler gives up on the lost operation, lists, and the VM runs;
// - pause at vm.start: the start waits while the point is set, and goes on when it is cleared;
// - return at vm.start: every start is refused before the launch (no process) and retried; cleared, the VM runs;
// - pause and return at vm.stop: the stop waits (or every request is lost) and the VM's process runs on; cleared, it stops.
// Each test has its own single-node cluster (the vm.start=return / vm.stop tests share one); everything it started (node, guards, VM processes)
// is killed and its directory removed in `after`, even when a test fails.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ProcessCluster, sleep, waitFor } from "./process-cluster.ts";
import { vmProcessPids } from "./local-up.ts";
import { runCli } from "../support/run-cli.ts";
import { processAlive } from "../shell/vm/vm-test-support.ts";

/** A short lease: a lost backend call is given up after 2 * lease/5 (opTimeoutUs), 1.6 s, then the agent lists again. */
const LEASE_MS = 4_000;
const RUNNING_DEADLINE_MS = 60_000;
/** How long a VM is watched not running while its point holds it: several times the agent's op timeout. */
const HELD_WINDOW_MS = 5_000;

interface PointStatus {
  readonly actions: string;
  readonly evaluated: number;
  readonly fired: number;
}

interface VmView {
  readonly id: number;
  readonly phase: string;
  readonly nodeId: number;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // gone already
  }
}

/** A single node running VMs as processes, with `failpoints` in its BLIXARD_FAILPOINTS (if given). */
class VmNode {
  readonly cluster: ProcessCluster;

  constructor(name: string, failpoints?: string) {
    this.cluster = new ProcessCluster(name, 50, 10, "info", { insecure: true });
    this.cluster.extraNodeArgs = ["--vm-backend", "process", "--lease-ms", String(LEASE_MS), "--reserve-memory-mib", "0"];
    if (failpoints !== undefined) this.cluster.extraNodeEnv = { BLIXARD_FAILPOINTS: failpoints };
  }

  async start(): Promise<void> {
    await this.cluster.bootstrap([1]);
    await this.cluster.waitForLeader([1], 30_000);
    // The CLI's VMs go to the tenant "default" when a spec names none (blixard up creates it; here, the test).
    await this.cluster.client(1).tenant.setQuota({ tenant: "default", quota: { vmsMax: 4n, vcpusMax: 4n, memoryMibMax: 4_096n, diskGibMax: 100n, vmsPerNodeMax: 4n }, requestId: "fp-default-tenant" });
  }

  get endpoint(): string {
    return `http://${this.cluster.nodes.get(1)!.api}`;
  }

  async cli(...args: string[]): Promise<string> {
    const out = await runCli([...args, "--endpoint", this.endpoint]);
    if (out.code !== 0) throw new Error(`blixard ${args.join(" ")} exited ${out.code}: ${out.stderr.trim() || out.stdout.trim()}`);
    return out.stdout;
  }

  async points(): Promise<Map<string, PointStatus>> {
    const parsed = JSON.parse(await this.cli("node", "failpoint", "list", "-o", "json")) as { failpoints: { name: string; actions: string; evaluated: string; fired: string }[] };
    return new Map(parsed.failpoints.map((p) => [p.name, { actions: p.actions, evaluated: Number(p.evaluated), fired: Number(p.fired) }]));
  }

  async vm(name: string): Promise<VmView | undefined> {
    const response = await this.cluster.client(1).vm.get({ vm: { name } }).catch(() => undefined);
    const record = response?.vm;
    return record === undefined ? undefined : { id: Number(record.id), phase: record.phase, nodeId: Number(record.nodeId) };
  }

  waitRunning(name: string, deadlineMs = RUNNING_DEADLINE_MS): Promise<VmView> {
    return waitFor(`vm ${name} running`, deadlineMs, async () => {
      const view = await this.vm(name);
      return view?.phase === "running" ? view : undefined;
    }, 200);
  }

  /** The node is registered and ready for VMs (so a create is placed on it at once). */
  waitReady(): Promise<true> {
    return waitFor("node 1 ready for VMs", RUNNING_DEADLINE_MS, async () => {
      const out = await runCli(["node", "get", "1", "-o", "json", "--endpoint", this.endpoint]);
      return out.code === 0 && /"state":\s*"ready"/.test(out.stdout) ? true : undefined;
    }, 250);
  }

  /** Where the backend keeps a VM's instance files (spec.json once it has created it). */
  instanceDir(vmId: number): string {
    return join(this.cluster.nodes.get(1)!.dataDir, "vms", String(vmId));
  }

  /** The VM's console on this node ("" until its guard writes one). */
  console(vmId: number): string {
    const file = join(this.instanceDir(vmId), "console.log");
    return existsSync(file) ? readFileSync(file, "utf8") : "";
  }

  /** `failpoint print` lines of the node's log for `point`. */
  printed(point: string): string[] {
    return this.cluster.log(1).split("\n").filter((line) => line.includes('"msg":"failpoint print"') && line.includes(`"failpoint":"${point}"`));
  }

  /** Kills the node, then every guard and VM process it left (by their state files and command lines), and removes the directory. */
  async cleanup(): Promise<void> {
    const vmProcesses = vmProcessPids(join(this.cluster.dir, "node-1"));
    await this.cluster.cleanup().catch(() => undefined);
    for (const pid of [...vmProcesses, ...leftovers(this.cluster.dir)]) killQuietly(pid);
  }
}

/** Processes started under `dir` that may still run: guards and spare guards (their command lines name it), VM processes (their guard's state file). */
function leftovers(dir: string): number[] {
  const pids = new Set<number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(dir)) pids.add(Number(entry));
    } catch {
      // gone
    }
  }
  return [...pids];
}

/** Every test's node, killed with what it started in `after`. */
function trackedNode(nodes: VmNode[], name: string, failpoints?: string): VmNode {
  const node = new VmNode(name, failpoints);
  nodes.push(node);
  return node;
}

async function cleanupAll(nodes: readonly VmNode[]): Promise<void> {
  for (const node of nodes) await node.cleanup();
}

/**
 * Polls, for `windowMs`, that the VM is on node 1 and not running; returns the last view. The
 * window starts once the VM is placed (its calls are then due).
 */
async function heldNotRunning(node: VmNode, name: string, windowMs: number): Promise<VmView> {
  const placed = await waitFor(`vm ${name} placed on node 1`, RUNNING_DEADLINE_MS, async () => {
    const view = await node.vm(name);
    return view !== undefined && view.nodeId === 1 ? view : undefined;
  }, 100);
  let last = placed;
  await heldFor(windowMs, async (intoMs) => {
    const view = await node.vm(name);
    assert.ok(view !== undefined, `vm ${name} is gone`);
    assert.notEqual(view.phase, "running", `vm ${name} is running ${intoMs} ms into the window, with the point set`);
    last = view;
  });
  return last;
}

/** Runs `check` every 100 ms for `windowMs` (at least 10 times): the wait is the window itself, not a condition. */
async function heldFor(windowMs: number, check: (intoMs: number) => Promise<void>): Promise<void> {
  const startedMs = Date.now();
  let polls = 0;
  while (Date.now() - startedMs < windowMs) {
    await check(Date.now() - startedMs);
    polls += 1;
    await sleep(100); // the window's poll interval
  }
  assert.ok(polls >= 10, `the window saw ${polls} polls`);
}

/** The pid of a VM's process (its guard's child), once its guard has written it. */
function vmChildPid(node: VmNode, vmId: number): number | undefined {
  const file = join(node.instanceDir(vmId), "state.json");
  if (!existsSync(file)) return undefined;
  try {
    const pid = (JSON.parse(readFileSync(file, "utf8")) as { childPid?: number }).childPid;
    return typeof pid === "number" && pid > 0 ? pid : undefined;
  } catch {
    return undefined; // half-written
  }
}

describe("agent and VM failpoints on a real node with the process backend", { timeout: 600_000 }, () => {
  const nodes: VmNode[] = [];
  after(() => cleanupAll(nodes));

  for (const point of ["agent.backend", "agent.backend.after"] as const) {
    test(`${point}=1*return at start: the agent's first ${point === "agent.backend" ? "backend call (its list) is lost" : "report (its list's answer) is lost"}; it asks again, registers, and a VM reaches running`, async () => {
      // The chain's print fires at the evaluation after the lost one: its one log line says the return was spent.
      const node = trackedNode(nodes, `fp-${point.replace(/\./g, "-")}-count`, `${point}=1*return->1*print(the lost one is behind)`);
      await node.start();
      await node.waitReady();
      await node.cli("vm", "create", "counted", "--vcpus", "1", "--memory", "128");
      const running = await node.waitRunning("counted");
      assert.equal(running.nodeId, 1);
      await waitFor(`vm ${running.id}'s readiness line`, RUNNING_DEADLINE_MS, () => (node.console(running.id).includes(`BLIXARD-READY vm=${running.id}`) ? true : undefined), 200);
      const status = (await node.points()).get(point)!;
      assert.equal(status.fired, 2, `${point}: the return and then the print fired once each: ${JSON.stringify(status)}`);
      assert.ok(status.evaluated > 2, `${point}: evaluated ${status.evaluated} times`);
      const printed = await waitFor(`the print line of ${point}`, 10_000, () => (node.printed(point).length > 0 ? node.printed(point) : undefined));
      assert.equal(printed.length, 1, printed.join("\n"));
      assert.match(printed[0]!, /"message":"the lost one is behind"/);
      await node.cleanup();
    });
  }

  test("agent.backend=return while a VM is created: its calls are lost and it does not run; cleared, the reconciler tries again and it runs", async () => {
    const node = trackedNode(nodes, "fp-agent-backend-held");
    await node.start();
    await node.waitReady();
    await node.cli("node", "failpoint", "set", "agent.backend", "return");
    await node.cli("vm", "create", "lost-calls", "--vcpus", "1", "--memory", "128");
    const held = await heldNotRunning(node, "lost-calls", HELD_WINDOW_MS);
    const status = (await node.points()).get("agent.backend")!;
    assert.ok(status.fired > 0 && status.fired === status.evaluated, `every call lost: ${JSON.stringify(status)}`);
    assert.ok(!existsSync(node.instanceDir(held.id)), "the backend never heard the VM's create: it has no instance files");
    assert.match(await node.cli("node", "failpoint", "clear", "agent.backend"), /agent\.backend cleared/);
    const running = await node.waitRunning("lost-calls");
    await waitFor(`vm ${running.id}'s readiness line`, RUNNING_DEADLINE_MS, () => (node.console(running.id).includes(`BLIXARD-READY vm=${running.id}`) ? true : undefined), 200);
    await node.cleanup();
  });

  test("agent.backend.after=return while a VM is created: the backend creates it, but the report is lost, so the agent never starts it; cleared, the agent lists again, learns it, and it runs", async () => {
    const node = trackedNode(nodes, "fp-agent-after-held");
    await node.start();
    await node.waitReady();
    await node.cli("node", "failpoint", "set", "agent.backend.after", "return");
    await node.cli("vm", "create", "lost-reports", "--vcpus", "1", "--memory", "128");
    const placed = await waitFor("vm lost-reports placed on node 1", RUNNING_DEADLINE_MS, async () => {
      const view = await node.vm("lost-reports");
      return view !== undefined && view.nodeId === 1 ? view : undefined;
    }, 100);
    // The backend heard the create: the instance's files are there...
    await waitFor(`vm ${placed.id}'s instance files`, RUNNING_DEADLINE_MS, () => (existsSync(join(node.instanceDir(placed.id), "spec.json")) ? true : undefined), 100);
    // ...but its "created" report was lost, so the agent never asks for the start: not running, no process.
    const held = await heldNotRunning(node, "lost-reports", HELD_WINDOW_MS);
    assert.ok(!node.console(held.id).includes("BLIXARD-READY"), "no start while the agent has not read the create's report");
    const status = (await node.points()).get("agent.backend.after")!;
    assert.ok(status.fired > 0 && status.fired === status.evaluated, `every report lost: ${JSON.stringify(status)}`);
    assert.match(await node.cli("node", "failpoint", "clear", "agent.backend.after"), /agent\.backend\.after cleared/);
    const running = await node.waitRunning("lost-reports");
    assert.equal(running.id, placed.id);
    await waitFor(`vm ${running.id}'s readiness line`, RUNNING_DEADLINE_MS, () => (node.console(running.id).includes(`BLIXARD-READY vm=${running.id}`) ? true : undefined), 200);
    await node.cleanup();
  });

  test("vm.start=pause: the VM's start waits (not running, no process) while the point is set; cleared through the CLI, the start goes on and the VM runs", async () => {
    const node = trackedNode(nodes, "fp-vm-start-pause");
    await node.start();
    await node.waitReady();
    await node.cli("node", "failpoint", "set", "vm.start", "pause");
    await node.cli("vm", "create", "paused-start", "--vcpus", "1", "--memory", "128");
    // The window starts once the start has reached the point and waits there.
    await waitFor("vm.start to be reached", RUNNING_DEADLINE_MS, async () => ((await node.points()).get("vm.start")!.fired > 0 ? true : undefined), 200);
    const held = await heldNotRunning(node, "paused-start", HELD_WINDOW_MS);
    assert.ok(!node.console(held.id).includes("BLIXARD-READY"), "the paused start launched nothing");
    const status = (await node.points()).get("vm.start")!;
    assert.equal(status.actions, "pause");
    assert.match(await node.cli("node", "failpoint", "clear", "vm.start"), /vm\.start cleared/);
    const running = await node.waitRunning("paused-start");
    await waitFor(`vm ${running.id}'s readiness line`, RUNNING_DEADLINE_MS, () => (node.console(running.id).includes(`BLIXARD-READY vm=${running.id}`) ? true : undefined), 200);
    await node.cleanup();
  });
});

describe("vm.start=return and vm.stop on one real node with the process backend", { timeout: 300_000 }, () => {
  const nodes: VmNode[] = [];
  after(() => cleanupAll(nodes));
  const node = trackedNode(nodes, "fp-vm-points");
  /** How long a held VM is watched: the agent retries a refused start after its backoff, a lost stop after its op timeout (1.6 s). */
  const windowMs = 2_500;
  const fired = async (point: string): Promise<number> => (await node.points()).get(point)?.fired ?? 0;

  test("vm.start=return: every start is refused before the launch (not running, no process) and the agent keeps trying; cleared, the VM runs", async () => {
    await node.start();
    await node.waitReady();
    await node.cli("node", "failpoint", "set", "vm.start", "return(refused by the test)");
    await node.cli("vm", "create", "refused-start", "--vcpus", "1", "--memory", "128");
    // Refused and tried again: the reconciler noticed the refusal.
    await waitFor("vm.start to fire twice", RUNNING_DEADLINE_MS, async () => ((await fired("vm.start")) >= 2 ? true : undefined), 200);
    const held = await heldNotRunning(node, "refused-start", windowMs);
    assert.equal(vmChildPid(node, held.id), undefined, "a refused start launched a process");
    assert.ok(!node.console(held.id).includes("BLIXARD-READY"), "a refused start launched nothing");
    const status = (await node.points()).get("vm.start")!;
    assert.ok(status.fired === status.evaluated, `every start refused: ${JSON.stringify(status)}`);
    await node.cli("node", "failpoint", "clear", "vm.start");
    const running = await node.waitRunning("refused-start");
    await waitFor(`vm ${running.id}'s readiness line`, RUNNING_DEADLINE_MS, () => (node.console(running.id).includes(`BLIXARD-READY vm=${running.id}`) ? true : undefined), 200);
  });

  for (const actions of ["pause", "return"] as const) {
    test(`vm.stop=${actions}: a running VM asked to stop ${actions === "pause" ? "waits at the point" : "loses every stop request (the agent asks again)"}, and its process keeps running; cleared, it stops`, async () => {
      const vm = await node.waitRunning("refused-start");
      const pid = await waitFor(`vm ${vm.id}'s process`, RUNNING_DEADLINE_MS, () => vmChildPid(node, vm.id), 100);
      assert.ok(processAlive(pid), `vm ${vm.id}'s process ${pid} is not alive`);
      await node.cli("node", "failpoint", "set", "vm.stop", actions);
      await node.cli("vm", "stop", "refused-start");
      // pause: the one stop waits there; return: lost, and the agent asks again after its op timeout.
      await waitFor("vm.stop to fire", RUNNING_DEADLINE_MS, async () => ((await fired("vm.stop")) >= (actions === "pause" ? 1 : 2) ? true : undefined), 200);
      await heldFor(windowMs, async (intoMs) => {
        assert.ok(processAlive(pid), `vm ${vm.id}'s process ${pid} ended ${intoMs} ms into the window, with vm.stop=${actions}`);
        assert.notEqual((await node.vm("refused-start"))?.phase, "stopped", `stopped ${intoMs} ms into the window`);
      });
      await node.cli("node", "failpoint", "clear", "vm.stop");
      await waitFor("vm refused-start stopped", RUNNING_DEADLINE_MS, async () => ((await node.vm("refused-start"))?.phase === "stopped" ? true : undefined), 200);
      await waitFor(`vm ${vm.id}'s process ${pid} to end`, RUNNING_DEADLINE_MS, () => (processAlive(pid) ? undefined : true), 100);
      if (actions === "pause") await node.cli("vm", "start", "refused-start");
    });
  }
});
