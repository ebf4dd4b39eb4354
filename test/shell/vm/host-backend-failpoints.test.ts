// vm.start and vm.stop on the real host backend (src/shell/vm/host-backend.ts, docs/FAILPOINTS.md),
// with the process launcher: return refuses the start (naming the failpoint) before it is
// accepted, so the same token starts the VM once the point is cleared; pause holds the start
// until the point changes; sleep(MS) holds a stop at least MS; return loses a stop (the VM runs on).
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { BackendReport, VmInstanceSpec } from "../../../src/core/agent/vm-backend.ts";
import type { FencingToken } from "../../../src/core/cluster/types.ts";
import { systemMonotonicClock } from "../../../src/shell/os/system-environment.ts";
import { HostVmBackend } from "../../../src/shell/vm/host-backend.ts";
import { DEFAULT_IMAGE } from "../../../src/shell/vm/launch-plan.ts";
import { ProcessLauncher } from "../../../src/shell/vm/process/process-launcher.ts";
import { NodeFailpoints, parsePointActions } from "../../../src/shell/node/node-failpoints.ts";
import { silentLogger } from "../../../src/core/env/environment.ts";
import { waitUntil } from "../../support/wait-until.ts";
import { testVmSpec } from "../../core/agent/test-vm-spec.ts";
import { VmTestScope, silentLog } from "./vm-test-support.ts";

const scope = new VmTestScope();
const closers: (() => void)[] = [];
after(() => {
  for (const close of closers) close();
  scope.clean();
});

const instance: VmInstanceSpec = { vmId: 4, spec: { ...testVmSpec, image: { ...testVmSpec.image, kernel: DEFAULT_IMAGE } }, addresses: [] };
const token: FencingToken = { nodeId: 1, epoch: 1, placement: 1 };

function set(failpoints: NodeFailpoints, name: string, actions: string): void {
  const setting = parsePointActions(name, actions);
  assert.ok(setting.ok, setting.ok ? "" : setting.error);
  failpoints.set(setting.value);
}

const stateOf = (report: BackendReport): string | undefined => (report.kind === "instance" ? report.status.state : undefined);

describe("host backend failpoints", () => {
  test("vm.start: return refuses, pause holds until cleared; vm.stop: sleep holds the stop, return loses it", async () => {
    const failpoints = new NodeFailpoints(silentLogger);
    const backend = new HostVmBackend({ vmsDir: scope.tempDir(), launcher: new ProcessLauncher(), monotonicNowUs: systemMonotonicClock.nowUs, log: silentLog, nodeId: 1, failpoint: failpoints.hook });
    closers.push(() => backend.close());
    const reports: BackendReport[] = [];
    backend.subscribe((report) => reports.push(report));
    backend.create(instance);
    await waitUntil("created", () => reports.some((r) => r.kind === "created"));
    backend.armFence(systemMonotonicClock.nowUs() + 600_000_000);

    set(failpoints, "vm.start", "1*return(planned)");
    backend.start(4, token);
    await waitUntil("the start refused", () => reports.some((r) => r.kind === "start-refused"));
    const refused = reports.find((r) => r.kind === "start-refused");
    assert.ok(refused?.kind === "start-refused" && refused.refusal === "not-startable" && /injected by failpoint vm\.start \(planned\)/.test(refused.detail), JSON.stringify(refused));

    set(failpoints, "vm.start", "pause");
    const beforePause = reports.length;
    backend.start(4, token);
    // The start reached the point and got the pause: it waits there, reporting nothing.
    await waitUntil("the start at the paused point", () => failpoints.list().some((p) => p.name === "vm.start" && p.fired === 1));
    // An absence needs a window: an unpaused start reports booting within a few milliseconds.
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(reports.length, beforePause, "a paused start reports nothing");
    failpoints.clear("vm.start");
    await waitUntil("running once the pause is cleared", () => reports.slice(beforePause).some((r) => stateOf(r) === "running"));

    set(failpoints, "vm.stop", "1*return->sleep(300)");
    const beforeLost = reports.length;
    backend.stop(4, 10_000);
    backend.list();
    await waitUntil("listed", () => reports.slice(beforeLost).some((r) => r.kind === "listed"));
    const listed = reports.slice(beforeLost).find((r) => r.kind === "listed");
    assert.ok(listed?.kind === "listed" && listed.instances[0]?.state === "running", `a lost stop leaves the VM running: ${JSON.stringify(listed)}`);

    const startedMs = Date.now();
    const beforeStop = reports.length;
    backend.stop(4, 10_000);
    await waitUntil("stopped", () => reports.slice(beforeStop).some((r) => stateOf(r) === "stopped"), 30_000);
    assert.ok(Date.now() - startedMs >= 300, `the stop took ${Date.now() - startedMs} ms behind sleep(300)`);
    assert.deepEqual(failpoints.list().map((p) => [p.name, p.fired]), [["vm.stop", 2]]);
  });
});
