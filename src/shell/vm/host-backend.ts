// The VmBackend of src/core/agent/vm-backend.ts on real processes: one directory per VM under
// vmsDir, one guard process per running instance (src/shell/vm/guard/vm-guard.mjs), the node's
// fence.json and tokens.json beside them (docs/VMS.md). A VmLauncher (QEMU, or a plain process)
// turns a spec into the LaunchPlan the guard runs; everything else is the same for both kinds.
//
// The simulator's backend (src/core/sim/sim-vm-backend.ts) is the reference: the same refusals in
// the same order, the same reports. Every report is delivered on a later turn of the event loop
// (never inside the call) to the one subscriber. Calls for one VM are carried out in the order
// they were made (one chain of promises per VM); list() waits for each VM's chain.
//
// The guard is the instance's truth: the backend follows it with a watch on guard.sock and
// reports each change; when the watch ends (the guard exited) it reads the guard's last
// state.json. A guard that died without saying stopped (killed itself, a host reboot) leaves an
// instance that is reported stopped/crashed, and its VM's process group, if it still runs, is
// killed: no VM runs without a guard to fence it.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, readSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { connect as tcpConnect, type Socket } from "node:net";
import { isAbsolute, join } from "node:path";
import { fileURLToPath } from "node:url";
import { assert } from "../../core/assert.ts";
import type { FencingToken, NodeId, VmId } from "../../core/cluster/types.ts";
import { noFailpoints, type Failpoint, type Logger } from "../../core/env/environment.ts";
import type { BackendReport, BackendReportHandler, HealthProbe, InstanceExit, InstanceState, InstanceStatus, StartRefusal, VmBackend, VmInstanceSpec } from "../../core/agent/vm-backend.ts";
import { UNIX_SOCKET_PATH_BYTES_MAX, type FenceFile, type GuardRequest, type GuardState, type LaunchFile, type LaunchPlan, type VmLauncher } from "./launch-plan.ts";
import { CONSOLE_READ_BYTES_MAX, type ConsoleChunk, type NodeVmHost } from "./node-vm-host.ts";
import { guardHandOff, guardRequest, guardWatch } from "./guard/guard-client.ts";
import { TokenMemory } from "./token-memory.ts";

/** The longest grace period the guard takes (vm-guard.mjs); longer ones are cut to it. */
const GUARD_GRACE_MS_MAX = 3_600_000;

export const GUARD_SCRIPT = fileURLToPath(new URL("./guard/vm-guard.mjs", import.meta.url));

export interface HostVmBackendLimits {
  /** Instances (VM directories) this node holds at once; creates beyond it fail. */
  readonly vmsMax: number;
  /** console.log rotates at this size (one old file kept). */
  readonly consoleBytesMax: number;
  /** The most a console tail or a console probe reads. */
  readonly consoleReadBytesMax: number;
  /** How often each guard reads fence.json; it kills this long before the deadline. Keep it well below the lease's stopBoundUs. */
  readonly fencePollMs: number;
  /** How long a start waits for its new guard's socket (node startup under load). */
  readonly guardConnectTimeoutMs: number;
  readonly guardConnectRetryMs: number;
  /** One request on guard.sock. */
  readonly guardRequestTimeoutMs: number;
  /** delete() waits this long for a killed instance's guard to exit before it kills the guard itself. */
  readonly deleteKillWaitMs: number;
  /** TCP and HTTP probes never wait longer than this, whatever they ask. */
  readonly probeTimeoutMsMax: number;
  /** Reports waiting for delivery (one event-loop turn's worth). */
  readonly reportsQueuedMax: number;
  /** 1: keep one spare guard started ahead of need, so a start does not wait for node to boot (about 80 ms here); 0: start each guard fresh. */
  readonly spareGuards: number;
  /** How long a start waits for the spare to take its VM before it starts a fresh guard instead. */
  readonly spareHandOffTimeoutMs: number;
}

export const defaultHostVmBackendLimits: HostVmBackendLimits = {
  vmsMax: 1_024,
  consoleBytesMax: 1024 * 1024,
  consoleReadBytesMax: CONSOLE_READ_BYTES_MAX,
  fencePollMs: 100,
  guardConnectTimeoutMs: 10_000,
  guardConnectRetryMs: 5,
  guardRequestTimeoutMs: 2_000,
  deleteKillWaitMs: 5_000,
  probeTimeoutMsMax: 30_000,
  reportsQueuedMax: 65_536,
  spareGuards: 1,
  spareHandOffTimeoutMs: 500,
};

