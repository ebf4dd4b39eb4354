// The host backend's token memory (<vms-dir>/tokens.json): the newest placement seen per VM and
// the newest epoch seen per node. start() checks a token against it and records the token, and
// the file is fsynced before the start is accepted: were it not, a host crash right after a start
// could forget a newer token, and the next incarnation would accept an older one (a VM running
// under a stale placement somewhere else). Written atomically (temp file, fsync, rename, fsync of
// the directory), so a reader sees the old memory or the new one.

import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { assert } from "../../core/assert.ts";
import type { FencingToken, NodeId, VmId } from "../../core/cluster/types.ts";
import type { StartRefusal } from "../../core/agent/vm-backend.ts";

/** Entries kept per map: a node holds at most a few thousand VMs, and every one is a few bytes. */
export const TOKEN_MEMORY_ENTRIES_MAX = 1_000_000;

interface TokenFile {
  readonly placementByVm: Record<string, number>;
  readonly epochByNode: Record<string, number>;
}

export type TokenVerdict = { readonly ok: true } | { readonly ok: false; readonly refusal: StartRefusal; readonly detail: string };

export class TokenMemory {
  private readonly placementByVm = new Map<VmId, number>();
  private readonly epochByNode = new Map<NodeId, number>();

  /** Reads the file when it exists; a file that does not parse is an error (starts are unsafe without it). */
  constructor(private readonly file: string) {
    if (!existsSync(file)) return;
    const parsed = JSON.parse(readFileSync(file, "utf8")) as TokenFile;
    assert(typeof parsed.placementByVm === "object" && typeof parsed.epochByNode === "object", () => `${file}: not a token memory`);
    for (const [vm, placement] of Object.entries(parsed.placementByVm)) this.placementByVm.set(Number(vm), placement);
    for (const [node, epoch] of Object.entries(parsed.epochByNode)) this.epochByNode.set(Number(node), epoch);
  }

  newestPlacement(vmId: VmId): number {
    return this.placementByVm.get(vmId) ?? 0;
  }

  newestEpoch(nodeId: NodeId): number {
    return this.epochByNode.get(nodeId) ?? 0;
  }

  /** The rules of vm-backend.ts: no placement older than the newest for the VM, no epoch older than the newest for the node. */
  check(vmId: VmId, token: FencingToken): TokenVerdict {
    const newestPlacement = this.newestPlacement(vmId);
    const newestEpoch = this.newestEpoch(token.nodeId);
    if (token.placement < newestPlacement) return { ok: false, refusal: "stale-placement", detail: `placement ${token.placement} < newest seen ${newestPlacement}` };
    if (token.epoch < newestEpoch) return { ok: false, refusal: "stale-epoch", detail: `epoch ${token.epoch} < newest seen ${newestEpoch}` };
    return { ok: true };
  }

  /** Records the token (when it is newer) and makes the file durable before returning. Synchronous on purpose: check, record and sync are one step. */
  record(vmId: VmId, token: FencingToken): void {
    assert(this.check(vmId, token).ok, "only an accepted token is recorded");
    const changed = token.placement > this.newestPlacement(vmId) || token.epoch > this.newestEpoch(token.nodeId);
    if (token.placement > this.newestPlacement(vmId)) this.placementByVm.set(vmId, token.placement);
    if (token.epoch > this.newestEpoch(token.nodeId)) this.epochByNode.set(token.nodeId, token.epoch);
    assert(this.placementByVm.size <= TOKEN_MEMORY_ENTRIES_MAX && this.epochByNode.size <= TOKEN_MEMORY_ENTRIES_MAX, "token memory bounded");
    if (changed) this.persist();
  }

  private persist(): void {
    const content: TokenFile = {
      placementByVm: Object.fromEntries([...this.placementByVm].sort((a, b) => a[0] - b[0])),
      epochByNode: Object.fromEntries([...this.epochByNode].sort((a, b) => a[0] - b[0])),
    };
    writeFileDurably(this.file, `${JSON.stringify(content)}\n`);
  }
}

/** temp + fsync + rename + fsync of the directory: after it returns, a crash leaves the new content. */
export function writeFileDurably(file: string, text: string): void {
  const temp = `${file}.tmp`;
  const fd = openSync(temp, "w", 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, file);
  const dirFd = openSync(dirname(file), "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
