// The real node's Environment: the operating system behind the interface the
// simulator also implements (src/core/env/environment.ts). Only this file, the disk
// (system-disk.ts) and the transport ((src/core/wire, src/shell/os)) touch real time and I/O.
//   monotonic  performance.now() in integer microseconds: never jumps with the wall clock;
//   wall    Date.now(): what a person reads; it may jump;
//   timers  setTimeout; callbacks run from the event loop, never re-entrantly;
//   random  a small PRNG (sfc32) seeded from node:crypto, so election timeouts differ per process;
//   disk    SystemDisk over the data directory;
//   transport the TCP transport (channels of bytes); log: pino;
//   failpoint never fires (one branch) until the failpoints issue gives points actions.
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { assert } from "../../core/assert.ts";
import { noFailpoints, type Disk, type Environment, type Logger, type MonotonicClock, type Random, type TimerHandle, type Timers, type Transport, type WallClock } from "../../core/env/environment.ts";
import type { NodeId } from "../../core/raft/types.ts";

export const systemMonotonicClock: MonotonicClock = {
  nowUs: () => Math.floor(performance.now() * 1000),
};

export const systemWallClock: WallClock = {
  nowMs: () => Date.now(),
};

/** setTimeout behind numeric handles; cancel of an unknown or fired handle is a no-op. */
export class SystemTimers implements Timers {
  private readonly pending = new Map<TimerHandle, NodeJS.Timeout>();
  private nextHandle = 1;

  after(delayMs: number, callback: () => void): TimerHandle {
    assert(delayMs >= 0 && Number.isFinite(delayMs), () => `timer delay must be finite and >= 0, got ${delayMs}`);
    const handle = this.nextHandle++;
    const timeout = setTimeout(() => {
      this.pending.delete(handle);
      callback();
    }, delayMs);
    this.pending.set(handle, timeout);
    return handle;
  }

  cancel(handle: TimerHandle): void {
    const timeout = this.pending.get(handle);
    if (timeout === undefined) return;
    clearTimeout(timeout);
    this.pending.delete(handle);
  }

  /** Cancels everything still pending (shutdown). */
  cancelAll(): void {
    for (const timeout of this.pending.values()) clearTimeout(timeout);
    this.pending.clear();
  }

  get pendingCount(): number {
    return this.pending.size;
  }
}

/** sfc32 (Small Fast Counting, PractRand-clean), 128 bits of state. */
export class Sfc32Random implements Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: Uint8Array = randomBytes(16)) {
    assert(seed.length >= 16, "sfc32 needs a 16-byte seed");
    const view = new DataView(seed.buffer, seed.byteOffset, seed.byteLength);
    this.a = view.getUint32(0, true);
    this.b = view.getUint32(4, true);
    this.c = view.getUint32(8, true);
    this.d = view.getUint32(12, true) | 1;
    for (let i = 0; i < 12; i++) this.next32();
  }

  private next32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  float(): number {
    // 53 random bits: uniform over the doubles of [0, 1) spaced 2^-53 apart.
    const high = this.next32() >>> 5;
    const low = this.next32() >>> 6;
    return (high * 67_108_864 + low) / 9_007_199_254_740_992;
  }

  intBelow(bound: number): number {
    assert(Number.isSafeInteger(bound) && bound > 0, () => `intBelow needs a positive safe integer, got ${bound}`);
    const value = Math.floor(this.float() * bound);
    assert(value >= 0 && value < bound, "intBelow out of range");
    return value;
  }
}

export interface SystemEnvironmentParts {
  readonly nodeId: NodeId;
  readonly disk: Disk;
  readonly transport: Transport;
  readonly log: Logger;
  readonly timers?: SystemTimers;
  readonly random?: Random;
}

export interface SystemEnvironment extends Environment {
  readonly timers: SystemTimers;
}

export function createSystemEnvironment(parts: SystemEnvironmentParts): SystemEnvironment {
  assert(Number.isSafeInteger(parts.nodeId) && parts.nodeId >= 1, "node id must be a positive integer");
  return {
    nodeId: parts.nodeId,
    monotonic: systemMonotonicClock,
    wall: systemWallClock,
    timers: parts.timers ?? new SystemTimers(),
    random: parts.random ?? new Sfc32Random(),
    disk: parts.disk,
    transport: parts.transport,
    log: parts.log,
    failpoint: noFailpoints,
  };
}
