// What `blixard up` needs from the VM side: which backend to use and why, the default image
// (built on first use), whether every node's agent has registered, and stopping the VMs the nodes
// left running once they are gone.
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { guardRequest } from "../vm/guard/guard-client.ts";
import { defaultImageDir } from "../vm/image/image-dir.ts";
import { ensureDefaultImage, ImageBuildError } from "../vm/image/image-builder.ts";
import { detectQemu } from "../vm/qemu/qemu-launcher.ts";
import type { ApiClients } from "../api/client.ts";
import { UsageError } from "../cli/usage-error.ts";
import { Code, ConnectError } from "@connectrpc/connect";
import type { UpNode } from "./up-layout.ts";

export interface BackendChoice {
  readonly backend: "qemu" | "process";
  readonly why: string;
  /** How the summary names it. */
  readonly line: string;
}

/** The backend `up` uses: what was asked for, or (auto) qemu when detectQemu finds it; and why. */
export async function upBackendChoice(asked: string): Promise<BackendChoice> {
  if (asked === "process") return { backend: "process", why: "--backend process", line: "process" };
  const qemu = await detectQemu();
  if (asked === "qemu") {
    if (!qemu.available) throw new UsageError(`--backend qemu: ${qemu.reason}`);
    return { backend: "qemu", why: `--backend qemu: ${qemu.version}`, line: "qemu" };
  }
  if (qemu.available) return { backend: "qemu", why: `${qemu.version} found on PATH`, line: "qemu" };
  return { backend: "process", why: `${qemu.reason}; install qemu-system-x86 and busybox-static for real microVMs`, line: "process" };
}

/** Builds the default image when it is missing (saying so), so the first VM can boot. */
export async function upImage(imageDir: string, say: (line: string) => void): Promise<void> {
  const dir = imageDir === "" ? defaultImageDir() : imageDir;
  try {
    await ensureDefaultImage(dir, say);
  } catch (error) {
    if (error instanceof ImageBuildError) throw new UsageError(`the default guest image: ${error.message} (or run with --backend process)`);
    throw error;
  }
}

/** undefined once `nodes` nodes are registered and ready, else what is still awaited. */
export async function upNodesReady(clients: ApiClients, nodes: number): Promise<string | undefined> {
  const listed = await clients.node.list({ limit: 50 });
  const ready = listed.nodes.filter((node) => node.state === "ready").length;
  return ready >= nodes ? undefined : `every node's agent to register (${ready} of ${nodes} ready)`;
}

const VM_STOP_GRACE_MS = 5_000;
const GUARD_ANSWER_MS = 2_000;

/**
 * Stops every VM the nodes left running: a graceful stop through each VM's guard, then a kill of
 * whatever still runs after the grace period. Returns how many VMs were running.
 */
export async function upStopVms(nodes: readonly UpNode[]): Promise<number> {
  const sockets: string[] = [];
  for (const node of nodes) {
    let entries: string[] = [];
    try {
      entries = readdirSync(node.vmsDir).filter((name) => /^\d+$/.test(name)).sort();
    } catch {
      continue; // no VMs ever ran on this node
    }
    for (const entry of entries) {
      const socket = join(node.vmsDir, entry, "guard.sock");
      if (existsSync(socket)) sockets.push(socket);
    }
  }
  const running = await Promise.all(sockets.map(async (socket) => {
    const answer = await guardRequest(socket, { op: "stop", graceMs: VM_STOP_GRACE_MS }, GUARD_ANSWER_MS);
    return answer.ok && answer.state.state !== "stopped" ? socket : undefined;
  }));
  const stopping = running.filter((socket): socket is string => socket !== undefined);
  // The guard kills at the end of the grace period itself; wait for it to go, then make sure.
  const deadline = Date.now() + VM_STOP_GRACE_MS + GUARD_ANSWER_MS;
  for (const socket of stopping) {
    while (Date.now() < deadline && existsSync(socket)) {
      const answer = await guardRequest(socket, { op: "status" }, GUARD_ANSWER_MS);
      if (!answer.ok || answer.state.state === "stopped") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const last = await guardRequest(socket, { op: "status" }, GUARD_ANSWER_MS);
    if (last.ok && last.state.state !== "stopped") await guardRequest(socket, { op: "kill" }, GUARD_ANSWER_MS);
  }
  return stopping.length;
}

/** The tenant VMs go to when a spec names none. */
export const UP_DEFAULT_TENANT = "default";
/** A local cluster's default tenant may use the whole cluster (quotas are for shared ones). */
const UP_DEFAULT_QUOTA = { vmsMax: 1_000n, vcpusMax: 1_024n, memoryMibMax: 1_048_576n, diskGibMax: 10_240n, vmsPerNodeMax: 1_000n };

/** Creates the default tenant on a new cluster (an existing one keeps the quota it has). */
export async function upDefaultTenant(clients: ApiClients): Promise<void> {
  try {
    await clients.tenant.getQuota({ tenant: UP_DEFAULT_TENANT });
    return;
  } catch (error) {
    if (!(error instanceof ConnectError) || error.code !== Code.NotFound) throw error;
  }
  await clients.tenant.setQuota({ tenant: UP_DEFAULT_TENANT, quota: UP_DEFAULT_QUOTA, requestId: `up-default-tenant` });
}
