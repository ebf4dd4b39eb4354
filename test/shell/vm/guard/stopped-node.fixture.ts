// A stand-in node process for the guard test "a SIGSTOPped node process does not matter": a
// HostVmBackend with the process launcher that creates and starts VM 5, renews its fence every
// 100 ms for <leaseMs> ahead (as an agent renews its lease), and prints "running" once the VM
// runs. The test SIGSTOPs this process; the VM's guard must fence the VM by the last deadline.
//   node --import tsx stopped-node.fixture.ts <vmsDir> <leaseMs>
import { HostVmBackend } from "../../../../src/shell/vm/host-backend.ts";
import { ProcessLauncher } from "../../../../src/shell/vm/process/process-launcher.ts";
import { systemMonotonicClock } from "../../../../src/shell/os/system-environment.ts";
import { vmSpec } from "../../../support/cluster-view-fixture.ts";
import { DEFAULT_IMAGE } from "../../../../src/shell/vm/launch-plan.ts";
import { silentLog } from "../vm-test-support.ts";

const [vmsDir, leaseText] = process.argv.slice(2);
const leaseUs = Number(leaseText) * 1000;
const backend = new HostVmBackend({ vmsDir, launcher: new ProcessLauncher(), monotonicNowUs: systemMonotonicClock.nowUs, log: silentLog, limits: { fencePollMs: 100 } });
const renew = (): void => backend.armFence(systemMonotonicClock.nowUs() + leaseUs);
renew();
setInterval(renew, 100);
backend.subscribe((report) => {
  if (report.kind === "created") backend.start(5, { nodeId: 1, epoch: 1, placement: 1 });
  if (report.kind === "instance" && report.status.state === "running") process.stdout.write("running\n");
  if (report.kind === "start-refused" || report.kind === "create-failed") process.stdout.write(`failed ${JSON.stringify(report)}\n`);
});
const base = vmSpec({ id: 5 });
backend.create({ vmId: 5, spec: { ...base, image: { ...base.image, kernel: DEFAULT_IMAGE } }, addresses: [] });