export interface HostVmBackendOptions {
  /** Absolute; created when missing. */
  readonly vmsDir: string;
  readonly launcher: VmLauncher;
  /** The node Environment's monotonic clock (armFence's deadlines and list()'s are on it). */
  readonly monotonicNowUs: () => number;
  readonly log: Logger;
  /** The node's failpoints: vm.start and vm.stop (docs/FAILPOINTS.md). Default: none. */
  readonly failpoint?: Failpoint;
  readonly limits?: Partial<HostVmBackendLimits>;
  /** When set, starts with a token for another node are refused (stale-epoch), as the simulator's host does. */
  readonly nodeId?: NodeId;
  /** The guard to run (tests only; the default is vm-guard.mjs beside this file). */
  readonly guardScript?: string;
  /** Added to every launch.json (tests only: a harness-only planted bug, docs/PLANTED-BUGS.md). */
  readonly launchExtras?: Pick<LaunchFile, "plantedBug" | "withoutParentDeathSignal">;
}

interface GuardProcess {
  readonly process: ChildProcess;
  readonly exited: () => boolean;
  /** A spare's socket ("" for a guard started for its VM). */
  readonly socketPath: string;
}

interface HostInstance {
  readonly vmId: VmId;
  readonly dir: string;
  readonly spec: VmInstanceSpec;
  state: InstanceState;
  exit: InstanceExit;
  token: FencingToken | undefined;
  /** The guard's last word (undefined: no guard ever ran for it). */
  guard: GuardState | undefined;
  watch: Socket | undefined;
  /** Resolved when the current guard is gone (its watch ended). */
  guardGone: Promise<void>;
  markGuardGone: () => void;
  /** The last status reported, to report changes only. */
  reportedKey: string;
}

const files = {
  spec: "spec.json",
  launch: "launch.json",
  state: "state.json",
  console: "console.log",
  guardSocket: "guard.sock",
};

export class HostVmBackend implements VmBackend, NodeVmHost {
  readonly description: string;
  private readonly limits: HostVmBackendLimits;
  private readonly failpoint: Failpoint;
  private readonly instances = new Map<VmId, HostInstance>();
  private readonly chains = new Map<VmId, Promise<void>>();
  private readonly tokens: TokenMemory;
  private readonly fenceFile: string;
  /** The armed deadline on the host's CLOCK_MONOTONIC (process.hrtime.bigint), 0n never armed. */
  private fenceDeadlineNs: bigint;
  private handler: BackendReportHandler | undefined;
  /** A guard started ahead of need (vm-guard.mjs --spare), waiting on its socket for a VM directory. */
  private spare: GuardProcess | undefined;
  private sparesStarted = 0;
  private queued: BackendReport[] = [];
  private closed = false;

  constructor(private readonly options: HostVmBackendOptions) {
    assert(isAbsolute(options.vmsDir), "vmsDir is an absolute path");
    this.limits = { ...defaultHostVmBackendLimits, ...options.limits };
    for (const [name, value] of Object.entries(this.limits)) assert(Number.isSafeInteger(value) && value >= 0, () => `limit ${name} must be a non-negative integer`);
    assert(this.limits.vmsMax > 0 && this.limits.fencePollMs > 0 && this.limits.spareGuards <= 1, "vmsMax and fencePollMs positive; at most one spare guard");
    this.description = options.launcher.description;
    this.failpoint = options.failpoint ?? noFailpoints;
    mkdirSync(options.vmsDir, { recursive: true, mode: 0o700 });
    this.tokens = new TokenMemory(join(options.vmsDir, "tokens.json"));
    this.fenceFile = join(options.vmsDir, "fence.json");
    this.fenceDeadlineNs = readFenceDeadlineNs(this.fenceFile);
    this.prepareSpare();
  }

  subscribe(handler: BackendReportHandler): void {
    assert(this.handler === undefined, "a backend has one subscriber");
    this.handler = handler;
  }

  /** Stops following the guards (they and their VMs keep running: a node process that exits leaves them to the next one). */
  close(): void {
    this.closed = true;
    for (const instance of this.instances.values()) instance.watch?.destroy();
    const spare = this.spare;
    this.spare = undefined;
    if (spare !== undefined && !spare.exited()) spare.process.kill("SIGKILL");
    if (spare !== undefined) rmSync(spare.socketPath, { force: true });
  }

  // ----- VmBackend

