// The one door between Blixard's deterministic core and the world.
//
// Raft, the replica driver, storage and (later) the orchestrator never read a clock,
// arm a timer, draw randomness, touch a file or a socket on their own: they are
// handed an Environment. The simulator (src/core/sim) implements it with virtual time,
// seeded PRNG streams and fault-injecting disks and networks; the real node
// (src/shell/os/system-*.ts) implements it with the operating system. The code above
// this interface is the same in both worlds (docs/ARCHITECTURE.md, "Determinism").
//
// Everything here is callback based and single threaded: a callback never runs
// re-entrantly inside the call that scheduled it.

import type { Message, NodeId, RandomSource } from "../raft/types.ts";

/** A node's own clock, in milliseconds. In simulation it may be offset, drift and jump; never trust it across nodes. */
export interface Clock {
  nowMs(): number;
}

export type TimerHandle = number;

export interface Timers {
  /** Calls `callback` once, no earlier than `delayMs` (>= 0) of this node's clock from now. */
  after(delayMs: number, callback: () => void): TimerHandle;
  /** Cancels a timer that has not fired; cancelling a fired or cancelled timer is a no-op. */
  cancel(handle: TimerHandle): void;
}

/** A PRNG stream: intBelow for the Raft core, plus the floats and bytes drivers need. */
export interface Random extends RandomSource {
  /** Uniform in [0, 1). */
  float(): number;
}

/** An operating error of the disk: the caller handles it (usually by stopping the node with a clear message). */
export class DiskError extends Error {
  constructor(
    readonly code: "ENOSPC" | "EIO" | "ENOENT" | "EOTHER",
    message: string,
  ) {
    super(message);
    this.name = "DiskError";
  }
}

/**
 * One node's data directory: a flat namespace of files (names match /^[A-Za-z0-9._-]+$/).
 *
 * Semantics follow POSIX as a database must assume it:
 * - write, truncate, remove and rename take effect in the node's view at once, but are
 *   volatile: a crash may lose any of them (and may tear a write) until they are made
 *   durable by sync(name) (file data) or syncDirectory() (creation, rename, removal);
 * - reads see the latest view; in simulation with storage faults they may return
 *   corrupted bytes, so every reader verifies checksums;
 * - errors are thrown as DiskError (sync operations) or passed to the callback.
 */
export interface Disk {
  /** File names, sorted ascending. */
  list(): string[];
  /** The whole file, or undefined when it does not exist. */
  read(name: string): Uint8Array | undefined;
  /** The file's size in bytes, or undefined when it does not exist. */
  size(name: string): number | undefined;
  /** Writes `data` at `offset` (0 <= offset <= size), creating the file when absent. */
  write(name: string, offset: number, data: Uint8Array): void;
  truncate(name: string, size: number): void;
  remove(name: string): void;
  /** Atomically replaces `to` (if present) with `from`. */
  rename(from: string, to: string): void;
  /** Makes `name`'s data durable, then calls `done` (asynchronously, never re-entrantly). */
  sync(name: string, done: (error: DiskError | undefined) => void): void;
  /** Makes creations, renames and removals durable, then calls `done`. */
  syncDirectory(done: (error: DiskError | undefined) => void): void;
}

/** Sending side of the peer transport. Delivery is best effort: messages may be lost, duplicated, reordered or delayed. */
export interface PeerNetwork {
  send(message: Message): void;
}

export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export interface Environment {
  readonly nodeId: NodeId;
  readonly clock: Clock;
  readonly timers: Timers;
  /** This node's randomness (election timeouts, jitter). In simulation: its own PRNG stream. */
  readonly random: Random;
  readonly disk: Disk;
  readonly network: PeerNetwork;
  readonly log: Logger;
}

/** A logger that discards everything: the simulator's default, where the trace is the log. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
