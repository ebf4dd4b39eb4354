// The host backend end to end with the process launcher: real guards, real guest processes, real
// files. The simulator's backend (src/core/sim/sim-vm-backend.ts) is the reference for the reports
// and refusals checked here; what only real processes have (tokens.json surviving a new backend,
// adoption of a live guard by a new backend on the same directory, a dead guard's VM killed) is
// checked too.

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import type { BackendReport, InstanceStatus, VmInstanceSpec } from "../../../src/core/agent/vm-backend.ts";
import type { FencingToken } from "../../../src/core/cluster/types.ts";
import { HostVmBackend, incompleteUtf8TailBytes, socketPathProblem } from "../../../src/shell/vm/host-backend.ts";
import { DEFAULT_IMAGE, UNIX_SOCKET_PATH_BYTES_MAX } from "../../../src/shell/vm/launch-plan.ts";
import { ProcessLauncher } from "../../../src/shell/vm/process/process-launcher.ts";
import { systemMonotonicClock } from "../../../src/shell/os/system-environment.ts";
import { vmSpec } from "../../support/cluster-view-fixture.ts";
import { waitUntil } from "../../support/wait-until.ts";
import { VmTestScope, processAlive, readState, recordingLog, silentLog } from "./vm-test-support.ts";

const scope = new VmTestScope();
const backends: HostVmBackend[] = [];
after(() => {
  for (const backend of backends) backend.close();
  scope.clean();
});

const LEASE_US = 60_000_000;

/** A backend and every report it delivered, with a cursor for "the next report like this". */
class Harness {
  readonly reports: BackendReport[] = [];
  private cursor = 0;
  readonly backend: HostVmBackend;

  constructor(
    readonly vmsDir: string,
    options: Partial<ConstructorParameters<typeof HostVmBackend>[0]> = {},
  ) {
    this.backend = new HostVmBackend({ vmsDir, launcher: new ProcessLauncher(), monotonicNowUs: systemMonotonicClock.nowUs, log: silentLog, limits: { fencePollMs: 50 }, ...options });
    backends.push(this.backend);
    this.backend.subscribe((report) => this.reports.push(report));
  }

  /** The next report (after the last one returned) that matches; fails naming `what` after the deadline. */
  async next<K extends BackendReport["kind"]>(what: string, kind: K, matches: (report: Extract<BackendReport, { kind: K }>) => boolean = () => true, deadlineMs = 10_000): Promise<Extract<BackendReport, { kind: K }>> {
    let found: Extract<BackendReport, { kind: K }> | undefined;
    await waitUntil(what, () => {
      for (let i = this.cursor; i < this.reports.length; i++) {
        const report = this.reports[i];
        if (report.kind === kind && matches(report as Extract<BackendReport, { kind: K }>)) {
          found = report as Extract<BackendReport, { kind: K }>;
          this.cursor = i + 1;
          return true;
        }
      }
      return false;
    }, deadlineMs);
    return found!;
  }

  async status(what: string, vmId: number, state: InstanceStatus["state"], exit?: InstanceStatus["exit"]): Promise<InstanceStatus> {
    const report = await this.next(what, "instance", (r) => r.status.vmId === vmId && r.status.state === state && (exit === undefined || r.status.exit === exit));
    return report.status;
  }

  async refusal(vmId: number, token: FencingToken): Promise<Extract<BackendReport, { kind: "start-refused" }>> {
    this.backend.start(vmId, token);
    return this.next(`a refusal of vm ${vmId}`, "start-refused", (r) => r.vmId === vmId);
  }

  arm(aheadUs: number = LEASE_US): void {
    this.backend.armFence(systemMonotonicClock.nowUs() + aheadUs);
  }

  async startRunning(vmId: number, token: FencingToken): Promise<void> {
    this.backend.start(vmId, token);
    await this.status(`vm ${vmId} booting`, vmId, "booting");
    await this.status(`vm ${vmId} running`, vmId, "running");
  }
}

function guestInstance(vmId: number, hostPort = 0): VmInstanceSpec {
  const base = vmSpec({ id: vmId });
  const interfaces = hostPort === 0 ? [] : [{ mode: "user" as const, ipPool: "", portForwards: [{ protocol: "tcp" as const, hostPort, guestPort: 8080 }] }];
  return { vmId, spec: { ...base, image: { ...base.image, kernel: DEFAULT_IMAGE }, interfaces }, addresses: [] };
}

function commandInstance(vmId: number, command: string, cmdline: string): VmInstanceSpec {
  const base = vmSpec({ id: vmId });
  return { vmId, spec: { ...base, image: { ...base.image, kernel: command }, kernelCmdline: cmdline }, addresses: [] };
}

function token(epoch: number, placement: number): FencingToken {
  return { nodeId: 1, epoch, placement };
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0));
    });
  });
}