  create(instance: VmInstanceSpec): void {
    this.enqueue(instance.vmId, async () => {
      const vmId = instance.vmId;
      if (this.load(vmId) !== undefined) return this.report({ kind: "created", vmId }); // idempotent
      const failed = (detail: string): void => this.report({ kind: "create-failed", vmId, detail });
      if (this.countInstanceDirs() >= this.limits.vmsMax) return failed(`node holds ${this.limits.vmsMax} instances already`);
      const dir = this.vmDir(vmId);
      const plan = this.options.launcher.plan(instance, dir);
      if ("error" in plan) return failed(`${this.options.launcher.kind}: ${plan.error}`);
      const problem = socketPathProblem(join(dir, files.guardSocket)) || (plan.qmpSocket === "" ? "" : socketPathProblem(plan.qmpSocket));
      if (problem !== "") return failed(problem);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeAtomically(join(dir, files.spec), `${JSON.stringify(instance)}\n`);
      this.remember(instanceRecord(vmId, dir, instance));
      this.report({ kind: "created", vmId });
    });
  }

  start(vmId: VmId, token: FencingToken): void {
    this.enqueue(vmId, async () => {
      const refuse = (refusal: StartRefusal, detail: string): void => this.report({ kind: "start-refused", vmId, token, refusal, detail });
      const instance = this.load(vmId);
      if (instance === undefined) return refuse("unknown-vm", `no instance of vm ${vmId}`);
      if (instance.state !== "created" && instance.state !== "stopped") return refuse("not-startable", `vm ${vmId} is ${instance.state}`);
      if (this.options.nodeId !== undefined && token.nodeId !== this.options.nodeId) return refuse("stale-epoch", `token for node ${token.nodeId} on node ${this.options.nodeId}`);
      const verdict = this.tokens.check(vmId, token);
      if (!verdict.ok) return refuse(verdict.refusal, verdict.detail);
      // As the guard will: a deadline less than one poll period away is as good as passed.
      const nowNs = process.hrtime.bigint();
      const pollNs = BigInt(this.limits.fencePollMs) * 1_000_000n;
      if (nowNs >= this.fenceDeadlineNs - pollNs) {
        return refuse("fence-expired", this.fenceDeadlineNs === 0n ? "fence never armed" : `fence deadline passed (or within one ${this.limits.fencePollMs} ms poll) ${(nowNs - this.fenceDeadlineNs) / 1000n} us ago`);
      }
      const plan = this.options.launcher.plan(instance.spec, instance.dir);
      if ("error" in plan) {
        this.options.log.warn({ vmId, error: plan.error }, "vm start: no launch plan");
        return refuse("not-startable", `${this.options.launcher.kind}: ${plan.error}`);
      }
      // Before the start is accepted: a refused start leaves no token behind.
      const failed = await this.atFailpoint("vm.start");
      if (failed !== undefined) return refuse("not-startable", `injected by failpoint vm.start${failed.arg === undefined ? "" : ` (${failed.arg})`}`);
      this.tokens.record(vmId, token); // durable before the start is accepted
      await this.launch(instance, token, plan);
    });
  }

  stop(vmId: VmId, graceMs: number): void {
    assert(Number.isSafeInteger(graceMs) && graceMs >= 0, "a grace period is a non-negative integer of milliseconds");
    this.enqueue(vmId, async () => {
      const instance = this.load(vmId);
      if (instance === undefined) return;
      if (!isAlive(instance.state)) return this.reportStatus(instance, true);
      // The stop request is lost: the VM keeps running (the reconciler asks again).
      if ((await this.atFailpoint("vm.stop")) !== undefined) return;
      await this.ask(instance, { op: "stop", graceMs: Math.min(graceMs, GUARD_GRACE_MS_MAX) });
    });
  }

  kill(vmId: VmId): void {
    this.enqueue(vmId, async () => {
      const instance = this.load(vmId);
      if (instance === undefined) return;
      if (!isAlive(instance.state)) return this.reportStatus(instance, true);
      await this.ask(instance, { op: "kill" });
    });
  }

  delete(vmId: VmId): void {
    this.enqueue(vmId, async () => {
      const instance = this.load(vmId);
      if (instance !== undefined) {
        if (isAlive(instance.state)) await this.killAndWait(instance);
        instance.watch?.destroy();
        this.instances.delete(vmId);
      }
      rmSync(this.vmDir(vmId), { recursive: true, force: true });
      this.report({ kind: "deleted", vmId });
    });
  }

  list(): void {
    // Every VM on disk, in memory or with calls under way (a create made before this list is in
    // the answer, as in the simulator): each loaded (live guards adopted) in its own chain, then
    // one answer once all are done.
    const vmIds = new Set([...this.instanceDirIds(), ...this.instances.keys(), ...this.chains.keys()]);
    const loads = [...vmIds].map((vmId) => this.enqueue(vmId, async () => void this.load(vmId)));
    void Promise.all(loads).then(() => {
      const instances = [...this.instances.values()].sort((a, b) => a.vmId - b.vmId).map(statusOf);
      this.report({ kind: "listed", instances, fenceDeadlineUs: this.fenceDeadlineUs() });
    });
  }

