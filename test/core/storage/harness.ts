// Test helpers for storage: a toy scheduler that runs SimDisk callbacks in simulated-time
// order (one step at a time, so a test can crash the disk between any two events), a
// seeded PRNG, and shorthands for opening a store and persisting synchronously.

import assert from "node:assert/strict";
import type { Random } from "../../../src/core/env/environment.ts";
import type { ConfState, Entry, HardState, Snapshot } from "../../../src/core/raft/types.ts";
import { RaftStorage, StorageError } from "../../../src/core/storage/raft-storage.ts";
import type { PersistBatch, StorageIdentity, StorageOptions } from "../../../src/core/storage/raft-storage.ts";
import { SimDisk } from "../../../src/core/sim/sim-disk.ts";
import type { DiskFaults } from "../../../src/core/sim/sim-disk.ts";

export class ToyScheduler {
  nowMs = 0;
  private queue: Array<{ timeMs: number; seq: number; callback: () => void }> = [];
  private seq = 0;

  readonly schedule = (delayMs: number, callback: () => void): void => {
    assert.ok(delayMs >= 0);
    this.queue.push({ timeMs: this.nowMs + delayMs, seq: this.seq++, callback });
  };

  get pending(): number {
    return this.queue.length;
  }

  /** Runs the earliest event; false when there is none. */
  step(): boolean {
    if (this.queue.length === 0) return false;
    let best = 0;
    for (let i = 1; i < this.queue.length; i++) {
      const a = this.queue[i]!;
      const b = this.queue[best]!;
      if (a.timeMs < b.timeMs || (a.timeMs === b.timeMs && a.seq < b.seq)) best = i;
    }
    const [event] = this.queue.splice(best, 1);
    this.nowMs = event!.timeMs;
    event!.callback();
    return true;
  }

  runUntilIdle(limit = 1_000_000): number {
    let steps = 0;
    while (this.step()) assert.ok(++steps < limit, "scheduler did not go idle");
    return steps;
  }

  /** Drops every pending event (what a crash does to callbacks in flight). */
  clear(): void {
    this.queue = [];
  }
}

/** mulberry32: small, seeded, good enough for tests. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    float: next,
    intBelow: (bound: number) => Math.floor(next() * bound),
  };
}

export interface World {
  readonly scheduler: ToyScheduler;
  readonly disk: SimDisk;
}

export function makeWorld(seed = 1, faults: Partial<DiskFaults> = {}): World {
  const scheduler = new ToyScheduler();
  const disk = new SimDisk({ random: seededRandom(seed), schedule: scheduler.schedule, faults });
  return { scheduler, disk };
}

export const IDENTITY: StorageIdentity = { nodeId: 1, clusterId: "test-cluster" };
export const BOOTSTRAP: ConfState = { voters: [1, 2, 3], learners: [] };

export function openStore(world: World, options: StorageOptions = {}, identity: StorageIdentity = IDENTITY): RaftStorage | StorageError {
  let result: RaftStorage | StorageError | undefined;
  RaftStorage.open(world.disk, identity, BOOTSTRAP, options, (r) => {
    assert.equal(result, undefined, "open called back twice");
    result = r;
  });
  world.scheduler.runUntilIdle();
  assert.ok(result !== undefined, "open did not call back");
  return result;
}

export function openOk(world: World, options: StorageOptions = {}): RaftStorage {
  const result = openStore(world, options);
  if (result instanceof StorageError) assert.fail(`open failed: ${result.message}`);
  return result;
}

export function persistNow(world: World, storage: RaftStorage, batch: Partial<PersistBatch>, mustSync = true): void {
  let finished = false;
  storage.persist({ snapshot: batch.snapshot, entries: batch.entries ?? [], hardState: batch.hardState }, mustSync, (error) => {
    assert.equal(error, undefined);
    finished = true;
  });
  world.scheduler.runUntilIdle();
  assert.ok(finished, "persist did not call back");
}

export function saveSnapshotNow(world: World, storage: RaftStorage, snapshot: Snapshot): void {
  let finished = false;
  storage.saveSnapshot(snapshot, (error) => {
    assert.equal(error, undefined);
    finished = true;
  });
  world.scheduler.runUntilIdle();
  assert.ok(finished, "saveSnapshot did not call back");
}

export function entry(index: number, term: number, text = `e${index}t${term}`): Entry {
  return { index, term, type: "normal", data: new TextEncoder().encode(text) };
}

export function entries(from: number, to: number, term: number, tag = ""): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term, `e${i}t${term}${tag}`));
  return out;
}

export function hardState(term: number, vote: number, commit: number): HardState {
  return { term, vote, commit };
}

/** Entries as comparable plain values. */
export function plain(list: readonly Entry[]): Array<[number, number, string, string]> {
  return list.map((e) => [e.index, e.term, e.type, new TextDecoder().decode(e.data)]);
}
