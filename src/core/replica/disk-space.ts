// The disk-full alarm of one node (docs/OPERATIONS.md, "A full disk"), as etcd's NOSPACE alarm:
// while it is raised the node refuses new writes at once (certainly not applied: the command
// never entered the log here), keeps serving what it can, and clears it by itself.
//
// Two ways to raise it:
//   persist-refused  the storage answered "no-space" to a persist or a snapshot: the replica
//                    keeps the Ready and retries (replica.ts); cleared by the first persist
//                    that succeeds;
//   below-reserve    the data directory's free space (Disk.freeBytes, statfs) is under the
//                    reserve, so the log stops before it fills the disk to the last byte;
//                    cleared when a later check finds the reserve free again.
// Free space is read at most once per check interval (a statfs per write would cost a system
// call each), so a burst may overrun the reserve by one interval's writes: the reserve is sized
// for that.

import { assert } from "../assert.ts";
import type { Environment } from "../env/environment.ts";
import type { NodeId } from "../raft/types.ts";

export type DiskFullReason = "persist-refused" | "below-reserve";

/** What `cluster status` and the refusals show. */
export interface DiskFullAlarm {
  readonly nodeId: NodeId;
  /** The data directory (the simulator names the host). */
  readonly location: string;
  readonly reason: DiskFullReason;
  /** Free bytes at the last check, when the file system says. */
  readonly freeBytes: number | undefined;
  readonly reserveBytes: number;
  /** When it was raised, by this node's wall clock: for people only. */
  readonly sinceWallMs: number;
  /** One line for people: node, directory, and why. */
  readonly message: string;
}

export interface DiskSpaceOptions {
  /** Writes are refused while fewer bytes than this are free (0: only a refused persist raises the alarm). */
  readonly reserveBytes: number;
  /** Free space is read at most this often. */
  readonly checkIntervalMs: number;
}

/** 64 MiB: one default WAL segment, so a burst between checks and a snapshot still fit. */
export const DISK_RESERVE_BYTES_DEFAULT = 64 * 1024 * 1024;

export class DiskSpace {
  private refusal: DiskFullAlarm | undefined;
  private belowReserve: DiskFullAlarm | undefined;
  private lastCheckUs = Number.MIN_SAFE_INTEGER;
  private lastFreeBytes: number | undefined;
  /** Times the alarm was raised (either reason), since start. */
  raised = 0;

  constructor(
    private readonly env: Environment,
    private readonly options: DiskSpaceOptions,
  ) {
    assert(Number.isSafeInteger(options.reserveBytes) && options.reserveBytes >= 0, "the disk reserve must be a non-negative integer of bytes");
    assert(options.checkIntervalMs > 0, "the free space check interval must be positive");
  }

  /** The alarm now (the persist refusal first: it is the one that stops this node's Raft), or undefined. */
  alarm(): DiskFullAlarm | undefined {
    this.checkReserve();
    return this.refusal ?? this.belowReserve;
  }

  /** The storage refused a write for want of space: raise the alarm (once per episode). */
  persistRefused(detail: string): void {
    if (this.refusal !== undefined) return;
    this.raised += 1;
    const location = this.env.disk.location;
    this.refusal = this.make("persist-refused", this.env.disk.freeBytes(), `disk full on node ${this.env.nodeId} (${location}): ${detail}; writes are refused until space is freed`);
    this.env.log.warn({ location, detail }, "disk full: writes refused, the persist is retried until it fits");
    assert(this.alarm() !== undefined, "a raised alarm is visible");
  }

  /** A persist succeeded: the refusal episode is over. */
  persistSucceeded(): void {
    if (this.refusal === undefined) return;
    this.env.log.info({ location: this.env.disk.location }, "disk space back: the persist went through, writes are accepted again");
    this.refusal = undefined;
  }

  private checkReserve(): void {
    if (this.options.reserveBytes === 0) return;
    const nowUs = this.env.monotonic.nowUs();
    if (nowUs - this.lastCheckUs < this.options.checkIntervalMs * 1000) return;
    this.lastCheckUs = nowUs;
    const free = this.env.disk.freeBytes();
    this.lastFreeBytes = free;
    // A file system that cannot say leaves only the refused persist to raise the alarm.
    if (free === undefined || free >= this.options.reserveBytes) {
      if (this.belowReserve !== undefined) this.env.log.info({ location: this.env.disk.location, freeBytes: free }, "disk space back above the reserve: writes are accepted again");
      this.belowReserve = undefined;
      return;
    }
    if (this.belowReserve !== undefined) return;
    this.raised += 1;
    const location = this.env.disk.location;
    const message = `disk full on node ${this.env.nodeId} (${location}): ${formatBytes(free)} free, under the reserve of ${formatBytes(this.options.reserveBytes)}; writes are refused until space is freed`;
    this.belowReserve = this.make("below-reserve", free, message);
    this.env.log.warn({ location, freeBytes: free, reserveBytes: this.options.reserveBytes }, "disk space under the reserve: writes refused");
  }

  /** Free bytes at the last check (for status), when known. */
  get freeBytesAtLastCheck(): number | undefined {
    return this.lastFreeBytes;
  }

  private make(reason: DiskFullReason, freeBytes: number | undefined, message: string): DiskFullAlarm {
    return { nodeId: this.env.nodeId, location: this.env.disk.location, reason, freeBytes, reserveBytes: this.options.reserveBytes, sinceWallMs: this.env.wall.nowMs(), message };
  }
}

/** Bytes for people: whole KiB or MiB below 10 of the next unit, integers only. */
export function formatBytes(bytes: number): string {
  assert(Number.isSafeInteger(bytes) && bytes >= 0, "a byte count is a non-negative integer");
  if (bytes < 10 * 1024) return `${bytes} B`;
  if (bytes < 10 * 1024 * 1024) return `${Math.floor(bytes / 1024)} KiB`;
  return `${Math.floor(bytes / (1024 * 1024))} MiB`;
}