  consoleTail(vmId: VmId, bytesMax: number): void {
    assert(Number.isSafeInteger(bytesMax) && bytesMax > 0, "console tail size must be positive");
    this.enqueue(vmId, async () => {
      const text = readTail(join(this.vmDir(vmId), files.console), Math.min(bytesMax, this.limits.consoleReadBytesMax));
      this.report({ kind: "console", vmId, text });
    });
  }

  armFence(deadlineUs: number): void {
    assert(Number.isSafeInteger(deadlineUs) && deadlineUs >= 0, "a fence deadline is a non-negative integer of microseconds");
    // The Environment's monotonic clock and CLOCK_MONOTONIC tick together; only their origins
    // differ, so the remaining time carries over. Under a drift set by the clock fault
    // clock.monotonic (docs/FAILPOINTS.md) they do not: the fence then runs on the host's clock,
    // which is within the drift bound of the node's as every lease assumes of any two clocks.
    // Synchronous: arms take effect in call order.
    const remainingUs = deadlineUs - this.options.monotonicNowUs();
    let deadlineNs = process.hrtime.bigint() + BigInt(remainingUs) * 1000n;
    if (deadlineNs < 1n) deadlineNs = 1n; // "0" means never armed
    writeAtomically(this.fenceFile, `${JSON.stringify({ deadlineNs: deadlineNs.toString() } satisfies FenceFile)}\n`);
    this.fenceDeadlineNs = deadlineNs;
  }

  probe(vmId: VmId, probe: HealthProbe): void {
    this.enqueue(vmId, async () => {
      const instance = this.load(vmId);
      const alive = instance !== undefined && isAlive(instance.state);
      const result = (ok: boolean, status: number, detail: string): void => this.report({ kind: "probed", vmId, probe: probe.kind, ok, status, detail });
      switch (probe.kind) {
        case "process": {
          const pid = instance?.guard?.childPid ?? 0;
          const ok = alive && pid > 0 && processExists(pid);
          return result(ok, 0, ok ? `process ${pid} alive` : "no process");
        }
        case "console": {
          const seen = alive && this.currentConsole(instance).includes(probe.pattern);
          return result(seen, 0, seen ? "pattern seen" : "pattern not seen");
        }
        case "tcp":
        case "http": {
          if (instance === undefined || !alive) return result(false, 0, "not running");
          const hostPort = this.hostPortFor(instance, probe.port);
          if (hostPort === 0) return result(false, 0, `no tcp port forward to guest port ${probe.port}`);
          const timeoutMs = Math.max(1, Math.min(probe.timeoutMs, this.limits.probeTimeoutMsMax));
          if (probe.kind === "tcp") {
            const error = await tcpProbe(hostPort, timeoutMs);
            return result(error === "", 0, error === "" ? `port ${hostPort} accepts` : `port ${hostPort}: ${error}`);
          }
          const answer = await httpProbe(hostPort, probe.path, timeoutMs);
          return result(answer.status > 0, answer.status, answer.status > 0 ? `GET ${probe.path}: ${answer.status}` : `GET ${probe.path}: ${answer.error}`);
        }
      }
    });
  }

  // ----- NodeVmHost

  readConsole(vmId: VmId, offset: number, bytesMax: number): ConsoleChunk | undefined {
    assert(Number.isSafeInteger(offset) && offset >= 0, "a console offset is a non-negative integer");
    assert(Number.isSafeInteger(bytesMax) && bytesMax > 0 && bytesMax <= CONSOLE_READ_BYTES_MAX, () => `a console read is 1..${CONSOLE_READ_BYTES_MAX} bytes`);
    const file = join(this.vmDir(vmId), files.console);
    if (!existsSync(file)) return existsSync(this.vmDir(vmId)) ? { text: "", nextOffset: 0, sizeBytes: 0 } : undefined;
    const fd = openSync(file, "r");
    try {
      const sizeBytes = statSync(file).size;
      // The file was rotated under the reader (it shrank): start again from its beginning.
      const from = offset > sizeBytes ? 0 : offset;
      const length = Math.min(bytesMax, sizeBytes - from);
      const buffer = Buffer.alloc(length);
      const read = length === 0 ? 0 : readSync(fd, buffer, 0, length, from);
      // Whole UTF-8 characters only: stop before a character the read cut in two.
      const whole = read - incompleteUtf8TailBytes(buffer.subarray(0, read));
      return { text: buffer.subarray(0, whole).toString("utf8"), nextOffset: from + whole, sizeBytes };
    } finally {
      closeSync(fd);
    }
  }

