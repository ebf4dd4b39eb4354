// The simulator's VM backend (src/core/sim/sim-vm-backend.ts): boot delays, crashes and hangs,
// stale tokens refused, the fence guard killing on its deadline while the node process is
// paused, VMs surviving a process crash (adopted by the next incarnation's list) and dying with
// the host; every true state change reaches the observer.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { FencingToken } from "../../../src/core/cluster/types.ts";
import type { BackendReport, VmBackend } from "../../../src/core/agent/vm-backend.ts";
import { noFailpoints } from "../../../src/core/env/environment.ts";
import { noCoverage } from "../../../src/core/env/coverage-points.ts";
import { FAULT_PROFILES } from "../../../src/core/sim/fault-profile.ts";
import { DEFAULT_NETWORK_LIMITS } from "../../../src/core/sim/network.ts";
import { Prng } from "../../../src/core/sim/prng.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { SimVmHost, defaultSimVmHostOptions, type SimVmHostOptions } from "../../../src/core/sim/sim-vm-backend.ts";
import { World } from "../../../src/core/sim/world.ts";
import { runQueueUntil } from "../../support/simulated-time.ts";
import { testVmSpec } from "../agent/test-vm-spec.ts";


function makeRig(overrides: Partial<SimVmHostOptions> = {}, driftPpm = 0) {
  const threw: unknown[] = [];
  const profile = { ...FAULT_PROFILES.none!, clockDriftMaxPpm: Math.abs(driftPpm), clockDriftAtBound: driftPpm !== 0 };
  const world = new World(
    {
      seed: seedFromNumber(7),
      hostCount: 1,
      clientCount: 0,
      profile,
      eventQueueMax: 10_000,
      networkLimits: DEFAULT_NETWORK_LIMITS,
      timersPerHostMax: 100,
      failpointFor: () => noFailpoints,
      reached: noCoverage,
      cpuEventUs: 0,
      mayCorrupt: () => false,
      traceLines: undefined,
    },
    { stopped: () => false, threw: (_host, error) => threw.push(error), afterStep: () => {}, raftSent: () => {} },
  );
  const host = world.host(1);
  const observed: { vmId: number; placement: number; running: boolean; atUs: number }[] = [];
  const vmHost = new SimVmHost(1, world.queue, host.clock, Prng.stream(seedFromNumber(7), "vms-1"), (_nodeId, vmId, token, running) => observed.push({ vmId, placement: token.placement, running, atUs: world.queue.timeUs }), {
    ...defaultSimVmHostOptions,
    ...overrides,
  });
  const incarnation = (number: number) => {
    const process = world.startProcess(host, number);
    const backend = vmHost.backendFor(process.env);
    const reports: BackendReport[] = [];
    backend.subscribe((report) => reports.push(report));
    return { process, backend, reports };
  };
  const run = (condition: () => boolean, budgetMs = 60_000) => runQueueUntil(world.queue, condition, budgetMs);
  const runFor = (us: number) => {
    const untilUs = world.queue.timeUs + us;
    while ((world.queue.peekTimeUs() ?? Infinity) <= untilUs) world.queue.runNext();
  };
  return { world, host, vmHost, observed, incarnation, run, runFor, threw };
}

const token = (placement: number, epoch = 1): FencingToken => ({ nodeId: 1, epoch, placement });
const farFuture = 1_000_000_000_000; // 11.6 days: within the guard's horizon

function createAndStart(backend: VmBackend, vmId: number, t: FencingToken): void {
  backend.create({ vmId, spec: testVmSpec, addresses: [] });
  backend.start(vmId, t);
}

