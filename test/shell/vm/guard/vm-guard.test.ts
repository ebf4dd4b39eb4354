// The per-VM guard alone (src/shell/vm/guard/vm-guard.mjs), on real processes: the built-in
// process guest under it, its console log, its control socket, graceful stop and kill, and the
// self-fencing that issue #9 rests on: a fence.json deadline the guard reaches kills the VM within
// one poll period of it, an unreadable fence.json counts as expired, and a SIGSTOPped node process
// (the guard's parent) changes nothing. The planted bug ignore-fence makes the fence check fail.

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { guardRequest } from "../../../../src/shell/vm/guard/guard-client.ts";
import type { GuardPlantedBug } from "../../../../src/shell/vm/launch-plan.ts";
import { waitUntil } from "../../../support/wait-until.ts";
import { VmTestScope, fenceInMs, nowNs, processAlive, readConsoleLog, readState, vmLines, writeLaunch } from "../vm-test-support.ts";

const scope = new VmTestScope();
after(() => scope.clean());

const TIMESTAMPED_LINE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z /;
const NS_PER_MS = 1_000_000n;

async function runningGuard(vmId: number, overrides: Parameters<typeof writeLaunch>[2] = {}): Promise<{ vmsDir: string; vmDir: string; childPid: number }> {
  const vmsDir = scope.tempDir();
  fenceInMs(join(vmsDir, "fence.json"), 60_000);
  const vmDir = writeLaunch(vmsDir, vmId, overrides);
  scope.startGuard(vmDir);
  await waitUntil("the guard says running", () => readState(vmDir)?.state === "running");
  await waitUntil("the guard's socket is up", () => existsSync(join(vmDir, "guard.sock")));
  return { vmsDir, vmDir, childPid: readState(vmDir)!.childPid };
}