  /**
   * A shell point that awaits (docs/FAILPOINTS.md): sleep and delay wait here, pause waits until
   * the point is changed or cleared; the return verdict, if any, is the caller's to act on. The
   * VM's queue (enqueue) holds the calls behind it meanwhile, bounded as always.
   */
  private async atFailpoint(name: "vm.start" | "vm.stop"): Promise<{ readonly arg: string | undefined } | undefined> {
    const verdict = this.failpoint(name);
    if (verdict === undefined) return undefined;
    if (verdict.kind === "return") return verdict;
    if (verdict.kind === "delay") await new Promise<void>((resolve) => setTimeout(resolve, verdict.ms));
    else await new Promise<void>((resolve) => verdict.resume(resolve));
    return undefined;
  }

  // ----- starting an instance

  private async launch(instance: HostInstance, token: FencingToken, plan: LaunchPlan): Promise<void> {
    const launchFile: LaunchFile = {
      vmId: instance.vmId,
      token,
      plan,
      fenceFile: this.fenceFile,
      fencePollMs: this.limits.fencePollMs,
      consoleBytesMax: this.limits.consoleBytesMax,
      ...this.options.launchExtras,
    };
    writeAtomically(join(instance.dir, files.launch), `${JSON.stringify(launchFile)}\n`);
    rmSync(join(instance.dir, files.state), { force: true }); // the previous guard's; the new one writes its own
    instance.token = token;
    instance.guard = undefined;
    instance.state = "booting";
    instance.exit = "none";
    this.resetGuardGone(instance);
    this.reportStatus(instance, false);
    const guard = (await this.takeSpare(instance.dir)) ?? this.spawnGuard([instance.dir]);
    await this.follow(instance, guard.process, guard.exited);
    this.prepareSpare(); // after this start's guard is up: two node processes booting at once slow both
  }

  /** Starts a guard process, detached so that it outlives this process. */
  private spawnGuard(args: readonly string[]): GuardProcess {
    const child = spawn(process.execPath, [this.options.guardScript ?? GUARD_SCRIPT, ...args], { detached: true, stdio: "ignore" });
    let exited = false;
    child.on("exit", () => {
      exited = true;
    });
    child.on("error", (error) => {
      exited = true;
      this.options.log.error({ args, error: error.message }, "vm guard did not start");
    });
    child.unref();
    return { process: child, exited: () => exited, socketPath: "" };
  }

  /** Keeps one spare guard ready (limits.spareGuards), its socket beside the VMs' directories. */
  private prepareSpare(): void {
    if (this.closed || this.spare !== undefined || this.limits.spareGuards === 0) return;
    this.sparesStarted += 1;
    const socketPath = join(this.options.vmsDir, `spare-${process.pid}-${this.sparesStarted}.sock`);
    if (socketPathProblem(socketPath) !== "") return; // a start then spawns its guard fresh
    const spare = this.spawnGuard(["--spare", socketPath]);
    this.spare = { ...spare, socketPath };
  }

  /**
   * The spare guard, once it has taken vmDir; undefined when there is none or it is not up yet
   * (then it stays the spare, for the next start, and this one starts a fresh guard: waiting for
   * a spare that is still booting is no faster). A spare that does not answer in time is killed.
   */
  private async takeSpare(vmDir: string): Promise<GuardProcess | undefined> {
    const spare = this.spare;
    this.spare = undefined;
    if (spare === undefined || spare.exited()) return undefined;
    const askedMs = Date.now();
    if (await guardHandOff(spare.socketPath, vmDir, this.limits.spareHandOffTimeoutMs)) return spare;
    const booting = !spare.exited() && Date.now() - askedMs < this.limits.spareHandOffTimeoutMs && !existsSync(spare.socketPath);
    if (booting && !this.closed && this.spare === undefined) {
      this.spare = spare; // not listening yet: still booting
      return undefined;
    }
    if (!booting) this.options.log.warn({ socketPath: spare.socketPath }, "the spare vm guard did not take its vm: starting one fresh");
    spare.process.kill("SIGKILL");
    rmSync(spare.socketPath, { force: true });
    return undefined;
  }

