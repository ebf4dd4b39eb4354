// The real node's Environment: the operating system behind the interface the
// simulator also implements (src/core/env/environment.ts). Only this file, the disk
// (system-disk.ts) and the transport ((src/core/wire, src/shell/os)) touch real time and I/O.
//   monotonic  performance.now() in integer microseconds: never jumps with the wall clock;
//   wall    Date.now(): what a person reads; it may jump;
//   timers  setTimeout; callbacks run from the event loop, never re-entrantly;
//   random  the project's PRNG (xoshiro128**) seeded from node:crypto, so election timeouts differ per process;
//   disk    SystemDisk over the data directory;
//   transport the TCP transport (channels of bytes); log: pino;
//   failpoint the node's registry (src/shell/node/node-failpoints.ts), or none: one branch.
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { assert } from "../../core/assert.ts";
import { noFailpoints, type Disk, type Failpoint, type Environment, type Logger, type MonotonicClock, type Random, type TimerHandle, type Timers, type Transport, type WallClock } from "../../core/env/environment.ts";
import { noCoverage } from "../../core/env/coverage-points.ts";
import { Prng } from "../../core/sim/prng.ts";
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

/**
 * The real node's randomness: the project's one PRNG family (xoshiro128**, src/core/sim/prng.ts),
 * seeded from node:crypto, so election timeouts differ per process while the generator is the
 * one the simulator runs.
 */
export function systemRandom(seed: Uint8Array = randomBytes(16)): Random {
  assert(seed.length >= 16, "the system PRNG needs a 16-byte seed");
  const view = new DataView(seed.buffer, seed.byteOffset, seed.byteLength);
  const state: [number, number, number, number] = [view.getUint32(0, true), view.getUint32(4, true), view.getUint32(8, true), view.getUint32(12, true)];
  if ((state[0] | state[1] | state[2] | state[3]) === 0) state[0] = 1; // xoshiro's one forbidden state
  return new Prng(state);
}

export interface SystemEnvironmentParts {
  readonly nodeId: NodeId;
  readonly disk: Disk;
  readonly transport: Transport;
  readonly log: Logger;
  readonly timers?: SystemTimers;
  readonly random?: Random;
  readonly failpoint?: Failpoint;
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
    random: parts.random ?? systemRandom(),
    disk: parts.disk,
    transport: parts.transport,
    log: parts.log,
    failpoint: parts.failpoint ?? noFailpoints,
    reached: noCoverage,
  };
}