describe("host vm backend (process launcher)", () => {
  test("create, start, reports, console, probes, stop, and the token refusals", async () => {
    const h = new Harness(scope.tempDir(), { nodeId: 1 });
    const port = await freePort();
    h.backend.create(guestInstance(1, port));
    assert.equal(h.reports.length, 0, "reports never arrive inside the call");
    await h.next("created", "created", (r) => r.vmId === 1);
    assert.ok(existsSync(join(h.vmsDir, "1", "spec.json")));

    // Never armed: nothing starts.
    assert.equal((await h.refusal(1, token(1, 1))).refusal, "fence-expired");
    h.arm();
    assert.equal((await h.refusal(1, { nodeId: 2, epoch: 9, placement: 9 })).refusal, "stale-epoch", "a token of another node");
    await h.startRunning(1, token(1, 1));
    assert.equal((await h.refusal(1, token(1, 1))).refusal, "not-startable");
    assert.equal((await h.refusal(99, token(1, 1))).refusal, "unknown-vm");

    await waitUntil("the guest's READY line", () => (h.backend.readConsole(1, 0, 65_536)?.text ?? "").includes("BLIXARD-READY vm=1"));
    h.backend.consoleTail(1, 4_096);
    const tail = await h.next("the console tail", "console", (r) => r.vmId === 1);
    assert.match(tail.text, /Z BLIXARD-READY vm=1\n/);

    const probe = async (p: Parameters<HostVmBackend["probe"]>[1]): Promise<Extract<BackendReport, { kind: "probed" }>> => {
      h.backend.probe(1, p);
      return h.next(`probe ${p.kind}`, "probed", (r) => r.vmId === 1 && r.probe === p.kind);
    };
    assert.equal((await probe({ kind: "process" })).ok, true);
    assert.equal((await probe({ kind: "console", pattern: "BLIXARD-READY vm=1" })).ok, true);
    assert.equal((await probe({ kind: "console", pattern: "no such line" })).ok, false);
    // Guest port 8080 is forwarded from the host port, where the built-in guest listens.
    assert.equal((await probe({ kind: "tcp", port: 8080, timeoutMs: 2_000 })).ok, true);
    const health = await probe({ kind: "http", port: 8080, path: "/health", timeoutMs: 2_000 });
    assert.deepEqual([health.ok, health.status], [true, 200]);
    const missing = await probe({ kind: "http", port: 8080, path: "/nope", timeoutMs: 2_000 });
    assert.deepEqual([missing.ok, missing.status], [true, 404]);

    h.backend.stop(1, 5_000);
    await h.status("stopping", 1, "stopping");
    const stopped = await h.status("stopped", 1, "stopped", "stopped");
    assert.deepEqual(stopped.token, token(1, 1));
    assert.equal((await probe({ kind: "process" })).ok, false);
    assert.equal((await probe({ kind: "tcp", port: 8080, timeoutMs: 500 })).ok, false);
    // A stop of a stopped instance says so.
    h.backend.stop(1, 5_000);
    await h.status("stopped again", 1, "stopped", "stopped");

    // A newer token is taken; then older placements and epochs are refused.
    await h.startRunning(1, token(2, 2));
    h.backend.kill(1);
    await h.status("killed", 1, "stopped", "killed");
    const stalePlacement = await h.refusal(1, token(2, 1));
    assert.equal(stalePlacement.refusal, "stale-placement");
    assert.equal(stalePlacement.detail, "placement 1 < newest seen 2");
    assert.equal((await h.refusal(1, token(1, 3))).refusal, "stale-epoch");
    const memory = JSON.parse(readFileSync(join(h.vmsDir, "tokens.json"), "utf8")) as unknown;
    assert.deepEqual(memory, { placementByVm: { "1": 2 }, epochByNode: { "1": 2 } });

    // The console of both runs, each line timestamped, read in pieces through NodeVmHost.
    let offset = 0;
    let text = "";
    for (let reads = 0; reads < 1_000; reads++) {
      const chunk = h.backend.readConsole(1, offset, 512)!;
      text += chunk.text;
      offset = chunk.nextOffset;
      if (offset === chunk.sizeBytes) break;
    }
    assert.equal(text, readFileSync(join(h.vmsDir, "1", "console.log"), "utf8"));
    assert.equal(text.match(/\[guard\] start vm=1 /g)?.length, 2);
    assert.equal(h.backend.readConsole(404, 0, 10), undefined);
  });

  test("tokens.json survives the backend: a new backend on the same directory refuses what the old one had superseded", async () => {
    const vmsDir = scope.tempDir();
    const first = new Harness(vmsDir, { limits: { fencePollMs: 50, spareGuards: 0 } }); // guards started fresh
    first.arm();
    first.backend.create(guestInstance(2));
    await first.next("created", "created");
    await first.startRunning(2, token(3, 5));
    first.backend.kill(2);
    await first.status("killed", 2, "stopped", "killed");
    first.backend.close();

    const second = new Harness(vmsDir);
    second.backend.list();
    const listed = await second.next("the list", "listed");
    assert.deepEqual(listed.instances, [{ vmId: 2, state: "stopped", token: token(3, 5), exit: "killed" }]);
    assert.equal((await second.refusal(2, token(3, 4))).refusal, "stale-placement");
    assert.equal((await second.refusal(2, token(2, 6))).refusal, "stale-epoch");
  });

  test("a new backend adopts a live instance: list() shows it running, and it answers to the new backend", async () => {
    const vmsDir = scope.tempDir();
    const first = new Harness(vmsDir);
    first.arm();
    first.backend.create(guestInstance(3));
    await first.next("created", "created");
    await waitUntil("the spare guard is up", () => readdirSync(vmsDir).some((name) => name.startsWith("spare-") && name.endsWith(".sock")));
    await first.startRunning(3, token(1, 1));
    const guardPid = readState(join(vmsDir, "3"))!.guardPid;
    assert.ok(readFileSync(`/proc/${guardPid}/cmdline`, "utf8").split("\0").includes("--spare"), "the spare guard took the vm");
    first.backend.close(); // the node process goes; its guards stay

    const second = new Harness(vmsDir);
    second.backend.list();
    const listed = await second.next("the list", "listed");
    assert.deepEqual(listed.instances, [{ vmId: 3, state: "running", token: token(1, 1), exit: "none" }]);
    const remainingUs = listed.fenceDeadlineUs - systemMonotonicClock.nowUs();
    assert.ok(remainingUs > LEASE_US - 30_000_000 && remainingUs <= LEASE_US, `the adopted fence deadline is ${remainingUs} us ahead`);
    assert.equal(readState(join(vmsDir, "3"))!.guardPid, guardPid, "the same guard");
    second.backend.probe(3, { kind: "process" });
    assert.equal((await second.next("probe", "probed")).ok, true);
    second.backend.stop(3, 5_000);
    await second.status("stopped through the adopted guard", 3, "stopped", "stopped");
  });

  test("an instance whose guard died is crashed on adoption, and its VM is killed (no VM runs unguarded)", async () => {
    const vmsDir = scope.tempDir();
    // As on a host without setpriv: the kernel would otherwise kill the VM with its guard (vm-guard.test.ts).
    const first = new Harness(vmsDir, { launchExtras: { withoutParentDeathSignal: true } });
    first.arm();
    // A command that ignores its console closing (unlike the built-in guest).
    first.backend.create(commandInstance(4, process.execPath, "-e setInterval(()=>{},1000)"));
    await first.next("created", "created");
    await first.startRunning(4, token(1, 1));
    const { guardPid, childPid } = readState(join(vmsDir, "4"))!;
    first.backend.close();
    process.kill(guardPid, "SIGKILL");
    await waitUntil("the guard is dead", () => !processAlive(guardPid));
    assert.ok(processAlive(childPid), "the VM outlived its guard");

    const log = recordingLog();
    const second = new Harness(vmsDir, { log });
    second.backend.list();
    const listed = await second.next("the list", "listed");
    assert.deepEqual(listed.instances, [{ vmId: 4, state: "stopped", token: token(1, 1), exit: "crashed" }]);
    await waitUntil("the orphan is killed", () => !processAlive(childPid));
    assert.ok(log.lines.some((line) => line.includes("killed the process group of a vm whose guard is gone")), log.lines.join("\n"));
  });

  test("after a reboot, a state.json's pids are someone else's: the instance is crashed, the process that has the pid now is left alone", async () => {
    const vmsDir = scope.tempDir();
    const first = new Harness(vmsDir);
    first.arm();
    first.backend.create(guestInstance(12));
    await first.next("created", "created");
    await first.startRunning(12, token(1, 1));
    first.backend.kill(12);
    await first.status("killed", 12, "stopped", "killed");
    first.backend.close();
    // As a reboot leaves it: state.json says running, with pids that now belong to another process group.
    const stranger = scope.track(spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { detached: true, stdio: "ignore" }));
    const vmDir = join(vmsDir, "12");
    const last = readState(vmDir)!;
    writeFileSync(join(vmDir, "state.json"), JSON.stringify({ ...last, state: "running", exit: "none", childPid: stranger.pid, guardPid: stranger.pid }));

    const second = new Harness(vmsDir);
    second.backend.list();
    assert.deepEqual((await second.next("the list", "listed")).instances, [{ vmId: 12, state: "stopped", token: token(1, 1), exit: "crashed" }]);
    assert.ok(processAlive(stranger.pid!), "the stranger lives");
  });

  test("delete kills a running instance and removes its files", async () => {
    const h = new Harness(scope.tempDir());
    h.arm();
    h.backend.create(guestInstance(5));
    await h.next("created", "created");
    await h.startRunning(5, token(1, 1));
    const { childPid, guardPid } = readState(join(h.vmsDir, "5"))!;
    h.backend.delete(5);
    await h.status("killed", 5, "stopped", "killed");
    await h.next("deleted", "deleted", (r) => r.vmId === 5);
    assert.ok(!existsSync(join(h.vmsDir, "5")));
    assert.ok(!processAlive(childPid));
    await waitUntil("the guard exits", () => !processAlive(guardPid));
    h.backend.list();
    assert.deepEqual((await h.next("the list", "listed")).instances, []);
    h.backend.delete(5); // deleting what is gone is fine
    await h.next("deleted again", "deleted");
  });

  test("delete of an instance whose guard is hung (SIGSTOPped): after the wait, the backend kills the guard and the VM itself", async () => {
    const h = new Harness(scope.tempDir(), { limits: { fencePollMs: 50, deleteKillWaitMs: 300, guardRequestTimeoutMs: 200 } });
    h.arm();
    h.backend.create(guestInstance(13));
    await h.next("created", "created");
    await h.startRunning(13, token(1, 1));
    const { childPid, guardPid } = readState(join(h.vmsDir, "13"))!;
    process.kill(guardPid, "SIGSTOP");
    h.backend.delete(13);
    await h.status("killed", 13, "stopped", "killed");
    await h.next("deleted", "deleted", (r) => r.vmId === 13);
    await waitUntil("the vm and its guard are dead", () => !processAlive(childPid) && !processAlive(guardPid));
    assert.ok(!existsSync(join(h.vmsDir, "13")));
  });

  test("the guard fences at the armed deadline; a start after it is refused fence-expired", async () => {
    const h = new Harness(scope.tempDir());
    h.arm();
    h.backend.create(guestInstance(6));
    await h.next("created", "created");
    await h.startRunning(6, token(1, 1));
    h.arm(400_000);
    const fenced = await h.status("fenced", 6, "stopped", "fenced");
    assert.deepEqual(fenced.token, token(1, 1));
    assert.equal((await h.refusal(6, token(1, 1))).refusal, "fence-expired");
    h.arm();
    await h.startRunning(6, token(1, 1));
    h.backend.kill(6);
    await h.status("killed", 6, "stopped", "killed");
  });

  test("create fails, naming why: a missing command, a socket path too long, the instance limit", async () => {
    const h = new Harness(scope.tempDir(), { limits: { fencePollMs: 50, vmsMax: 2 } });
    h.backend.create(commandInstance(7, "/no/such/command", ""));
    assert.match((await h.next("create-failed", "create-failed")).detail, /process: image.kernel \/no\/such\/command: no such file/);
    h.backend.create(guestInstance(8));
    h.backend.create(guestInstance(9));
    h.backend.create(guestInstance(10));
    await h.next("created 8", "created", (r) => r.vmId === 8);
    await h.next("created 9", "created", (r) => r.vmId === 9);
    assert.match((await h.next("create-failed 10", "create-failed", (r) => r.vmId === 10)).detail, /holds 2 instances already/);
    h.backend.create(guestInstance(8)); // idempotent
    await h.next("created 8 again", "created", (r) => r.vmId === 8);

    const deep = join(scope.tempDir(), "d".repeat(100));
    const long = new Harness(deep);
    long.backend.create(guestInstance(11));
    assert.match((await long.next("create-failed", "create-failed")).detail, /socket path .* longer than 107/);
  });
});

describe("host backend helpers", () => {
  test("socket paths are checked against sun_path", () => {
    assert.equal(socketPathProblem("/" + "a".repeat(UNIX_SOCKET_PATH_BYTES_MAX - 1)), "");
    assert.notEqual(socketPathProblem("/" + "a".repeat(UNIX_SOCKET_PATH_BYTES_MAX)), "");
  });

  test("a console read never ends inside a UTF-8 character", () => {
    const text = Buffer.from("a€b😀");
    assert.equal(incompleteUtf8TailBytes(text), 0);
    assert.equal(incompleteUtf8TailBytes(text.subarray(0, 2)), 1); // "a" + first byte of €
    assert.equal(incompleteUtf8TailBytes(text.subarray(0, 3)), 2);
    assert.equal(incompleteUtf8TailBytes(text.subarray(0, 4)), 0);
    assert.equal(incompleteUtf8TailBytes(text.subarray(0, 7)), 2);
    assert.equal(incompleteUtf8TailBytes(new Uint8Array()), 0);
  });
});