  /**
   * Opens the watch on a new guard, retrying until its socket is up, the guard exited (it refused,
   * or died), or the connect deadline passed (then the guard is killed: it is of no use unwatched).
   */
  private async follow(instance: HostInstance, guardProcess: ChildProcess, exited: () => boolean): Promise<void> {
    const startMs = Date.now();
    for (let attempt = 0; ; attempt++) {
      assert(attempt < 1_000_000, "guard connect attempts bounded");
      const connected = await this.watch(instance);
      if (connected) return;
      if (exited()) return this.guardGone(instance, "guard exited");
      if (Date.now() - startMs > this.limits.guardConnectTimeoutMs) {
        guardProcess.kill("SIGKILL");
        return this.guardGone(instance, `guard socket not up within ${this.limits.guardConnectTimeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, this.limits.guardConnectRetryMs));
    }
  }

  /** Resolves true once the watch is connected (its states then flow in), false when it could not connect. */
  private watch(instance: HostInstance): Promise<boolean> {
    return new Promise((resolve) => {
      let connected = false;
      const socket = guardWatch(join(instance.dir, files.guardSocket), {
        onState: (state) => {
          if (!connected) {
            connected = true;
            instance.watch = socket;
            resolve(true);
          }
          this.onGuardState(instance, state);
        },
        onClose: (wasConnected, error) => {
          if (!connected) return resolve(false);
          if (instance.watch !== socket) return; // dropped on purpose (delete gave up on the guard)
          instance.watch = undefined;
          if (!this.closed) this.guardGone(instance, wasConnected ? "guard exited" : error);
        },
      });
    });
  }

  private onGuardState(instance: HostInstance, state: GuardState): void {
    instance.guard = state;
    // "stopped" waits for the watch to end: the guard is gone then, its console.log complete,
    // and a new start cannot meet the old guard's socket.
    if (state.state === "stopped") return;
    instance.state = state.state;
    instance.exit = state.exit;
    this.reportStatus(instance, false);
  }

  /** The guard is gone: its last state.json says how the instance ended; without one that says stopped, it crashed. */
  private guardGone(instance: HostInstance, why: string): void {
    const last = readGuardState(join(instance.dir, files.state));
    if (last !== undefined && last.state === "stopped") {
      instance.guard = last;
      instance.state = "stopped";
      instance.exit = last.exit;
    } else {
      if (last !== undefined && last.childPid > 0) killOrphan(last.childPid, instance.dir, this.options.log, instance.vmId);
      instance.state = "stopped";
      instance.exit = "crashed";
      this.options.log.warn({ vmId: instance.vmId, why, lastState: last?.state ?? "none" }, "vm guard gone without recording the end: crashed");
    }
    this.reportStatus(instance, false);
    instance.markGuardGone();
  }

  private async ask(instance: HostInstance, request: GuardRequest): Promise<void> {
    const answer = await guardRequest(join(instance.dir, files.guardSocket), request, this.limits.guardRequestTimeoutMs);
    if (!answer.ok) this.options.log.warn({ vmId: instance.vmId, op: request.op, error: answer.error }, "vm guard request failed");
  }

  private async killAndWait(instance: HostInstance): Promise<void> {
    await this.ask(instance, { op: "kill" });
    const timedOut = await Promise.race([instance.guardGone.then(() => false), delay(this.limits.deleteKillWaitMs).then(() => true)]);
    if (!timedOut) return;
    // A guard that does not answer (hung, stopped): kill it and its VM's group ourselves.
    const guard = instance.guard;
    if (guard !== undefined) {
      if (guard.childPid > 0) killOrphan(guard.childPid, instance.dir, this.options.log, instance.vmId);
      // Only a guard process (pids are reused); a spare that took the VM has its socket, not the directory, in its arguments.
      if (guard.guardPid > 0 && processArgsInclude(guard.guardPid, this.options.guardScript ?? GUARD_SCRIPT)) process.kill(guard.guardPid, "SIGKILL");
    }
    const watch = instance.watch;
    instance.watch = undefined;
    watch?.destroy();
    instance.state = "stopped";
    instance.exit = "killed";
    this.reportStatus(instance, false);
  }

  // ----- loading what is on disk (adoption)

  /**
   * The instance, from memory or from its directory: a new backend on an old vmsDir adopts what
   * it finds (docs/VMS.md, "Adoption"). A guard that state.json says is alive is watched; when it
   * does not answer, it is gone and the instance crashed.
   */
  private load(vmId: VmId): HostInstance | undefined {
    const known = this.instances.get(vmId);
    if (known !== undefined) return known;
    const dir = this.vmDir(vmId);
    let spec: VmInstanceSpec;
    try {
      spec = JSON.parse(readFileSync(join(dir, files.spec), "utf8")) as VmInstanceSpec;
    } catch {
      return undefined; // no instance (a directory without spec.json is a create that never finished)
    }
    assert(spec.vmId === vmId, () => `${dir}: spec.json names vm ${spec.vmId}`);
    const instance = instanceRecord(vmId, dir, spec);
    this.remember(instance);
    const last = readGuardState(join(dir, files.state));
    const launched = existsSync(join(dir, files.launch));
    if (!launched) return instance; // created, never started
    instance.token = last?.token ?? readLaunchToken(join(dir, files.launch));
    instance.guard = last;
    if (last !== undefined && last.state === "stopped") {
      instance.state = "stopped";
      instance.exit = last.exit;
      instance.markGuardGone();
      return instance;
    }
    // It was alive when last written: take its word for now; adoptIfNeeded watches its guard
    // before any operation runs (the watch corrects it, or finds the guard gone).
    instance.state = last?.state ?? "booting";
    instance.exit = "none";
    instance.reportedKey = statusKey(statusOf(instance));
    this.resetGuardGone(instance);
    return instance;
  }

  private remember(instance: HostInstance): void {
    assert(!this.instances.has(instance.vmId), "an instance is remembered once");
    this.instances.set(instance.vmId, instance);
    instance.reportedKey = statusKey(statusOf(instance));
  }

  // ----- helpers

  /** Runs `operation` after every earlier one for the same VM; an operating error is logged, never thrown to the caller. */
  private enqueue(vmId: VmId, operation: () => Promise<void>): Promise<void> {
    assert(Number.isSafeInteger(vmId) && vmId > 0, () => `vm id ${vmId} must be a positive integer`);
    const previous = this.chains.get(vmId) ?? Promise.resolve();
    const next = previous
      .then(() => this.adoptIfNeeded(vmId))
      .then(operation)
      .catch((error: unknown) => {
        this.options.log.error({ vmId, error: error instanceof Error ? error.message : String(error) }, "vm backend operation failed");
      });
    this.chains.set(vmId, next);
    void next.then(() => {
      if (this.chains.get(vmId) === next) this.chains.delete(vmId);
    });
    return next;
  }

  /** An instance loaded from disk as alive gets its watch before any operation on it runs. */
  private async adoptIfNeeded(vmId: VmId): Promise<void> {
    const instance = this.load(vmId);
    if (instance === undefined || !isAlive(instance.state) || instance.watch !== undefined) return;
    const connected = await this.watch(instance);
    if (!connected) this.guardGone(instance, "guard not answering on adoption");
  }

  private resetGuardGone(instance: HostInstance): void {
    let mark = (): void => {};
    instance.guardGone = new Promise<void>((resolve) => {
      mark = resolve;
    });
    instance.markGuardGone = mark;
  }

  private reportStatus(instance: HostInstance, always: boolean): void {
    const status = statusOf(instance);
    const key = statusKey(status);
    if (!always && key === instance.reportedKey) return;
    instance.reportedKey = key;
    this.report({ kind: "instance", status });
  }

  /** Queues a report; one setImmediate delivers the queue in order, never inside the caller's call. */
  private report(report: BackendReport): void {
    if (this.handler === undefined || this.closed) return;
    assert(this.queued.length < this.limits.reportsQueuedMax, () => `more than ${this.limits.reportsQueuedMax} backend reports queued`);
    this.queued.push(report);
    if (this.queued.length === 1) setImmediate(this.flush);
  }

  private readonly flush = (): void => {
    const reports = this.queued;
    this.queued = [];
    for (const report of reports) this.handler!(report);
  };

  private fenceDeadlineUs(): number {
    if (this.fenceDeadlineNs === 0n) return 0;
    const remainingUs = Number((this.fenceDeadlineNs - process.hrtime.bigint()) / 1000n);
    return Math.max(1, this.options.monotonicNowUs() + remainingUs);
  }

  private vmDir(vmId: VmId): string {
    return join(this.options.vmsDir, String(vmId));
  }

  /** VM directories, ascending id (names that are not VM ids are not ours: ignored). */
  private instanceDirIds(): VmId[] {
    const ids: VmId[] = [];
    for (const entry of readdirSync(this.options.vmsDir, { withFileTypes: true })) {
      if (!entry.isDirectory() || !/^[1-9][0-9]{0,15}$/.test(entry.name)) continue;
      ids.push(Number(entry.name));
      if (ids.length >= this.limits.vmsMax * 2) break; // bounded: more than this is not a node's own
    }
    return ids.sort((a, b) => a - b);
  }

  private countInstanceDirs(): number {
    return Math.max(this.instances.size, this.instanceDirIds().length);
  }

  /** The host port that forwards to `guestPort`; the process backend has no guest network, so there it is the port itself. */
  private hostPortFor(instance: HostInstance, guestPort: number): number {
    for (const network of instance.spec.spec.interfaces) {
      for (const forward of network.portForwards) if (forward.protocol === "tcp" && forward.guestPort === guestPort) return forward.hostPort;
    }
    return this.options.launcher.kind === "process" ? guestPort : 0;
  }

  /** The tail of console.log from the current instance's "[guard] start" line on. */
  private currentConsole(instance: HostInstance | undefined): string {
    if (instance === undefined) return "";
    const text = readTail(join(instance.dir, files.console), this.limits.consoleReadBytesMax);
    const start = text.lastIndexOf(" [guard] start ");
    return start < 0 ? text : text.slice(start);
  }
}

// ----- pure helpers (exported for tests)

export function socketPathProblem(path: string): string {
  const bytes = Buffer.byteLength(path);
  return bytes > UNIX_SOCKET_PATH_BYTES_MAX ? `socket path ${path} is ${bytes} bytes, longer than ${UNIX_SOCKET_PATH_BYTES_MAX} (choose a shorter vms directory)` : "";
}

/** How many bytes at the end of `bytes` are the start of a UTF-8 character that continues past it. */
export function incompleteUtf8TailBytes(bytes: Uint8Array): number {
  for (let back = 1; back <= Math.min(3, bytes.length); back++) {
    const byte = bytes[bytes.length - back];
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return length > back ? back : 0;
  }
  return 0;
}

function instanceRecord(vmId: VmId, dir: string, spec: VmInstanceSpec): HostInstance {
  const instance: HostInstance = {
    vmId,
    dir,
    spec,
    state: "created",
    exit: "none",
    token: undefined,
    guard: undefined,
    watch: undefined,
    guardGone: Promise.resolve(),
    markGuardGone: () => {},
    reportedKey: "",
  };
  return instance;
}

function isAlive(state: InstanceState): boolean {
  return state === "booting" || state === "running" || state === "stopping";
}

function statusOf(instance: HostInstance): InstanceStatus {
  return { vmId: instance.vmId, state: instance.state, token: instance.token, exit: instance.exit };
}

function statusKey(status: InstanceStatus): string {
  const token = status.token === undefined ? "-" : `${status.token.nodeId}/${status.token.epoch}/${status.token.placement}`;
  return `${status.state} ${status.exit} ${token}`;
}

function writeAtomically(file: string, text: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, text, { mode: 0o600 });
  renameSync(temp, file);
}

function readGuardState(file: string): GuardState | undefined {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as GuardState;
  } catch {
    return undefined;
  }
}

function readLaunchToken(file: string): FencingToken | undefined {
  try {
    return (JSON.parse(readFileSync(file, "utf8")) as LaunchFile).token;
  } catch {
    return undefined;
  }
}

function readFenceDeadlineNs(file: string): bigint {
  try {
    const text = (JSON.parse(readFileSync(file, "utf8")) as FenceFile).deadlineNs;
    return /^[0-9]{1,30}$/.test(text) ? BigInt(text) : 0n;
  } catch {
    return 0n;
  }
}

/** The last `bytesMax` bytes of a file as text ("" when it does not exist). */
function readTail(file: string, bytesMax: number): string {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return "";
  }
  try {
    const size = statSync(file).size;
    const length = Math.min(size, bytesMax);
    const buffer = Buffer.alloc(length);
    const read = length === 0 ? 0 : readSync(fd, buffer, 0, length, size - length);
    return buffer.subarray(0, read).toString("utf8");
  } finally {
    closeSync(fd);
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * A VM whose guard is gone must not run on unfenced: SIGKILL its process group (it leads one: the
 * guard spawned it detached). Only when the pid is still this instance's VM (its environment has
 * BLIXARD_VM_DIR=<dir>, which the guard sets): after a reboot, state.json's pids are someone else's.
 */
function killOrphan(childPid: number, dir: string, log: Logger, vmId: VmId): void {
  if (!processEnvironmentIncludes(childPid, `BLIXARD_VM_DIR=${dir}`)) return;
  try {
    process.kill(-childPid, "SIGKILL");
    log.warn({ vmId, childPid }, "killed the process group of a vm whose guard is gone");
  } catch {
    // no such group: nothing runs
  }
}

function processEnvironmentIncludes(pid: number, entry: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").includes(entry);
  } catch {
    return false; // gone, or not ours to read
  }
}

function processArgsInclude(pid: number, arg: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(arg);
  } catch {
    return false;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function tcpProbe(port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    const done = (error: string): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(error);
    };
    const timer = setTimeout(() => done(`no connection within ${timeoutMs} ms`), timeoutMs);
    socket.on("connect", () => done(""));
    socket.on("error", (error) => done(error.message));
  });
}

function httpProbe(port: number, path: string, timeoutMs: number): Promise<{ readonly status: number; readonly error: string }> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (status: number, error: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      resolve({ status, error });
    };
    const request = httpRequest({ host: "127.0.0.1", port, path, method: "GET", agent: false }, (response) => {
      response.resume();
      done(response.statusCode ?? 0, "");
    });
    const timer = setTimeout(() => done(0, `no answer within ${timeoutMs} ms`), timeoutMs);
    request.on("error", (error) => done(0, error.message));
    request.end();
  });
}
