// The node agent (src/core/agent/node-agent.ts) in the simulated world, with the simulator's VM
// backend and a stand-in cluster (fake-cluster.ts) whose controller checks, when it declares a
// node down, that none of its VMs runs: a normal start, a partition, a pause past the lease (the
// guard kills; the node wakes, finds its epoch stale, re-registers), and a process crash (the
// next incarnation adopts the running VM without stopping it). Clocks drift at the bound: the
// agent's host slow, the controller's fast, the worst pair.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { defaultLeaseTiming, controllerDeclareDownAfterUs } from "../../../src/core/agent/lease-timing.ts";
import { NodeAgent, defaultReconcileIntervalUs } from "../../../src/core/agent/node-agent.ts";
import { defaultReconcilerOptions, type AgentPlantedBug } from "../../../src/core/agent/reconciler.ts";
import { noFailpoints } from "../../../src/core/env/environment.ts";
import { noCoverage } from "../../../src/core/env/coverage-points.ts";
import { FAULT_PROFILES } from "../../../src/core/sim/fault-profile.ts";
import { DEFAULT_NETWORK_LIMITS } from "../../../src/core/sim/network.ts";
import { Prng } from "../../../src/core/sim/prng.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { SimVmHost, defaultSimVmHostOptions } from "../../../src/core/sim/sim-vm-backend.ts";
import { World, type SimHost } from "../../../src/core/sim/world.ts";
import { runQueueUntil } from "../../support/simulated-time.ts";
import { NODE_ID, registration } from "./agent-rig.ts";
import { FakeCluster } from "./fake-cluster.ts";

/** A seed whose two clocks fall on opposite sides of the bound: agent host slow, controller host fast. */
function makeWorld(seedNumber: number) {
  const threw: unknown[] = [];
  const world = new World(
    {
      seed: seedFromNumber(seedNumber),
      hostCount: 2,
      clientCount: 0,
      profile: { ...FAULT_PROFILES.none!, clockDriftMaxPpm: 100_000, clockDriftAtBound: true },
      eventQueueMax: 100_000,
      networkLimits: DEFAULT_NETWORK_LIMITS,
      timersPerHostMax: 1_000,
      failpointFor: () => noFailpoints,
      reached: noCoverage,
      cpuEventUs: 0,
      mayCorrupt: () => false,
      traceLines: undefined,
    },
    { stopped: () => threw.length > 0, threw: (_host, error) => threw.push(error), afterStep: () => {}, raftSent: () => {} },
  );
  return { world, threw };
}

function findSlowFastSeed(): number {
  for (let seed = 1; seed < 100; seed++) {
    const { world } = makeWorld(seed);
    if (world.host(NODE_ID).clock.driftPpm < 0 && world.host(1).clock.driftPpm > 0) return seed;
  }
  throw new Error("no seed with a slow agent clock and a fast controller clock");
}

function makeRig(plantedBugs: AgentPlantedBug[] = []) {
  const { world, threw } = makeWorld(findSlowFastSeed());
  const agentHost: SimHost = world.host(NODE_ID);
  const running = new Map<string, boolean>();
  const stale: string[] = [];
  const history: string[] = [];
  const vmHost = new SimVmHost(NODE_ID, world.queue, agentHost.clock, Prng.stream(seedFromNumber(1), "vms-2"), (nodeId, vmId, token, isRunning) => {
    running.set(`${vmId}@${token.epoch}/${token.placement}`, isRunning);
    history.push(`${world.queue.timeUs} ${nodeId} ${vmId}@${token.epoch}/${token.placement} ${isRunning}`);
  }, defaultSimVmHostOptions);
  const cluster = new FakeCluster(world.queue, world.host(1).clock, defaultLeaseTiming, () => vmHost.runningCount());
  let agent: NodeAgent | undefined;
  const startIncarnation = (number: number): NodeAgent => {
    const process = world.startProcess(agentHost, number);
    agent = new NodeAgent(process.env, vmHost.backendFor(process.env), cluster.submitFor(process.env), () => cluster, {
      reconciler: { ...defaultReconcilerOptions(registration, defaultLeaseTiming), plantedBugs },
      reconcileIntervalUs: defaultReconcileIntervalUs,
    });
    agent.start();
    return agent;
  };
  const crashProcess = (): void => {
    agent?.stop();
    world.endProcess(agentHost);
  };
  const run = (condition: () => boolean, budgetMs: number) => {
    runQueueUntil(world.queue, () => threw.length > 0 || condition(), budgetMs);
    if (threw.length > 0) throw threw[0];
  };
  const runFor = (ms: number) => {
    const untilUs = world.queue.timeUs + ms * 1000;
    run(() => world.queue.timeUs >= untilUs || (world.queue.peekTimeUs() ?? Infinity) > untilUs, ms + 1);
  };
  return { world, agentHost, vmHost, cluster, startIncarnation, crashProcess, run, runFor, running, stale, history, agent: () => agent! };
}