describe("vm guard", () => {
  test("runs the guest: READY and heartbeats in console.log, each line timestamped, state.json running", async () => {
    const { vmDir, childPid } = await runningGuard(11);
    await waitUntil("three heartbeats", () => vmLines(readConsoleLog(vmDir)).filter((line) => line.startsWith("BLIXARD-HEARTBEAT vm=11 ")).length >= 3);
    const text = readConsoleLog(vmDir);
    for (const line of text.split("\n").filter((l) => l !== "")) assert.match(line, TIMESTAMPED_LINE);
    assert.ok(vmLines(text).includes("BLIXARD-READY vm=11"), text);
    assert.match(text, /\[guard\] start vm=11 token=1\/1\/1 /);
    const state = readState(vmDir)!;
    assert.equal(state.state, "running");
    assert.ok(processAlive(childPid) && processAlive(state.guardPid));
    assert.equal(statSync(join(vmDir, "guard.sock")).mode & 0o777, 0o600, "guard.sock is 0600");
    // The timestamps are the host's wall clock, in order.
    const stamps = text.split("\n").filter((l) => l !== "").map((line) => Date.parse(line.slice(0, 24)));
    for (let i = 1; i < stamps.length; i++) assert.ok(stamps[i] >= stamps[i - 1]);
    assert.ok(Math.abs(stamps.at(-1)! - Date.now()) < 5_000);
    // The console request reaches the guest: PING is answered.
    const answer = await guardRequest(join(vmDir, "guard.sock"), { op: "console", line: "BLIXARD-PING" }, 2_000);
    assert.equal(answer.ok, true);
    await waitUntil("the pong", () => vmLines(readConsoleLog(vmDir)).includes("BLIXARD-PONG vm=11"));
    await guardRequest(join(vmDir, "guard.sock"), { op: "kill" }, 2_000);
  });

  test("a guard killed with SIGKILL takes its VM with it (setpriv --pdeathsig), even one that ignores its console closing", async (t) => {
    if (!existsSync("/usr/bin/setpriv")) return t.skip("no /usr/bin/setpriv (util-linux) here");
    // A VM that never reads its console and ignores SIGTERM and SIGHUP: only the kernel's parent-death signal ends it.
    const plan = { argv: ["/bin/sh", "-c", "trap '' TERM HUP; while :; do sleep 1; done"], env: {}, gracefulStop: { kind: "signal" as const, signal: "SIGTERM" as const }, qmpSocket: "" };
    const { vmDir, childPid } = await runningGuard(19, { plan });
    assert.ok(processAlive(childPid));
    process.kill(readState(vmDir)!.guardPid, "SIGKILL");
    await waitUntil("the VM to die with its guard", () => !processAlive(childPid), 5_000);
  });

  test("a graceful stop powers the guest off: stopped/stopped, the guard exits and removes its socket", async () => {
    const { vmDir, childPid } = await runningGuard(12);
    const answer = await guardRequest(join(vmDir, "guard.sock"), { op: "stop", graceMs: 5_000 }, 2_000);
    assert.equal(answer.ok, true);
    await waitUntil("stopped", () => readState(vmDir)?.state === "stopped");
    const state = readState(vmDir)!;
    assert.equal(state.exit, "stopped");
    assert.ok(state.stoppedAtMs >= state.startedAtMs);
    await waitUntil("the guard exits", () => !processAlive(state.guardPid));
    assert.ok(!processAlive(childPid));
    assert.ok(!existsSync(join(vmDir, "guard.sock")));
    const text = readConsoleLog(vmDir);
    assert.match(text, /\[guard\] stop \(console, grace 5000 ms\)/);
    assert.match(text, /powering off: poweroff requested/);
    assert.match(text, /\[guard\] exit code 0 \(stopped\)/);
  });

  test("a graceful stop the guest ignores ends in SIGKILL at the end of the grace period: killed", async () => {
    // A guest that ignores SIGTERM (its graceful stop) and prints nothing.
    const { vmDir } = await runningGuard(13, {
      plan: { argv: [process.execPath, "-e", "process.on('SIGTERM', () => {}); console.log('deaf'); setInterval(() => {}, 1000)"], env: {}, gracefulStop: { kind: "signal", signal: "SIGTERM" }, qmpSocket: "" },
    });
    await waitUntil("the guest ignores SIGTERM", () => vmLines(readConsoleLog(vmDir)).includes("deaf"));
    const startedNs = nowNs();
    await guardRequest(join(vmDir, "guard.sock"), { op: "stop", graceMs: 300 }, 2_000);
    await waitUntil("stopped", () => readState(vmDir)?.state === "stopped");
    assert.ok(nowNs() - startedNs >= 290n * NS_PER_MS, "not killed before the grace period ended");
    assert.equal(readState(vmDir)!.exit, "killed");
    assert.match(readConsoleLog(vmDir), /\[guard\] grace period of 300 ms over: SIGKILL/);
  });

  test("kill: SIGKILL now, exit killed; a crash of the VM itself is crashed; exit 0 by itself is exited", async () => {
    const { vmDir, childPid } = await runningGuard(14);
    await guardRequest(join(vmDir, "guard.sock"), { op: "kill" }, 2_000);
    await waitUntil("stopped", () => readState(vmDir)?.state === "stopped");
    assert.equal(readState(vmDir)!.exit, "killed");
    assert.ok(!processAlive(childPid));

    const crashing = await runningGuard(15, { plan: { argv: [process.execPath, "-e", "setTimeout(() => process.exit(3), 300)"], env: {}, gracefulStop: { kind: "signal", signal: "SIGTERM" }, qmpSocket: "" } });
    await waitUntil("crashed", () => readState(crashing.vmDir)?.state === "stopped");
    assert.equal(readState(crashing.vmDir)!.exit, "crashed");
    assert.equal(readState(crashing.vmDir)!.detail, "code 3");

    const exiting = await runningGuard(16, { plan: { argv: [process.execPath, "-e", "console.log('bye'); setTimeout(() => {}, 300)"], env: {}, gracefulStop: { kind: "signal", signal: "SIGTERM" }, qmpSocket: "" } });
    await waitUntil("exited", () => readState(exiting.vmDir)?.state === "stopped");
    assert.equal(readState(exiting.vmDir)!.exit, "exited");
    assert.ok(vmLines(readConsoleLog(exiting.vmDir)).includes("bye"));
  });

  test("pause and resume: SIGSTOP and SIGCONT of the process", async () => {
    const { vmDir, childPid } = await runningGuard(17);
    const procState = (): string => /^\d+ \(.*\) (\S)/.exec(procStat(childPid))?.[1] ?? "?";
    assert.equal((await guardRequest(join(vmDir, "guard.sock"), { op: "pause" }, 2_000)).ok, true);
    await waitUntil("the guest stopped", () => procState() === "T");
    assert.equal(readState(vmDir)!.detail, "paused");
    assert.equal((await guardRequest(join(vmDir, "guard.sock"), { op: "resume" }, 2_000)).ok, true);
    await waitUntil("the guest runs again", () => procState() !== "T");
    await guardRequest(join(vmDir, "guard.sock"), { op: "kill" }, 2_000);
  });

  test("with a QMP socket: running once QMP says so; pause, resume and the graceful stop go over QMP (system_powerdown plus the console line)", async () => {
    const vmsDir = scope.tempDir();
    fenceInMs(join(vmsDir, "fence.json"), 60_000);
    const qmpSocket = join(vmsDir, "qmp.sock");
    const vmDir = writeLaunch(vmsDir, 25, {
      plan: { argv: [process.execPath, FAKE_QEMU_FIXTURE, qmpSocket], env: {}, gracefulStop: { kind: "qmp-powerdown", consoleLine: "BLIXARD-POWEROFF" }, qmpSocket },
    });
    scope.startGuard(vmDir);
    await waitUntil("spawned", () => (readState(vmDir)?.childPid ?? 0) > 0);
    assert.equal(readState(vmDir)!.state, "booting", "booting until QMP says running");
    await waitUntil("running", () => readState(vmDir)?.state === "running");
    assert.equal(readState(vmDir)!.detail, "");
    await waitUntil("the guard's socket is up", () => existsSync(join(vmDir, "guard.sock")));
    const socket = join(vmDir, "guard.sock");
    assert.equal((await guardRequest(socket, { op: "pause" }, 3_000)).ok, true);
    assert.equal((await guardRequest(socket, { op: "resume" }, 3_000)).ok, true);
    await guardRequest(socket, { op: "stop", graceMs: 5_000 }, 3_000);
    await waitUntil("stopped", () => readState(vmDir)?.state === "stopped");
    assert.equal(readState(vmDir)!.exit, "stopped");
    const lines = vmLines(readConsoleLog(vmDir));
    for (const expected of ["qmp stop", "qmp cont", "qmp system_powerdown", "console got BLIXARD-POWEROFF"]) assert.ok(lines.includes(expected), `${expected} in ${lines.join(" | ")}`);
  });

  test("the control socket refuses bad requests and stays up", async () => {
    const { vmDir } = await runningGuard(18);
    const socket = join(vmDir, "guard.sock");
    const unknown = await guardRequest(socket, { op: "reboot" } as never, 2_000);
    assert.deepEqual(unknown, { ok: false, error: 'unknown op "reboot"' });
    const badStop = await guardRequest(socket, { op: "stop", graceMs: -1 }, 2_000);
    assert.equal(badStop.ok, false);
    const badLine = await guardRequest(socket, { op: "console", line: "two\nlines" }, 2_000);
    assert.equal(badLine.ok, false);
    const status = await guardRequest(socket, { op: "status" }, 2_000);
    assert.equal(status.ok && status.state.state, "running");
    await guardRequest(socket, { op: "kill" }, 2_000);
  });

  test("console.log rotates at consoleBytesMax, keeping one old file", async () => {
    const vmsDir = scope.tempDir();
    fenceInMs(join(vmsDir, "fence.json"), 60_000);
    const script = "for (let i = 0; i < 400; i++) console.log('line ' + i + ' ' + 'x'.repeat(40));";
    const vmDir = writeLaunch(vmsDir, 19, { consoleBytesMax: 4096, plan: { argv: [process.execPath, "-e", script], env: {}, gracefulStop: { kind: "signal", signal: "SIGTERM" }, qmpSocket: "" } });
    scope.startGuard(vmDir);
    await waitUntil("the guest finished", () => readState(vmDir)?.state === "stopped");
    await waitUntil("the guard exits", () => !processAlive(readState(vmDir)!.guardPid));
    assert.ok(statSync(join(vmDir, "console.log")).size <= 4096);
    assert.ok(statSync(join(vmDir, "console.log.1")).size <= 4096);
    assert.match(readConsoleLog(vmDir), /line 399 x+\n/);
  });

  test("refuses to spawn when the fence deadline has passed (or was never armed): stopped, fenced", async () => {
    const vmsDir = scope.tempDir();
    fenceInMs(join(vmsDir, "fence.json"), -1_000);
    const vmDir = writeLaunch(vmsDir, 20);
    scope.startGuard(vmDir);
    await waitUntil("refused", () => readState(vmDir)?.state === "stopped");
    const state = readState(vmDir)!;
    assert.equal(state.exit, "fenced");
    assert.equal(state.childPid, 0);
    assert.match(state.detail, /fence deadline passed/);
    assert.match(readConsoleLog(vmDir), /\[guard\] refused to start: fence deadline passed/);

    const unarmedDir = scope.tempDir();
    writeFileSync(join(unarmedDir, "fence.json"), JSON.stringify({ deadlineNs: "0" }));
    const unarmedVm = writeLaunch(unarmedDir, 21);
    scope.startGuard(unarmedVm);
    await waitUntil("refused", () => readState(unarmedVm)?.state === "stopped");
    assert.equal(readState(unarmedVm)!.detail, "fence never armed");
  });

  test("self-fencing: a deadline one second ahead kills the VM within one poll period after it, and records fenced", async () => {
    await expectFencedByDeadline(22, undefined);
  });

  test("planted bug ignore-fence: the same check fails (the VM outlives its deadline)", async () => {
    await assert.rejects(expectFencedByDeadline(23, "ignore-fence"), /timed out .* the vm dies|after the deadline/);
  });

  test("an unreadable fence.json counts as an expired lease one poll period later", async () => {
    const { vmsDir, vmDir, childPid } = await runningGuard(24, { fencePollMs: POLL_MS });
    const brokenNs = nowNs();
    writeFileSync(join(vmsDir, "fence.json"), "{ not json");
    await waitUntil("the vm dies", () => !processAlive(childPid), 5_000, 2);
    const diedAfterMs = Number((nowNs() - brokenNs) / NS_PER_MS);
    assert.ok(diedAfterMs >= POLL_MS, `killed ${diedAfterMs} ms after the file broke: not before one poll period`);
    assert.ok(diedAfterMs <= 2 * POLL_MS + SCHEDULING_SLACK_MS, `killed ${diedAfterMs} ms after the file broke`);
    await waitUntil("stopped", () => readState(vmDir)?.state === "stopped");
    assert.equal(readState(vmDir)!.exit, "fenced");
    assert.match(readState(vmDir)!.detail, /fence file unreadable/);
  });

  test("a SIGSTOPped node process does not matter: its guard fences the VM at the deadline it last armed", async () => {
    const vmsDir = scope.tempDir();
    const leaseMs = 1_500;
    const node = scope.track(
      spawn(process.execPath, ["--import", "tsx", STOPPED_NODE_FIXTURE, vmsDir, String(leaseMs)], { stdio: ["ignore", "pipe", "inherit"], detached: true }),
    );
    let output = "";
    node.stdout!.setEncoding("utf8");
    node.stdout!.on("data", (chunk: string) => (output += chunk));
    await waitUntil("the fixture node's vm runs", () => output.includes("running"), 30_000);
    const vmDir = join(vmsDir, "5");
    const childPid = readState(vmDir)!.childPid;
    assert.ok(processAlive(childPid));
    // The node renews every 100 ms: its last armFence was at most then, for at most leaseMs.
    process.kill(node.pid!, "SIGSTOP");
    const stoppedNs = nowNs();
    await waitUntil("the vm dies with the node stopped", () => !processAlive(childPid), leaseMs + 3_000, 2);
    const diedAfterMs = Number((nowNs() - stoppedNs) / NS_PER_MS);
    assert.ok(diedAfterMs <= leaseMs + SCHEDULING_SLACK_MS, `the vm died ${diedAfterMs} ms after the node stopped (lease ${leaseMs} ms)`);
    assert.ok(diedAfterMs >= leaseMs - 100 - POLL_MS - 20, `the vm died ${diedAfterMs} ms after the node stopped: before its lease could run out`);
    await waitUntil("fenced", () => readState(vmDir)?.state === "stopped");
    assert.equal(readState(vmDir)!.exit, "fenced");
    assert.ok(processAlive(node.pid!), "the node process is still there, stopped");
    // The node's spare guard (started after its start, for the next one) outlives a stop, not the node's death.
    const spares = (): number[] => processesWhoseArgsInclude(join(vmsDir, "spare-"));
    assert.ok(spares().length >= 1, "a spare guard waits"); // (the fenced vm's guard, once a spare itself, may still be exiting)
    process.kill(node.pid!, "SIGKILL");
    await waitUntil("the spare guard exits with its node", () => spares().length === 0, 5_000);
  });
});

