// A small VM spec for the agent and VM backend tests.
import type { VmSpec } from "../../../src/core/cluster/types.ts";

export const testVmSpec: VmSpec = {
  tenant: "t",
  name: "vm",
  resources: { vcpus: 1, memoryMib: 256, diskGib: 1 },
  image: { kernel: "/k", initrd: "/i", rootDisk: "" },
  kernelCmdline: "",
  interfaces: [],
  priority: 0,
  preemptible: false,
  restartPolicy: "always",
  healthCheck: { kind: "none" },
  antiAffinity: { group: "", mode: "hard", weight: 1, maxPerNode: 1 },
  constraints: [],
};
