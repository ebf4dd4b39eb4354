// End to end, on real processes, through the commands a user types after `blixard up`: a
// three-node cluster (separate node processes, mutual TLS, a token) with the qemu backend (real
// microVMs under KVM or TCG) and with the process backend. A VM is created and its readiness
// line seen in its console; stopped, started, deleted; VMs with hard anti-affinity land on
// different nodes; a node is drained; the node running a VM is SIGSTOPped for longer than its
// lease: its guard kills the old instance, the VM boots elsewhere, and the heartbeat lines of the
// two instances never overlap in host time; then the node running a VM is killed with kill -9 and
// the VM boots on another node. Bad specs are refused naming the field. Everything the cluster
// started is killed in `after`, even when a test fails.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { LocalUp } from "./local-up.ts";
import { waitFor } from "./process-cluster.ts";
import { ensureTestImage, qemuSkipReason } from "../support/test-image.ts";

/** Short, so a node silent for a few seconds loses its VMs; long enough for TCG guests on a loaded machine to keep renewing. */
const LEASE_MS = 4_000;
const BOOT_DEADLINE_MS = 90_000;

interface VmView {
  readonly id: number;
  readonly phase: string;
  readonly nodeId: number;
}

/** The last lines of a console log but heartbeats (for failure messages). */
function tail(consoleText: string): string {
  return consoleText.split("\n").filter((line) => !line.includes("BLIXARD-HEARTBEAT")).slice(-12).join("\n");
}

/** "<ISO time> BLIXARD-HEARTBEAT vm=<id> seq=<n>" lines of a console log -> their host times (ms). */
function heartbeatTimes(consoleText: string, vmId: number): number[] {
  const times: number[] = [];
  for (const line of consoleText.split("\n")) {
    const match = /^(\S+) BLIXARD-HEARTBEAT vm=(\d+) /.exec(line);
    if (match !== null && Number(match[2]) === vmId) times.push(Date.parse(match[1]!));
  }
  return times;
}

