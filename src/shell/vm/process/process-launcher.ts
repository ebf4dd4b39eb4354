// The VmLauncher of kind "process": a VM is a plain child process under the same guard as a QEMU
// VM (docs/VMS.md, "The process backend"). It serves hosts without QEMU and tests that need many
// cheap VMs.
//   image.kernel == DEFAULT_IMAGE  the built-in guest (process-guest.mjs, node: builtins only),
//                                  which speaks GUEST_LINES like the default QEMU image; its
//                                  graceful stop is the console's POWEROFF line;
//   anything else                  argv = [image.kernel, ...kernelCmdline split on whitespace],
//                                  stopped gracefully with SIGTERM.
// Either gets BLIXARD_VM_ID and BLIXARD_VM_NAME; the built-in guest also BLIXARD_GUEST_HTTP_PORT,
// the host port of the spec's first tcp port forward (a process has no guest network: it listens
// on the host port itself).

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { isAbsolute } from "node:path";
import { assert } from "../../../core/assert.ts";
import type { VmInstanceSpec } from "../../../core/agent/vm-backend.ts";
import { DEFAULT_IMAGE, GUEST_LINES, type LaunchPlan, type VmLauncher } from "../launch-plan.ts";

export const PROCESS_GUEST_SCRIPT = fileURLToPath(new URL("./process-guest.mjs", import.meta.url));

/** Arguments a command line may split into (kernelCmdline is at most 4096 bytes anyway). */
const ARGS_MAX = 1024;

export class ProcessLauncher implements VmLauncher {
  readonly kind = "process" as const;
  readonly description = "process";

  constructor(private readonly nodeExecutable: string = process.execPath) {
    assert(isAbsolute(nodeExecutable), "the node executable is an absolute path");
  }

  plan(instance: VmInstanceSpec, vmDir: string): LaunchPlan | { readonly error: string } {
    assert(isAbsolute(vmDir), "a vm directory is absolute");
    return processLaunchPlan(instance, this.nodeExecutable, existsSync);
  }
}

/** The pure part of ProcessLauncher.plan; `exists` answers for paths (tests pass their own). */
export function processLaunchPlan(instance: VmInstanceSpec, nodeExecutable: string, exists: (path: string) => boolean): LaunchPlan | { readonly error: string } {
  const { spec } = instance;
  const env: Record<string, string> = { BLIXARD_VM_ID: String(instance.vmId), BLIXARD_VM_NAME: spec.name };
  if (spec.image.kernel === DEFAULT_IMAGE) {
    const forward = firstTcpForward(instance);
    if (forward !== undefined) env.BLIXARD_GUEST_HTTP_PORT = String(forward.hostPort);
    return { argv: [nodeExecutable, PROCESS_GUEST_SCRIPT], env, gracefulStop: { kind: "console", line: GUEST_LINES.poweroff }, qmpSocket: "" };
  }
  const command = spec.image.kernel;
  if (command === "") return { error: "image.kernel is empty: the process backend needs a command (or \"default\")" };
  if (command.includes("/") && !exists(command)) return { error: `image.kernel ${command}: no such file` };
  const args = spec.kernelCmdline.split(/\s+/).filter((arg) => arg !== "");
  if (args.length > ARGS_MAX) return { error: `kernelCmdline splits into ${args.length} arguments, more than ${ARGS_MAX}` };
  const plan: LaunchPlan = { argv: [command, ...args], env, gracefulStop: { kind: "signal", signal: "SIGTERM" }, qmpSocket: "" };
  assert(plan.argv.length >= 1, "a plan runs something");
  return plan;
}

function firstTcpForward(instance: VmInstanceSpec): { readonly hostPort: number } | undefined {
  for (const network of instance.spec.interfaces) {
    for (const forward of network.portForwards) if (forward.protocol === "tcp") return forward;
  }
  return undefined;
}
