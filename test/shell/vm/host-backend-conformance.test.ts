// The host backend behaves like the simulator's (the reference semantics of vm-backend.ts): one
// script of calls, run against SimVmHost and against HostVmBackend with the process launcher,
// must produce the same reports (kinds, states, exits, tokens, refusals; details aside), in order.

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { BackendReport, VmBackend, VmInstanceSpec } from "../../../src/core/agent/vm-backend.ts";
import type { FencingToken } from "../../../src/core/cluster/types.ts";
import { noFailpoints } from "../../../src/core/env/environment.ts";
import { noCoverage } from "../../../src/core/env/coverage-points.ts";
import { FAULT_PROFILES } from "../../../src/core/sim/fault-profile.ts";
import { DEFAULT_NETWORK_LIMITS } from "../../../src/core/sim/network.ts";
import { Prng } from "../../../src/core/sim/prng.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { SimVmHost, defaultSimVmHostOptions } from "../../../src/core/sim/sim-vm-backend.ts";
import { World } from "../../../src/core/sim/world.ts";
import { systemMonotonicClock } from "../../../src/shell/os/system-environment.ts";
import { HostVmBackend } from "../../../src/shell/vm/host-backend.ts";
import { DEFAULT_IMAGE } from "../../../src/shell/vm/launch-plan.ts";
import { ProcessLauncher } from "../../../src/shell/vm/process/process-launcher.ts";
import { runQueueUntil } from "../../support/simulated-time.ts";
import { waitUntil } from "../../support/wait-until.ts";
import { testVmSpec } from "../../core/agent/test-vm-spec.ts";
import { VmTestScope, silentLog } from "./vm-test-support.ts";

const scope = new VmTestScope();
const closers: (() => void)[] = [];
after(() => {
  for (const close of closers) close();
  scope.clean();
});

const instance: VmInstanceSpec = { vmId: 3, spec: { ...testVmSpec, image: { ...testVmSpec.image, kernel: DEFAULT_IMAGE } }, addresses: [] };
const token = (epoch: number, placement: number): FencingToken => ({ nodeId: 1, epoch, placement });

/** One step: a call, and the report that ends it (every report up to that one belongs to the step). */
interface Step {
  readonly call: (backend: VmBackend, monotonicNowUs: () => number) => void;
  readonly endsWith: (report: BackendReport) => boolean;
}

const ended =
  (kind: BackendReport["kind"], state?: string) =>
  (report: BackendReport): boolean =>
    report.kind === kind && (state === undefined || (report.kind === "instance" && report.status.state === state));

const SCRIPT: readonly Step[] = [
  { call: (b) => b.create(instance), endsWith: ended("created") },
  { call: (b) => b.start(3, token(1, 1)), endsWith: ended("start-refused") }, // never armed
  { call: (b, now) => (b.armFence(now() + 600_000_000), b.start(3, token(1, 1))), endsWith: ended("instance", "running") },
  { call: (b) => b.start(3, token(1, 1)), endsWith: ended("start-refused") }, // running: not startable
  { call: (b) => b.stop(3, 10_000), endsWith: ended("instance", "stopped") },
  { call: (b) => b.stop(3, 10_000), endsWith: ended("instance", "stopped") }, // already down: says so
  { call: (b) => b.start(3, token(2, 2)), endsWith: ended("instance", "running") },
  { call: (b) => b.kill(3), endsWith: ended("instance", "stopped") },
  { call: (b) => b.start(3, token(2, 1)), endsWith: ended("start-refused") }, // stale placement
  { call: (b) => b.start(3, token(1, 3)), endsWith: ended("start-refused") }, // stale epoch
  { call: (b) => b.start(9, token(2, 3)), endsWith: ended("start-refused") }, // unknown vm
  { call: (b) => b.list(), endsWith: ended("listed") },
  { call: (b) => b.delete(3), endsWith: ended("deleted") },
  { call: (b) => b.list(), endsWith: ended("listed") },
];

/** What must be equal: the reports without free text and without the armed deadline (clocks differ). */
function normalized(report: BackendReport): unknown {
  switch (report.kind) {
    case "start-refused":
      return { kind: report.kind, vmId: report.vmId, token: report.token, refusal: report.refusal };
    case "listed":
      return { kind: report.kind, instances: report.instances, armed: report.fenceDeadlineUs > 0 };
    case "probed":
      return { kind: report.kind, vmId: report.vmId, probe: report.probe, ok: report.ok, status: report.status };
    case "console":
      return { kind: report.kind, vmId: report.vmId };
    default:
      return report;
  }
}

function runOnSimulator(): unknown[][] {
  const world = new World(
    {
      seed: seedFromNumber(3),
      hostCount: 1,
      clientCount: 0,
      profile: FAULT_PROFILES.none!,
      eventQueueMax: 10_000,
      networkLimits: DEFAULT_NETWORK_LIMITS,
      timersPerHostMax: 100,
      failpointFor: () => noFailpoints,
      reached: noCoverage,
      cpuEventUs: 0,
      mayCorrupt: () => false,
      traceLines: undefined,
    },
    { stopped: () => false, threw: (_host, error) => assert.fail(String(error)), afterStep: () => {}, raftSent: () => {} },
  );
  const host = world.host(1);
  const vmHost = new SimVmHost(1, world.queue, host.clock, Prng.stream(seedFromNumber(3), "vms-1"), () => {}, defaultSimVmHostOptions);
  const backend = vmHost.backendFor(world.startProcess(host, 1).env);
  const reports: BackendReport[] = [];
  backend.subscribe((report) => reports.push(report));
  const steps: unknown[][] = [];
  for (const step of SCRIPT) {
    const from = reports.length;
    step.call(backend, () => host.clock.nowUs());
    runQueueUntil(world.queue, () => reports.slice(from).some(step.endsWith), 60_000);
    steps.push(reports.slice(from).map(normalized));
  }
  return steps;
}

async function runOnHost(): Promise<unknown[][]> {
  const backend = new HostVmBackend({ vmsDir: scope.tempDir(), launcher: new ProcessLauncher(), monotonicNowUs: systemMonotonicClock.nowUs, log: silentLog, nodeId: 1 });
  closers.push(() => backend.close());
  const reports: BackendReport[] = [];
  backend.subscribe((report) => reports.push(report));
  const steps: unknown[][] = [];
  for (const [index, step] of SCRIPT.entries()) {
    const from = reports.length;
    step.call(backend, systemMonotonicClock.nowUs);
    await waitUntil(`step ${index} ends`, () => reports.slice(from).some(step.endsWith));
    steps.push(reports.slice(from).map(normalized));
  }
  return steps;
}

describe("host backend conformance with the simulator's backend", () => {
  test("one script, the same reports step by step", async () => {
    const simulated = runOnSimulator();
    const real = await runOnHost();
    // Not vacuous: the start is booting then running, the stop stopping then stopped.
    assert.deepEqual(simulated[2].map((r) => (r as { status?: { state: string } }).status?.state), ["booting", "running"]);
    assert.deepEqual(simulated[4].map((r) => (r as { status?: { state: string } }).status?.state), ["stopping", "stopped"]);
    for (let i = 0; i < SCRIPT.length; i++) assert.deepEqual(real[i], simulated[i], `step ${i}`);
  });
});