describe("the simulator's VM backend", () => {
  test("a VM boots after a delay within the bounds; the observer sees it run from the accepted start", () => {
    const rig = makeRig({ bootDelayUs: [100_000, 200_000] });
    const { backend, reports } = rig.incarnation(1);
    backend.armFence(farFuture);
    const startedAtUs = rig.world.queue.timeUs;
    createAndStart(backend, 5, token(1));
    assert.deepEqual(rig.observed, [{ vmId: 5, placement: 1, running: true, atUs: startedAtUs }]);
    assert.equal(reports.length, 0, "reports never arrive inside the call");
    rig.run(() => rig.vmHost.status(5)?.state === "running");
    const bootUs = rig.world.queue.timeUs - startedAtUs;
    assert.ok(bootUs >= 100_000 && bootUs <= 200_000, `boot took ${bootUs} us`);
    rig.run(() => reports.some((r) => r.kind === "instance" && r.status.state === "running"));
    assert.deepEqual(
      reports.map((r) => (r.kind === "instance" ? `${r.kind}:${r.status.state}` : r.kind)),
      ["created", "instance:booting", "instance:running"],
    );
  });

  test("a VM crashes within its window when the crash rate says so, and the observer sees it stop", () => {
    const rig = makeRig({ crashPermille: 1000, crashWithinUs: 1_000_000 });
    const { backend, reports } = rig.incarnation(1);
    backend.armFence(farFuture);
    createAndStart(backend, 1, token(1));
    rig.run(() => rig.vmHost.status(1)?.exit === "crashed");
    assert.deepEqual(rig.observed.map((o) => o.running), [true, false]);
    rig.run(() => reports.some((r) => r.kind === "instance" && r.status.exit === "crashed"));
    assert.equal(rig.vmHost.stats.crashes, 1);
  });

  test("a hung VM answers the process probe but not TCP, and ignores a graceful stop until the grace ends", () => {
    const rig = makeRig({ hangPermille: 1000 });
    const { backend, reports } = rig.incarnation(1);
    backend.armFence(farFuture);
    createAndStart(backend, 1, token(1));
    rig.run(() => rig.vmHost.status(1)?.state === "running");
    backend.probe(1, { kind: "process" });
    backend.probe(1, { kind: "tcp", port: 22, timeoutMs: 100 });
    rig.run(() => reports.filter((r) => r.kind === "probed").length === 2);
    assert.deepEqual(reports.filter((r) => r.kind === "probed").map((r) => (r.kind === "probed" ? `${r.probe}:${r.ok}` : "")), ["process:true", "tcp:false"]);
    const stopAtUs = rig.world.queue.timeUs;
    backend.stop(1, 300);
    rig.run(() => rig.vmHost.status(1)?.state === "stopped");
    assert.equal(rig.vmHost.status(1)?.exit, "killed");
    assert.equal(rig.world.queue.timeUs - stopAtUs, 300_000);
  });

  test("a start with an older placement or an older epoch is refused, with a report saying which", () => {
    const rig = makeRig();
    const { backend, reports } = rig.incarnation(1);
    backend.armFence(farFuture);
    createAndStart(backend, 1, token(2, 3));
    backend.kill(1);
    backend.start(1, token(1, 3));
    backend.start(1, token(2, 2));
    rig.run(() => reports.filter((r) => r.kind === "start-refused").length === 2);
    const refusals = reports.flatMap((r) => (r.kind === "start-refused" ? [r.refusal] : []));
    assert.deepEqual(refusals, ["stale-placement", "stale-epoch"]);
    assert.deepEqual(rig.observed.map((o) => `${o.placement}:${o.running}`), ["2:true", "2:false"]);
  });

  test("planted bug backend-accepts-stale-token: the same stale start runs", () => {
    const rig = makeRig({ plantedBugs: ["backend-accepts-stale-token"] });
    const { backend } = rig.incarnation(1);
    backend.armFence(farFuture);
    createAndStart(backend, 1, token(2, 3));
    backend.kill(1);
    backend.start(1, token(1, 3));
    assert.deepEqual(rig.observed.map((o) => `${o.placement}:${o.running}`), ["2:true", "2:false", "1:true"]);
  });

  test("no start before the guard is armed, nor after its deadline", () => {
    const rig = makeRig();
    const { backend, reports } = rig.incarnation(1);
    createAndStart(backend, 1, token(1));
    rig.run(() => reports.some((r) => r.kind === "start-refused"));
    const refusal = reports.find((r) => r.kind === "start-refused");
    assert.ok(refusal?.kind === "start-refused");
    assert.equal(refusal.refusal, "fence-expired");
    assert.equal(rig.observed.length, 0);
  });

  test("the guard kills every VM when the host's clock reaches the deadline, while the node process is paused", () => {
    const rig = makeRig({}, -100_000); // a slow clock: the guard's true time is later than the deadline's number
    assert.equal(rig.host.clock.driftPpm, -100_000, "seed 7 draws the slow side of the bound");
    const { backend, reports } = rig.incarnation(1);
    const deadlineUs = rig.host.clock.nowUs() + 1_000_000;
    backend.armFence(deadlineUs);
    createAndStart(backend, 1, token(1));
    createAndStart(backend, 2, token(1));
    rig.world.pause(rig.host, rig.world.queue.timeUs + 10_000_000);
    rig.run(() => rig.vmHost.runningCount() === 0);
    assert.ok(rig.host.clock.nowUs() >= deadlineUs, "not before the deadline");
    // The first microsecond at which the slow clock reads the deadline: 1 s / 0.9, rounded up.
    assert.equal(rig.world.queue.timeUs, Math.ceil(1_000_000 / 0.9));
    assert.deepEqual([rig.vmHost.status(1)?.exit, rig.vmHost.status(2)?.exit], ["fenced", "fenced"]);
    assert.equal(reports.filter((r) => r.kind === "instance" && r.status.exit === "fenced").length, 0, "the paused process hears nothing yet");
    rig.run(() => reports.filter((r) => r.kind === "instance" && r.status.exit === "fenced").length === 2);
    assert.ok(rig.world.queue.timeUs >= 10_000_000, "reports wait for the pause to end");
    assert.equal(rig.threw.length, 0);
  });

  test("a re-armed guard replaces its deadline; a deadline already passed kills at once", () => {
    const rig = makeRig();
    const { backend } = rig.incarnation(1);
    backend.armFence(rig.host.clock.nowUs() + 1_000_000);
    createAndStart(backend, 1, token(1));
    backend.armFence(rig.host.clock.nowUs() + 5_000_000);
    rig.runFor(2_000_000);
    assert.equal(rig.vmHost.runningCount(), 1, "the first deadline no longer holds");
    backend.armFence(rig.host.clock.nowUs());
    assert.equal(rig.vmHost.runningCount(), 0);
  });

  test("VMs survive a process crash, and the next incarnation adopts them with list()", () => {
    const rig = makeRig();
    const first = rig.incarnation(1);
    first.backend.armFence(farFuture);
    createAndStart(first.backend, 3, token(4));
    rig.run(() => rig.vmHost.status(3)?.state === "running");
    rig.world.endProcess(rig.host);
    const second = rig.incarnation(2);
    second.backend.list();
    rig.run(() => second.reports.some((r) => r.kind === "listed"));
    const listed = second.reports.find((r) => r.kind === "listed");
    assert.ok(listed?.kind === "listed");
    assert.deepEqual(listed.instances, [{ vmId: 3, state: "running", token: token(4), exit: "none" }]);
    assert.equal(listed.fenceDeadlineUs, farFuture);
    assert.deepEqual(rig.observed.map((o) => o.running), [true]);
  });

  test("VMs die with the host, and the guard with them", () => {
    const rig = makeRig();
    const { backend } = rig.incarnation(1);
    backend.armFence(farFuture);
    createAndStart(backend, 1, token(1));
    createAndStart(backend, 2, token(1));
    rig.world.endProcess(rig.host);
    rig.vmHost.hostCrashed();
    assert.deepEqual(rig.observed.map((o) => `${o.vmId}:${o.running}`), ["1:true", "2:true", "1:false", "2:false"]);
    assert.equal(rig.vmHost.runningCount(), 0);
    assert.equal(rig.vmHost.armedFenceDeadlineUs, 0);
    rig.runFor(5_000_000); // nothing queued before the crash acts after it
    assert.equal(rig.observed.length, 4);
    assert.equal(rig.threw.length, 0);
  });
});