for (const backend of ["process", "qemu"] as const) {
  describe(`a three-node cluster from blixard up, ${backend} backend`, { timeout: 900_000 }, () => {
    let up: LocalUp | undefined;
    let skip: string | undefined;
    /** Nodes this test has stopped or killed: the CLI talks to another one. */
    const down = new Set<number>();

    const endpoint = (): string[] => {
      const live = [1, 2, 3].find((id) => !down.has(id))!;
      return ["--endpoint", `https://127.0.0.1:${up!.basePort + live}`];
    };
    const vm = async (name: string): Promise<VmView | undefined> => {
      const result = await up!.cli("vm", "get", name, "-o", "json", ...endpoint());
      if (result.code !== 0) return undefined;
      const record = (JSON.parse(result.stdout) as { vm: { id: string; phase: string; nodeId?: string } }).vm;
      return { id: Number(record.id), phase: record.phase, nodeId: Number(record.nodeId ?? 0) };
    };
    const waitPhase = (name: string, what: (v: VmView) => boolean, label: string): Promise<VmView> =>
      waitFor(`vm ${name} ${label}`, BOOT_DEADLINE_MS, async () => {
        const view = await vm(name);
        return view !== undefined && what(view) ? view : undefined;
      }, 250);
    const waitReady = (nodeId: number, vmId: number, after = 0): Promise<string> =>
      waitFor(`vm ${vmId}'s readiness line on node ${nodeId}`, BOOT_DEADLINE_MS, () => {
        const text = up!.console(nodeId, vmId);
        const lines = text.split("\n").filter((line) => line.includes(`BLIXARD-READY vm=${vmId}`) && Date.parse(line.split(" ")[0]!) >= after);
        return lines.length > 0 ? text : undefined;
      }, 250);

    /** The first heartbeat comes a moment after READY: wait for one before comparing instances. */
    const waitHeartbeat = (nodeId: number, vmId: number): Promise<true> =>
      waitFor(`a heartbeat of vm ${vmId} on node ${nodeId}`, BOOT_DEADLINE_MS, () => (heartbeatTimes(up!.console(nodeId, vmId), vmId).length > 0 ? true : undefined), 100);

    before(async () => {
      skip = backend === "qemu" ? qemuSkipReason() : undefined;
      if (skip !== undefined) return;
      const imageDir = backend === "qemu" ? await ensureTestImage() : undefined;
      up = await LocalUp.start({ nodes: 3, backend, leaseMs: LEASE_MS, imageDir });
    });

    after(async () => {
      if (up === undefined) return;
      const code = await up.stop();
      assert.equal(code, 0, `blixard up exits 0 on Ctrl-C: ${up.output.slice(-5).join(" | ")}`);
    });

    test("create a VM and see its readiness line in its console; stop it, start it, delete it", async (t) => {
      if (skip !== undefined) return t.skip(skip);
      await up!.cliOk("vm", "create", "web", "--vcpus", "1", "--memory", "128", "--wait", "--timeout", "90");
      const running = await waitPhase("web", (v) => v.phase === "running", "running");
      await waitReady(running.nodeId, running.id);
      const logs = await up!.cliOk("vm", "logs", "web");
      assert.match(logs, new RegExp(`^\\S+Z BLIXARD-READY vm=${running.id}$`, "m"), "vm logs shows the console, each line stamped by the host");

      await up!.cliOk("vm", "stop", "web");
      await waitPhase("web", (v) => v.phase === "stopped", "stopped");
      const startedAtMs = Date.now();
      await up!.cliOk("vm", "start", "web");
      const again = await waitPhase("web", (v) => v.phase === "running", "running again");
      await waitReady(again.nodeId, again.id, startedAtMs - 1_000);

      await up!.cliOk("vm", "delete", "web");
      await waitFor("vm web to be gone", BOOT_DEADLINE_MS, async () => ((await vm("web")) === undefined ? true : undefined), 250);
      await waitFor("vm web's files to be removed", 30_000, () => (existsSync(join(up!.nodeDir(again.nodeId), "vms", String(again.id))) ? undefined : true), 250);
    });

    test("VMs with hard anti-affinity land on three different nodes; a fourth cannot be placed", async (t) => {
      if (skip !== undefined) return t.skip(skip);
      for (const name of ["aa-1", "aa-2", "aa-3", "aa-4"]) await up!.cliOk("vm", "create", name, "--vcpus", "1", "--memory", "128", "--anti-affinity", "aa", "--stopped");
      // Stopped VMs are placed only when started: start them together so that one plan places them.
      for (const name of ["aa-1", "aa-2", "aa-3", "aa-4"]) await up!.cliOk("vm", "start", name);
      const placed = await Promise.all(["aa-1", "aa-2", "aa-3"].map((name) => waitPhase(name, (v) => v.nodeId !== 0, "placed")));
      assert.equal(new Set(placed.map((v) => v.nodeId)).size, 3, `three VMs of one group on three nodes: ${placed.map((v) => v.nodeId).join(",")}`);
      const fourth = await vm("aa-4");
      assert.ok(fourth !== undefined && fourth.nodeId === 0 && fourth.phase === "pending", "a fourth of the group has no node it may go to");
      for (const name of ["aa-1", "aa-2", "aa-3", "aa-4"]) await up!.cliOk("vm", "delete", name);
    });

    test("the API refuses bad specs, naming the field", async (t) => {
      if (skip !== undefined) return t.skip(skip);
      const zero = await up!.cli("vm", "create", "zero", "--vcpus", "1", "--memory", "0");
      assert.notEqual(zero.code, 0);
      assert.match(zero.stderr, /memory/i);
      const badName = await up!.cli("vm", "create", "Not_DNS", "--vcpus", "1", "--memory", "128");
      assert.notEqual(badName.code, 0);
      assert.match(badName.stderr, /name/);
      assert.equal(badName.stderr.trim().split("\n").length, 1, "one line");
    });

    test("a drained node's VM moves to another node", async (t) => {
      if (skip !== undefined) return t.skip(skip);
      await up!.cliOk("vm", "create", "drainee", "--vcpus", "1", "--memory", "128");
      const first = await waitPhase("drainee", (v) => v.phase === "running", "running");
      await up!.cliOk("node", "drain", String(first.nodeId));
      const moved = await waitPhase("drainee", (v) => v.phase === "running" && v.nodeId !== first.nodeId, "running on another node");
      await waitReady(moved.nodeId, moved.id);
      await up!.cliOk("node", "uncordon", String(first.nodeId));
      await up!.cliOk("vm", "delete", "drainee");
    });

    test("SIGSTOP the node running a VM past its lease: the guard kills the old instance, the VM boots elsewhere, heartbeats never overlap", async (t) => {
      if (skip !== undefined) return t.skip(skip);
      await up!.cliOk("vm", "create", "paused", "--vcpus", "1", "--memory", "128");
      const first = await waitPhase("paused", (v) => v.phase === "running", "running");
      await waitReady(first.nodeId, first.id);
      await waitHeartbeat(first.nodeId, first.id);
      const pid = up!.nodePid(first.nodeId);
      process.kill(pid, "SIGSTOP");
      down.add(first.nodeId);
      try {
        const moved = await waitPhase("paused", (v) => v.phase === "running" && v.nodeId !== first.nodeId, "running on another node");
        await waitReady(moved.nodeId, moved.id);
        await waitHeartbeat(moved.nodeId, moved.id);
        // The old instance was killed by its guard, with the node process still stopped (the guard writes its
        // console file synchronously, so its note is there by now). The tails say what happened if not.
        const tails = (): string => `old node ${first.nodeId}:\n${tail(up!.console(first.nodeId, first.id))}\nnew node ${moved.nodeId}:\n${tail(up!.console(moved.nodeId, moved.id))}`;
        assert.match(up!.console(first.nodeId, first.id), /\[guard\] fenced/, tails());
        const old = heartbeatTimes(up!.console(first.nodeId, first.id), first.id);
        const fresh = heartbeatTimes(up!.console(moved.nodeId, moved.id), moved.id);
        assert.ok(old.length > 0 && fresh.length > 0, `both instances printed heartbeats\n${tails()}`);
        assert.ok(Math.max(...old) < Math.min(...fresh), `the old instance's last heartbeat (${new Date(Math.max(...old)).toISOString()}) precedes the new one's first (${new Date(Math.min(...fresh)).toISOString()})\n${tails()}`);
      } finally {
        process.kill(pid, "SIGCONT");
        down.delete(first.nodeId);
      }
      // The continued node finds its lease gone, fences, and comes back as a ready node.
      await waitFor(`node ${first.nodeId} to be ready again`, BOOT_DEADLINE_MS, async () => {
        const out = await up!.cli("node", "get", String(first.nodeId), "-o", "json", ...endpoint());
        return out.code === 0 && /"state":\s*"ready"/.test(out.stdout) ? true : undefined;
      }, 500);
      await up!.cliOk("vm", "delete", "paused", ...endpoint());
    });

    test("kill -9 the node running a VM: the VM is placed again and boots on another node", async (t) => {
      if (skip !== undefined) return t.skip(skip);
      await up!.cliOk("vm", "create", "victim", "--vcpus", "1", "--memory", "128");
      const first = await waitPhase("victim", (v) => v.phase === "running", "running");
      process.kill(up!.nodePid(first.nodeId), "SIGKILL");
      down.add(first.nodeId);
      const moved = await waitPhase("victim", (v) => v.phase === "running" && v.nodeId !== first.nodeId, "running on another node");
      await waitReady(moved.nodeId, moved.id);
      await waitHeartbeat(moved.nodeId, moved.id);
      const old = heartbeatTimes(up!.console(first.nodeId, first.id), first.id);
      const fresh = heartbeatTimes(up!.console(moved.nodeId, moved.id), moved.id);
      assert.ok(old.length === 0 || Math.max(...old) < Math.min(...fresh), "the killed node's instance (fenced by its guard) never overlaps the new one");
      // With no flags, the CLI uses every endpoint of the context file: a dead member's refused connection moves on.
      assert.match(await up!.cliOk("vm", "list"), /victim\s+running/);
    });
  });
}
