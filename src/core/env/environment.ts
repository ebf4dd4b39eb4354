// Environment v2: the one door between Blixard's deterministic core and the world.
//
// Raft, the replica driver, the request path, storage and (next) the orchestrator never
// read a clock, arm a timer, draw randomness, touch a file or a socket on their own: they
// are handed an Environment. The simulator (src/core/sim) implements it with virtual time,
// seeded PRNG streams and fault-injecting disks and networks; the real node
// (src/shell/os) implements it with the operating system. The code above this interface is
// the same in both worlds (docs/ARCHITECTURE.md, "Determinism").
//
// This file knows nothing of Raft: transports carry bytes on named channels, and each
// channel's codec (src/core/wire) is the same in both worlds.

import type { CoverageHook } from "./coverage-points.ts";
//
// Everything here is callback based and single threaded: a callback never runs
// re-entrantly inside the call that scheduled it.
//
// Which code may read which clock (docs/ARCHITECTURE.md, "Clocks"):
//   monotonic  timeouts, leases, rates: anything that measures a duration. Never compared
//              across nodes except through the drift bound.
//   wall       only what a person reads (log lines, timestamps shown in status) and what is
//              stamped into commands for display. Never a duration, never a lease, never an
//              ordering decision: it may jump either way at any moment.

import type { FailpointName } from "./failpoints.ts";

/** A process's or host's number in the cluster (Raft's node id; a simulated client's endpoint). */
export type EndpointId = number;


/**
 * The published bound on a monotonic clock's rate error against true time, in parts per
 * million. Real hardware under NTP stays within a few hundred ppm; the bound is far wider so
 * that a badly disciplined host is still safe. The simulator never draws a drift beyond it
 * (src/core/sim/sim-clock.ts), and every lease divides by it (src/core/lease).
 */
export const CLOCK_DRIFT_BOUND_PPM = 100_000;

/** Integer microseconds since an arbitrary origin: never decreases, never jumps, rate within CLOCK_DRIFT_BOUND_PPM of true time. */
export interface MonotonicClock {
  nowUs(): number;
}

/** Milliseconds since the Unix epoch as this host believes it: may be offset and may jump either way (NTP steps, an operator). */
export interface WallClock {
  nowMs(): number;
}

export type TimerHandle = number;

export interface Timers {
  /** Calls `callback` once, no earlier than `delayMs` (>= 0) of this node's monotonic clock from now. */
  after(delayMs: number, callback: () => void): TimerHandle;
  /** Cancels a timer that has not fired; cancelling a fired or cancelled timer is a no-op. */
  cancel(handle: TimerHandle): void;
}

/** A PRNG stream. */
export interface Random {
  /** Uniform integer in [0, bound); bound is a positive safe integer. */
  intBelow(bound: number): number;
  /** Uniform in [0, 1). Never use it for a decision that must be the same on every engine: use intBelow. */
  float(): number;
}

/**
 * An operating error of the disk: the caller handles it. ENOSPC (the file system's EDQUOT too:
 * a quota is a full disk for this directory) from write, truncate or rename means "no space
 * now": the storage undoes the partial write and reports "no-space", which the node survives
 * (docs/STORAGE.md, "A full disk"); anything else, or any error of a flush, stops the node.
 */
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
 * - write, truncate, remove and rename take effect in the node's view at once; they
 *   survive a process kill (the kernel has them) but are volatile across a host crash
 *   (which may lose or tear any of them) until made durable by sync(name) (file data) or
 *   syncDirectory() (creation, rename, removal);
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
  /**
   * Bytes still free for this directory's files (statfs: blocks available to an unprivileged
   * writer, times the block size), or undefined when the file system cannot say. The node
   * refuses new writes while this is under its reserve, so the log never fills the disk to the
   * last byte (src/core/replica/disk-space.ts).
   */
  freeBytes(): number | undefined;
  /** Where the directory is, for people: its path (the simulator names the host). */
  readonly location: string;
}

/**
 * The named channels of the transport. Each carries its own codec's bytes:
 *   raft    peer Raft messages (src/core/wire/codec.ts);
 *   client  client requests and their outcomes: forwarding between nodes in both worlds,
 *           and the simulated clients (src/core/wire/client-codec.ts);
 *   agent   reserved: node agent to control plane (the orchestrator).
 */
export type ChannelName = "raft" | "client" | "agent";
export const CHANNEL_NAMES: readonly ChannelName[] = ["raft", "client", "agent"];

/**
 * What a channel's receiver says about bytes it was handed: "ok", or "malformed" when they
 * could not have come from a correct peer (the transport drops that connection and counts it).
 */
export type ReceiveVerdict = "ok" | "malformed";

/**
 * Bytes between endpoints, on named channels. Delivery is best effort: a message may be
 * lost, duplicated (raft only: the client channel rides a connection), reordered or
 * delayed; one message is never split or merged with another.
 */
export interface Transport {
  /**
   * Queues `bytes` for `to`. Returns false only when the message certainly never left
   * (no route, queue full, larger than the frame limit): the caller may treat that as
   * "not sent". True promises nothing about delivery.
   */
  send(channel: ChannelName, to: EndpointId, bytes: Uint8Array): boolean;
  /** Sets the one receiver of a channel (at most one per channel; set before traffic flows). */
  receive(channel: ChannelName, handler: (from: EndpointId, bytes: Uint8Array) => ReceiveVerdict): void;
}

export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/**
 * What a failpoint asks of the code at it (src/core/env/failpoints.ts, docs/FAILPOINTS.md):
 *   return  take the point's error path (arg: the error, e.g. "EIO", or undefined);
 *   delay   complete the operation `ms` later, through the Environment's timers (only at
 *           points whose catalogue entry waits; the core never sleeps itself);
 *   pause   wait until `resume` calls back (only at shell points that await).
 * Off, print, panic and crash never reach the code: the Environment carries them out (a
 * panic or a crash does not return).
 */
export type FailpointVerdict =
  | { readonly kind: "return"; readonly arg: string | undefined }
  | { readonly kind: "delay"; readonly ms: number }
  | { readonly kind: "pause"; readonly resume: (callback: () => void) => void };

/**
 * Named fault-injection points (BUGGIFY, fail-rs). `failpoint(name)` returns undefined when
 * nothing happens, or the verdict the code at the point acts on. Production with nothing
 * set answers undefined after one branch. The simulator drives points per run.
 */
export type Failpoint = (name: FailpointName) => FailpointVerdict | undefined;
export const noFailpoints: Failpoint = () => undefined;

export interface Environment {
  readonly nodeId: EndpointId;
  readonly monotonic: MonotonicClock;
  readonly wall: WallClock;
  readonly timers: Timers;
  /** This node's randomness (election timeouts, jitter). In simulation: its own PRNG stream. */
  readonly random: Random;
  readonly disk: Disk;
  readonly transport: Transport;
  readonly log: Logger;
  readonly failpoint: Failpoint;
  /** Marks a named rare path as reached (src/core/env/coverage-points.ts): an observation, never an event. Production: noCoverage. */
  readonly reached: CoverageHook;
}

/**
 * Two kinds of crash, which the simulator injects separately and the real world has both of:
 *   process kill  the process dies (kill -9, OOM, a panic); what the kernel had accepted
 *                 (unsynced writes) survives, and child processes (VMs) may keep running;
 *   host crash    the machine loses power or panics: unsynced writes are lost or torn, every
 *                 process on it (VMs included) is gone.
 */
export type CrashKind = "process-kill" | "host-crash";

/** A logger that discards everything: the simulator's default, where the trace is the log. */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
};
