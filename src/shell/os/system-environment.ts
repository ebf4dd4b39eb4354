// The real node's Environment: the operating system behind the interface the
// simulator also implements (src/core/env/environment.ts). Only this file, the clocks
// (node-clocks.ts), the disk (system-disk.ts) and the transport ((src/core/wire, src/shell/os))
// touch real time and I/O.
//   monotonic  performance.now() in integer microseconds: never jumps with the wall clock;
//   wall    Date.now(): what a person reads; it may jump;
//              (both through NodeClocks, which carries the clock faults clock.wall and clock.monotonic)
//   timers  setTimeout, measured on the node's monotonic clock (a drift scales the delays);
//           callbacks run from the event loop, never re-entrantly;
//   random  the project's PRNG (xoshiro128**) seeded from node:crypto, so election timeouts differ per process;
//   disk    SystemDisk over the data directory;
//   transport the TCP transport (channels of bytes); log: pino;
//   failpoint the node's registry (src/shell/node/node-failpoints.ts), or none: one branch.
import { randomBytes } from "node:crypto";
import { assert } from "../../core/assert.ts";
import { noFailpoints, type Disk, type Failpoint, type Environment, type Logger, type MonotonicClock, type Random, type TimerHandle, type Timers, type Transport, type WallClock } from "../../core/env/environment.ts";
import { noCoverage } from "../../core/env/coverage-points.ts";
import { Prng } from "../../core/sim/prng.ts";
import { NodeClocks } from "./node-clocks.ts";
import type { NodeId } from "../../core/raft/types.ts";

/** The host's clocks, with no fault, for code that runs no node (tests). */
const unfaultedClocks = new NodeClocks();
export const systemMonotonicClock: MonotonicClock = unfaultedClocks.monotonic;
export const systemWallClock: WallClock = unfaultedClocks.wall;

interface PendingTimer {
  timeout: NodeJS.Timeout;
  readonly callback: () => void;
  /** The monotonic reading it is due at: it never fires before the node's clock reads this. */
  readonly dueUs: number;
}

/**
 * setTimeout behind numeric handles; cancel of an unknown or fired handle is a no-op. Delays are
 * measured on the node's monotonic clock: each timer records the reading it is due at, its real
 * delay is scaled to the drift in force, and it never fires before that reading (a setTimeout that
 * fires early is re-armed for the rest). When the drift changes, every pending timer is re-armed
 * for what is left of its delay at the new rate.
 */
export class SystemTimers implements Timers {
  private readonly pending = new Map<TimerHandle, PendingTimer>();
  private nextHandle = 1;

  /** The clocks the delays are measured on: the node's. */
  constructor(readonly clocks: NodeClocks = new NodeClocks()) {
    clocks.onDriftChange(() => this.rearmAll());
  }

  after(delayMs: number, callback: () => void): TimerHandle {
    assert(delayMs >= 0 && Number.isFinite(delayMs), () => `timer delay must be finite and >= 0, got ${delayMs}`);
    const handle = this.nextHandle++;
    const dueUs = this.clocks.monotonic.nowUs() + Math.ceil(delayMs * 1000);
    assert(Number.isSafeInteger(dueUs), () => `timer due time ${dueUs} is not an integer of microseconds`);
    this.pending.set(handle, { timeout: this.armUntil(handle, dueUs), callback, dueUs });
    return handle;
  }

  cancel(handle: TimerHandle): void {
    const timer = this.pending.get(handle);
    if (timer === undefined) return;
    clearTimeout(timer.timeout);
    this.pending.delete(handle);
  }

  /** Cancels everything still pending (shutdown). */
  cancelAll(): void {
    for (const timer of this.pending.values()) clearTimeout(timer.timeout);
    this.pending.clear();
  }

  private fire(handle: TimerHandle): void {
    const timer = this.pending.get(handle);
    assert(timer !== undefined, "a timer fired after it was cancelled");
    // setTimeout counts whole milliseconds of the event loop's cached clock, so it can fire up to a
    // millisecond before performance.now() reaches the delay: never before the monotonic due time.
    if (this.clocks.monotonic.nowUs() < timer.dueUs) {
      timer.timeout = this.armUntil(handle, timer.dueUs);
      return;
    }
    this.pending.delete(handle);
    timer.callback();
  }

  /** A setTimeout that fires once the monotonic clock, at the drift in force, reads `dueUs`. */
  private armUntil(handle: TimerHandle, dueUs: number): NodeJS.Timeout {
    const leftUs = Math.max(0, dueUs - this.clocks.monotonic.nowUs());
    return setTimeout(() => this.fire(handle), Math.ceil(this.clocks.realDelayUs(leftUs) / 1000));
  }

  private rearmAll(): void {
    // armUntil measures what is left from now, so a timer already due fires at once.
    for (const [handle, timer] of this.pending) {
      clearTimeout(timer.timeout);
      timer.timeout = this.armUntil(handle, timer.dueUs);
    }
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
  /** The node's clocks (with its clock faults); the timers must measure on the same ones. Default: unfaulted. */
  readonly clocks?: NodeClocks;
}

export interface SystemEnvironment extends Environment {
  readonly timers: SystemTimers;
}

export function createSystemEnvironment(parts: SystemEnvironmentParts): SystemEnvironment {
  assert(Number.isSafeInteger(parts.nodeId) && parts.nodeId >= 1, "node id must be a positive integer");
  const clocks = parts.clocks ?? parts.timers?.clocks ?? new NodeClocks();
  assert(parts.timers === undefined || parts.timers.clocks === clocks, "the timers measure on the environment's clocks");
  return {
    nodeId: parts.nodeId,
    monotonic: clocks.monotonic,
    wall: clocks.wall,
    timers: parts.timers ?? new SystemTimers(clocks),
    random: parts.random ?? systemRandom(),
    disk: parts.disk,
    transport: parts.transport,
    log: parts.log,
    failpoint: parts.failpoint ?? noFailpoints,
    reached: noCoverage,
  };
}
