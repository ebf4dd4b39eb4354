// Storage throughput figures (a benchmark, not a test: prints, asserts nothing about speed).
// The SystemDisk points run once per sync point mode (docs/STORAGE.md, "The sync point window"):
// "riding" (the default, one fdatasync per appending persist), "strict" (two), "off" (one, no
// sync point), interleaved in rounds so that drift in the machine's load favours none.
// Run: npm run bench:storage [-- --rounds 2 --small 3000 --large 200000]
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type { Disk } from "../src/core/env/environment.ts";
import { SystemDisk } from "../src/shell/os/system-disk.ts";
import type { Entry } from "../src/core/raft/types.ts";
import { RaftStorage, StorageError } from "../src/core/storage/raft-storage.ts";
import type { StorageOptions, SyncPointMode } from "../src/core/storage/raft-storage.ts";
import { crc32c } from "../src/core/storage/crc32c.ts";
import { BOOTSTRAP, IDENTITY, makeWorld } from "../test/core/storage/harness.ts";

function openOn(disk: Disk, after: (storage: RaftStorage) => void, options: StorageOptions = {}): void {
  RaftStorage.open(disk, IDENTITY, BOOTSTRAP, options, (result) => {
    if (result instanceof StorageError) throw result;
    after(result);
  });
}

function batchOf(from: number, count: number, dataBytes: number): Entry[] {
  const data = new Uint8Array(dataBytes).fill(7);
  return Array.from({ length: count }, (_, i) => ({ index: from + i, term: 1, type: "normal" as const, data }));
}

/** Sequential persists of `batch` entries each, mustSync, until `total` entries; calls back with entries/s and persists/s. */
function drive(storage: RaftStorage, total: number, batch: number, dataBytes: number, pump: () => void, done: (entriesPerSecond: number, persistsPerSecond: number) => void): void {
  let next = 1;
  let persists = 0;
  const start = performance.now();
  storage.persist({ snapshot: undefined, entries: [], hardState: { term: 1, vote: 1, commit: 0 } }, true, function loop(error) {
    if (error !== undefined) throw error;
    if (next > total) {
      const seconds = (performance.now() - start) / 1000;
      return done(total / seconds, persists / seconds);
    }
    const entries = batchOf(next, batch, dataBytes);
    next += batch;
    persists++;
    storage.persist({ snapshot: undefined, entries, hardState: { term: 1, vote: 1, commit: next - batch - 1 } }, true, loop);
  });
  pump();
}

function crcThroughput(): string {
  const data = new Uint8Array(64 * 1024 * 1024).map((_, i) => i * 31);
  const start = performance.now();
  crc32c(data);
  return `${(64 / ((performance.now() - start) / 1000)).toFixed(0)} MiB/s`;
}

function simulated(batch: number): Promise<string> {
  return new Promise((resolve) => {
    const world = makeWorld(1, { fsyncLatencyMs: [0.2, 1] });
    openOn(world.disk, (storage) => {
      drive(storage, large, batch, 100, () => world.scheduler.runUntilIdle(), (eps, pps) => {
        const stats = world.disk.stats();
        resolve(`SimDisk, 100-byte entries, ${batch}/persist: ${eps.toFixed(0)} entries/s, ${pps.toFixed(0)} synced persists/s (wall clock; ${stats.syncs} syncs)`);
      });
    });
    world.scheduler.runUntilIdle();
  });
}

function system(batch: number, total: number, syncPoints: SyncPointMode): Promise<string> {
  return new Promise((resolve) => {
    const directory = mkdtempSync(join(tmpdir(), "blixard-storage-bench-"));
    const disk = new SystemDisk(directory);
    openOn(disk, (storage) => {
      drive(storage, total, batch, 100, () => {}, (eps, pps) => {
        disk.close();
        const recoverStart = performance.now();
        const again = new SystemDisk(directory);
        openOn(again, (reopened) => {
          const recoverMs = performance.now() - recoverStart;
          again.close();
          rmSync(directory, { recursive: true, force: true });
          resolve(
            `SystemDisk (${tmpdir()}), syncPoints ${syncPoints.padEnd(6)}, 100-byte entries, ${String(batch).padStart(2)}/persist: ${eps.toFixed(0).padStart(7)} entries/s, ${pps.toFixed(0).padStart(5)} synced persists/s; ` +
              `reopen of ${reopened.recovered.entries.length} entries in ${recoverMs.toFixed(0)} ms`,
          );
        });
      });
    }, { syncPoints });
  });
}

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!(Number.isInteger(value) && value >= 1)) throw new Error(`${name} must be a positive integer`);
  return value;
}

const rounds = flag("--rounds", 2);
const small = flag("--small", 3_000);
const large = flag("--large", 200_000);
/** Exact and machine-independent: SimDisk's count of file fdatasyncs and writes per synced one-entry append, per mode. */
function syncsPerPersist(syncPoints: SyncPointMode): Promise<string> {
  return new Promise((resolve) => {
    const world = makeWorld(1);
    openOn(world.disk, (storage) => {
      const before = world.disk.stats();
      drive(storage, 1_000, 1, 100, () => world.scheduler.runUntilIdle(), () => {
        const stats = world.disk.stats();
        resolve(`SimDisk, syncPoints ${syncPoints.padEnd(6)}: ${((stats.syncs - before.syncs) / 1_001).toFixed(2)} fdatasyncs and ${((stats.writes - before.writes) / 1_001).toFixed(2)} writes per synced persist (1,000 appends)`);
      });
    }, { syncPoints });
    world.scheduler.runUntilIdle();
  });
}

console.log(`crc32c: ${crcThroughput()}`);
for (const batch of [1, 64]) console.log(await simulated(batch));
for (const mode of ["riding", "strict", "off"] as const) console.log(await syncsPerPersist(mode));
const modes: readonly SyncPointMode[] = ["riding", "strict", "off"];
for (let round = 1; round <= rounds; round++) {
  console.log(`round ${round} of ${rounds} (load average ${loadavg()[0]!.toFixed(2)})`);
  for (const mode of modes) console.log(await system(1, small, mode));
  for (const mode of modes) console.log(await system(64, large, mode));
}