const POLL_MS = 100;
/** What a loaded 2-core machine may add to a timer and a process exit. */
const SCHEDULING_SLACK_MS = 250;
const FAKE_QEMU_FIXTURE = fileURLToPath(new URL("./fake-qemu.fixture.mjs", import.meta.url));
const STOPPED_NODE_FIXTURE = fileURLToPath(new URL("./stopped-node.fixture.ts", import.meta.url));

/** The fence property: killed no earlier than one poll before the deadline and no later than one poll after it, exit fenced. */
async function expectFencedByDeadline(vmId: number, plantedBug: GuardPlantedBug | undefined): Promise<void> {
  const { vmsDir, vmDir, childPid } = await runningGuard(vmId, { fencePollMs: POLL_MS, plantedBug });
  try {
    const deadlineNs = fenceInMs(join(vmsDir, "fence.json"), 1_000);
    await waitUntil("the vm dies", () => !processAlive(childPid), 1_000 + POLL_MS + 1_000, 2);
    const diedNs = nowNs();
    const lateMs = Number((diedNs - deadlineNs) / NS_PER_MS);
    assert.ok(diedNs >= deadlineNs - BigInt(POLL_MS + 2) * NS_PER_MS, `killed ${-lateMs} ms before the deadline: more than one poll early`);
    assert.ok(lateMs <= POLL_MS, `killed ${lateMs} ms after the deadline, more than one poll period (${POLL_MS} ms)`);
    await waitUntil("stopped", () => readState(vmDir)?.state === "stopped");
    assert.equal(readState(vmDir)!.exit, "fenced");
    assert.match(readConsoleLog(vmDir), /\[guard\] fenced: fence deadline reached/);
  } finally {
    await guardRequest(join(vmDir, "guard.sock"), { op: "kill" }, 1_000);
  }
}

/** Live processes with an argument starting with `prefix` (from /proc). */
function processesWhoseArgsInclude(prefix: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (args.some((arg) => arg.startsWith(prefix)) && processAlive(Number(entry))) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

/** /proc/<pid>/stat, "" when the process is gone. */
function procStat(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return "";
  }
}