describe("node agent in the simulated world", () => {
  test("registers, starts its VM and reports it running", () => {
    const rig = makeRig();
    rig.cluster.addVm(10, NODE_ID);
    const agent = rig.startIncarnation(1);
    rig.run(() => rig.cluster.vm(10)?.observed.phase === "running", 5_000);
    assert.equal(agent.reconciler.epoch, 1);
    assert.equal(rig.vmHost.status(10)?.state, "running");
    rig.runFor(30_000);
    assert.equal(rig.cluster.declaredDownAtTrueUs.length, 0, "a renewing node is never declared down");
    assert.ok(agent.reconciler.stats.renewals >= 25, `renewed ${agent.reconciler.stats.renewals} times in 30 s`);
  });

  test("a partitioned node fences before the controller declares it down; healed, it finds its epoch stale and re-registers", () => {
    const rig = makeRig();
    rig.cluster.addVm(10, NODE_ID);
    const agent = rig.startIncarnation(1);
    rig.run(() => rig.vmHost.status(10)?.state === "running", 5_000);
    rig.cluster.cutOff.add(NODE_ID);
    const cutAtUs = rig.world.queue.timeUs;
    rig.run(() => rig.cluster.declaredDownAtTrueUs.length === 1, 30_000); // the controller asserts no VM runs then
    assert.equal(rig.vmHost.status(10)?.exit, "killed", "the agent's own fence killed it (its process ran)");
    const declaredAfterUs = rig.cluster.declaredDownAtTrueUs[0]! - cutAtUs;
    assert.ok(declaredAfterUs >= controllerDeclareDownAfterUs(defaultLeaseTiming) / 1.1 - 1_000_000, `declared ${declaredAfterUs} us after the cut`);
    rig.cluster.cutOff.delete(NODE_ID);
    rig.run(() => agent.reconciler.epoch === 2 && rig.vmHost.status(10)?.state === "running", 10_000);
    assert.equal(agent.reconciler.stats.downs, 1);
    assert.equal(rig.vmHost.status(10)?.token?.epoch, 2, "started again under the new epoch's token");
  });

  test("a node paused past its lease: the guard kills its VMs on time; it wakes, finds its epoch stale, and re-registers", () => {
    const rig = makeRig();
    rig.cluster.addVm(10, NODE_ID);
    const agent = rig.startIncarnation(1);
    rig.run(() => rig.vmHost.status(10)?.state === "running", 5_000);
    rig.world.pause(rig.agentHost, rig.world.queue.timeUs + 30_000_000);
    rig.run(() => rig.cluster.declaredDownAtTrueUs.length === 1, 30_000);
    assert.equal(rig.vmHost.status(10)?.exit, "fenced", "the guard, not the paused agent, killed it");
    rig.run(() => agent.reconciler.epoch === 2 && rig.vmHost.status(10)?.state === "running", 40_000);
    assert.equal(agent.reconciler.stats.downs, 1);
    assert.ok(agent.reconciler.lastDownReason.includes("stale-epoch") || agent.reconciler.lastDownReason.includes("down"), agent.reconciler.lastDownReason);
  });

  test("a process crash leaves the VM running; the next incarnation adopts it and keeps renewing", () => {
    const rig = makeRig();
    rig.cluster.addVm(10, NODE_ID);
    rig.startIncarnation(1);
    rig.run(() => rig.cluster.vm(10)?.observed.phase === "running", 5_000);
    const token = rig.vmHost.status(10)?.token;
    rig.crashProcess();
    rig.runFor(2_000);
    const second = rig.startIncarnation(2);
    rig.runFor(20_000);
    assert.deepEqual(rig.vmHost.status(10)?.token, token);
    assert.equal(rig.vmHost.status(10)?.state, "running", "adopted, never stopped");
    assert.equal(rig.vmHost.stats.starts, 1);
    assert.equal(second.reconciler.epoch, 1);
    assert.equal(rig.cluster.declaredDownAtTrueUs.length, 0);
    assert.ok(!rig.cluster.commands.slice(1).includes("node-register"), "joined by heartbeat, not by registering again");
    assert.equal(new Set(rig.cluster.requestIds).size, rig.cluster.requestIds.length, "request ids are unique across incarnations");
  });

  test("deterministic: the same run twice gives the same VM history, commands and request ids", () => {
    const once = () => {
      const rig = makeRig();
      rig.cluster.addVm(10, NODE_ID);
      rig.cluster.addVm(11, NODE_ID);
      rig.startIncarnation(1);
      rig.runFor(3_000);
      rig.cluster.cutOff.add(NODE_ID);
      rig.runFor(15_000);
      rig.cluster.cutOff.delete(NODE_ID);
      rig.runFor(5_000);
      return { history: rig.history, commands: rig.cluster.commands, requestIds: rig.cluster.requestIds };
    };
    const first = once();
    assert.ok(first.history.length >= 6, `a run with starts, fences and restarts (${first.history.length} changes)`);
    assert.deepEqual(once(), first);
  });

  test("planted bug lease-on-wall-clock: a wall clock stepped back 5 s stretches the lease past the controller's declare time; with the bug off the same run is safe", () => {
    const run = (plantedBugs: AgentPlantedBug[]) => {
      const rig = makeRig(plantedBugs);
      rig.cluster.addVm(10, NODE_ID);
      rig.startIncarnation(1);
      rig.run(() => rig.vmHost.status(10)?.state === "running", 5_000);
      rig.cluster.cutOff.add(NODE_ID);
      rig.agentHost.clock.jump(-5_000_000); // an NTP step back, on the agent's host only
      rig.run(() => rig.cluster.declaredDownAtTrueUs.length === 1, 30_000);
    };
    run([]);
    assert.throws(() => run(["lease-on-wall-clock"]), /declared down .* with VMs running/);
  });

  test("planted bug no-self-fence: a paused node's VM outlives its lease, and the controller's check fires", () => {
    const rig = makeRig(["no-self-fence"]);
    rig.cluster.addVm(10, NODE_ID);
    rig.startIncarnation(1);
    rig.run(() => rig.vmHost.status(10)?.state === "running", 5_000);
    rig.world.pause(rig.agentHost, rig.world.queue.timeUs + 30_000_000);
    assert.throws(() => rig.run(() => rig.cluster.declaredDownAtTrueUs.length === 1, 30_000), /declared down .* with VMs running/);
  });
});
