// The process backend's launch plans: the built-in guest for image "default", a command otherwise.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { VmInstanceSpec } from "../../../../src/core/agent/vm-backend.ts";
import { DEFAULT_IMAGE, GUEST_LINES } from "../../../../src/shell/vm/launch-plan.ts";
import { PROCESS_GUEST_SCRIPT, ProcessLauncher, processLaunchPlan } from "../../../../src/shell/vm/process/process-launcher.ts";
import { vmSpec } from "../../../support/cluster-view-fixture.ts";

function instance(kernel: string, kernelCmdline = "", hostPort = 0): VmInstanceSpec {
  const base = vmSpec({ id: 7 });
  const interfaces = hostPort === 0 ? [] : [{ mode: "user" as const, ipPool: "", portForwards: [{ protocol: "udp" as const, hostPort: 1, guestPort: 1 }, { protocol: "tcp" as const, hostPort, guestPort: 80 }] }];
  return { vmId: 7, spec: { ...base, image: { ...base.image, kernel }, kernelCmdline, interfaces }, addresses: [] };
}

describe("process launcher", () => {
  test("image default runs the built-in guest, stopped by the console's POWEROFF line, serving HTTP on the first tcp forward's host port", () => {
    const plan = processLaunchPlan(instance(DEFAULT_IMAGE, "", 18080), "/usr/bin/node", () => false);
    assert.deepEqual(plan, {
      argv: ["/usr/bin/node", PROCESS_GUEST_SCRIPT],
      env: { BLIXARD_VM_ID: "7", BLIXARD_VM_NAME: "vm-7", BLIXARD_GUEST_HTTP_PORT: "18080" },
      gracefulStop: { kind: "console", line: GUEST_LINES.poweroff },
      qmpSocket: "",
    });
  });

  test("any other image is a command: kernel then the command line split on whitespace, stopped with SIGTERM", () => {
    const plan = processLaunchPlan(instance("/bin/sleep", "  1000 \t extra  "), "/usr/bin/node", (path) => path === "/bin/sleep");
    assert.deepEqual(plan, { argv: ["/bin/sleep", "1000", "extra"], env: { BLIXARD_VM_ID: "7", BLIXARD_VM_NAME: "vm-7" }, gracefulStop: { kind: "signal", signal: "SIGTERM" }, qmpSocket: "" });
    // A bare name is looked up on PATH at spawn: not checked here.
    assert.ok("argv" in processLaunchPlan(instance("sleep", "5"), "/n", () => false));
  });

  test("a missing command or an empty kernel is an error naming it", () => {
    assert.deepEqual(processLaunchPlan(instance("/no/such", ""), "/n", () => false), { error: "image.kernel /no/such: no such file" });
    assert.match((processLaunchPlan(instance(""), "/n", () => true) as { error: string }).error, /image.kernel is empty/);
  });

  test("the launcher says what it is", () => {
    const launcher = new ProcessLauncher();
    assert.equal(launcher.kind, "process");
    assert.equal(launcher.description, "process");
    assert.ok("argv" in launcher.plan(instance(DEFAULT_IMAGE), "/tmp/x"));
  });
});
