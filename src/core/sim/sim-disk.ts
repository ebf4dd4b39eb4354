// The simulator's disk: one node's data directory in memory, with the crash semantics a
// database must assume of POSIX (src/core/env/environment.ts) and TigerBeetle-style storage
// faults, all drawn from the node's "disk" PRNG stream so one seed replays one run.
//
// Model. A file is an inode with two contents: the volatile view (what reads return) and
// the durable content (what survives a crash), plus the list of operations issued since
// they diverged. sync(name) makes the operations issued before the call durable after a
// simulated latency; syncDirectory() does the same for creations, renames and removals.
// Two kinds of crash (CrashKind, src/core/env/environment.ts):
// crash() is a host crash: it rebuilds every file from its durable content and each
// un-synced operation independently kept or lost (the last un-synced write of a file may
// instead be torn at a random byte), drops un-synced directory operations the same way, and
// forgets every pending callback (the epoch changes, so a callback of a dead incarnation
// never runs).
// processKill() is a process kill: the kernel keeps every write the process made, synced
// or not, so the view survives whole and stays as volatile as it was (a later host crash
// may still lose what was never synced); only the pending callbacks are forgotten. A sync
// in flight at the kill may or may not have reached the device: modelled as not, which
// keeps its operations exposed to a later host crash.
//
// Capacity (unlimited by default): the bytes of every file in the view count against it; a
// write that would grow past it stores the prefix that fits (as a real file system does before
// it answers ENOSPC) and throws DiskError ENOSPC. The nemesis fills a disk by lowering the
// capacity to what is used and frees it by raising it again (setCapacityBytes).
//
// Corruption (off by default): reads may return a flipped bit, writes may store one, and a
// write may land at the wrong offset. Each needs the rate's draw AND the simulator's
// `mayCorrupt(name, offset, length)` consent: the simulator uses it to keep one intact copy of
// every committed entry somewhere in the cluster (issue #4).

import { assert } from "../assert.ts";
import { DiskError } from "../env/environment.ts";
import type { Disk, Random } from "../env/environment.ts";

export interface DiskFaults {
  /** Getting un-synced writes to the device: drawn uniformly in [min, max] ms, once per sync of a file with pending writes. */
  readonly writeLatencyMs: readonly [number, number];
  /** The flush itself: drawn uniformly in [min, max] ms for every sync and directory sync. */
  readonly fsyncLatencyMs: readonly [number, number];
  /** At a crash, each un-synced write or truncate is lost with this probability (else kept). */
  readonly crashLoseWriteProbability: number;
  /** At a crash, the last un-synced write of a file is torn (a random-length prefix kept) with this probability. */
  readonly crashTearWriteProbability: number;
  /** At a crash, each un-synced creation, rename or removal is lost with this probability (else kept). */
  readonly crashLoseDirectoryOperationProbability: number;
  /** Probability (0..0.1) that a read returns one flipped bit. */
  readonly readCorruptionProbability: number;
  /** Probability (0..0.1) that a write stores one flipped bit. */
  readonly writeCorruptionProbability: number;
  /** Probability (0..0.1) that a write lands at a wrong offset of the same file, leaving its own range unwritten. */
  readonly misdirectedWriteProbability: number;
  /** The simulator's consent to corrupt bytes [offset, offset + length) of `name`; default: never. */
  readonly mayCorrupt: (name: string, offset: number, length: number) => boolean;
}

export const DEFAULT_DISK_FAULTS: DiskFaults = {
  writeLatencyMs: [0.01, 0.05],
  fsyncLatencyMs: [0.2, 1],
  crashLoseWriteProbability: 0.5,
  crashTearWriteProbability: 0.5,
  crashLoseDirectoryOperationProbability: 0.5,
  readCorruptionProbability: 0,
  writeCorruptionProbability: 0,
  misdirectedWriteProbability: 0,
  mayCorrupt: () => false,
};

export interface SimDiskOptions {
  readonly random: Random;
  /** For messages: where this directory is ("sim host 3"). */
  readonly location?: string;
  /** Bytes the files may hold in all (the view's sizes); default unlimited. */
  readonly capacityBytes?: number;
  /** Runs `callback` after `delayMs` of simulated time (never re-entrantly). */
  readonly schedule: (delayMs: number, callback: () => void) => void;
  /** Missing fields take DEFAULT_DISK_FAULTS. */
  readonly faults?: Partial<DiskFaults>;
}

export interface SimDiskStats {
  writes: number;
  bytesWritten: number;
  syncs: number;
  directorySyncs: number;
  /** Host crashes (unsynced writes lost or torn). */
  crashes: number;
  /** Process kills (every write kept, synced or not). */
  processKills: number;
  lostWrites: number;
  tornWrites: number;
  lostDirectoryOperations: number;
  readCorruptions: number;
  writeCorruptions: number;
  misdirectedWrites: number;
  /** Writes refused with ENOSPC (their prefix that fitted was stored). */
  noSpaceWrites: number;
}

/** All counters at zero: a new disk, or the start of a cluster-wide sum. */
export function emptySimDiskStats(): SimDiskStats {
  return {
    writes: 0,
    bytesWritten: 0,
    syncs: 0,
    directorySyncs: 0,
    crashes: 0,
    processKills: 0,
    lostWrites: 0,
    tornWrites: 0,
    lostDirectoryOperations: 0,
    readCorruptions: 0,
    writeCorruptions: 0,
    misdirectedWrites: 0,
    noSpaceWrites: 0,
  };
}

const NAME_PATTERN = /^[A-Za-z0-9._-]+$/;
const CORRUPTION_PROBABILITY_MAX = 0.1;

interface PendingWrite {
  readonly seq: number;
  readonly offset: number;
  readonly data: Uint8Array;
}
interface PendingTruncate {
  readonly seq: number;
  readonly size: number;
}
type PendingDataOperation = PendingWrite | PendingTruncate;

/** Copies of at most this many bytes are byte loops: cheaper than set()/slice() calls for records and sync points. */
const SMALL_COPY_BYTES = 64;

function copyOf(data: Uint8Array): Uint8Array {
  if (data.length > SMALL_COPY_BYTES) return data.slice();
  const copy = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) copy[i] = data[i]!;
  return copy;
}

/** A growable byte array: appends double the capacity, so appending n bytes costs O(n) overall. */
class Bytes {
  buffer: Uint8Array;
  size: number;

  constructor(initial?: Uint8Array) {
    this.buffer = initial ?? new Uint8Array(0);
    this.size = this.buffer.length;
  }

  write(offset: number, data: Uint8Array): void {
    const end = offset + data.length;
    this.reserve(end);
    if (offset > this.size) this.buffer.fill(0, this.size, offset);
    if (data.length <= SMALL_COPY_BYTES) for (let i = 0; i < data.length; i++) this.buffer[offset + i] = data[i]!;
    else this.buffer.set(data, offset);
    if (end > this.size) this.size = end;
  }

  truncate(size: number): void {
    this.reserve(size);
    if (size > this.size) this.buffer.fill(0, this.size, size);
    this.size = size;
  }

  copy(): Uint8Array {
    return this.buffer.slice(0, this.size);
  }

  private reserve(capacity: number): void {
    if (capacity <= this.buffer.length) return;
    const grown = new Uint8Array(Math.max(capacity, this.buffer.length * 2, 256));
    grown.set(this.buffer.subarray(0, this.size));
    this.buffer = grown;
  }
}

class Inode {
  readonly view: Bytes;
  readonly durable: Bytes;
  /** Operations not yet durable, in issue order (seq ascending). */
  pending: PendingDataOperation[] = [];

  constructor(content?: Uint8Array) {
    this.view = new Bytes(content);
    this.durable = new Bytes(content?.slice());
  }

  /** Makes the operations with seq <= `seq` durable. */
  flush(seq: number): void {
    let applied = 0;
    for (const operation of this.pending) {
      if (operation.seq > seq) break;
      applyOperation(this.durable, operation);
      applied++;
    }
    if (applied > 0) this.pending = this.pending.slice(applied);
  }
}

function applyOperation(bytes: Bytes, operation: PendingDataOperation): void {
  if ("data" in operation) bytes.write(operation.offset, operation.data);
  else bytes.truncate(operation.size);
}

type DirectoryOperation =
  | { readonly seq: number; readonly kind: "link"; readonly name: string; readonly inode: Inode }
  | { readonly seq: number; readonly kind: "unlink"; readonly name: string; readonly inode: Inode }
  | { readonly seq: number; readonly kind: "rename"; readonly from: string; readonly to: string; readonly inode: Inode };

export class SimDisk implements Disk {
  private readonly random: Random;
  private readonly schedule: (delayMs: number, callback: () => void) => void;
  private readonly faults: DiskFaults;
  /** The volatile directory: what list/read/write see. */
  private files = new Map<string, Inode>();
  /** The durable directory: what a crash starts from. */
  private durableFiles = new Map<string, Inode>();
  private pendingDirectory: DirectoryOperation[] = [];
  private seq = 0;
  /** Incremented by crash(): callbacks of an earlier epoch never run. */
  private epoch = 0;
  private readonly counters: SimDiskStats = emptySimDiskStats();
  readonly location: string;
  private capacityBytes: number;
  /** Sum of the view's file sizes (each inode once). */
  private usedBytesValue = 0;

  constructor(options: SimDiskOptions) {
    this.random = options.random;
    this.location = options.location ?? "simulated disk";
    this.capacityBytes = options.capacityBytes ?? Number.POSITIVE_INFINITY;
    assert(this.capacityBytes >= 0, "disk capacity must not be negative");
    this.schedule = options.schedule;
    this.faults = { ...DEFAULT_DISK_FAULTS, ...options.faults };
    const f = this.faults;
    for (const [name, range] of [["writeLatencyMs", f.writeLatencyMs], ["fsyncLatencyMs", f.fsyncLatencyMs]] as const) {
      assert(range[0] >= 0 && range[0] <= range[1], () => `disk faults: ${name} [${range[0]}, ${range[1]}] is not a range`);
    }
    for (const p of [f.crashLoseWriteProbability, f.crashTearWriteProbability, f.crashLoseDirectoryOperationProbability]) {
      assert(p >= 0 && p <= 1, () => `disk faults: probability ${p} outside [0, 1]`);
    }
    for (const p of [f.readCorruptionProbability, f.writeCorruptionProbability, f.misdirectedWriteProbability]) {
      assert(p >= 0 && p <= CORRUPTION_PROBABILITY_MAX, () => `disk faults: corruption probability ${p} outside [0, ${CORRUPTION_PROBABILITY_MAX}]`);
    }
  }

  list(): string[] {
    return [...this.files.keys()].sort();
  }

  read(name: string): Uint8Array | undefined {
    const inode = this.files.get(name);
    if (inode === undefined) return undefined;
    const copy = inode.view.copy();
    const p = this.faults.readCorruptionProbability;
    if (p > 0 && copy.length > 0 && this.random.float() < p) {
      const position = this.random.intBelow(copy.length);
      const bit = this.random.intBelow(8);
      if (this.faults.mayCorrupt(name, position, 1)) {
        copy[position]! ^= 1 << bit;
        this.counters.readCorruptions++;
      }
    }
    return copy;
  }

  size(name: string): number | undefined {
    return this.files.get(name)?.view.size;
  }

  freeBytes(): number | undefined {
    return this.capacityBytes === Number.POSITIVE_INFINITY ? undefined : Math.max(0, this.capacityBytes - this.usedBytesValue);
  }

  /** The bytes the view's files hold. */
  usedBytes(): number {
    return this.usedBytesValue;
  }

  /** Fills (capacity at or below what is used) or frees the disk; Infinity: unlimited. Draws no randomness. */
  setCapacityBytes(capacityBytes: number): void {
    assert(capacityBytes >= 0, "disk capacity must not be negative");
    this.capacityBytes = capacityBytes;
  }

  write(name: string, offset: number, data: Uint8Array): void {
    let inode = this.files.get(name);
    if (inode === undefined) {
      // Names enter the directory only here and through rename, both checked: an existing name is valid.
      assert(NAME_PATTERN.test(name), () => `invalid file name ${JSON.stringify(name)}`);
      inode = new Inode();
      this.files.set(name, inode);
      this.pendingDirectory.push({ seq: ++this.seq, kind: "link", name, inode });
    }
    if (!(offset >= 0 && offset <= inode.view.size)) assert(false, `write to ${name} at ${offset} beyond its size ${inode.view.size}`);
    const growthBytes = Math.max(0, offset + data.length - inode.view.size);
    const roomBytes = Math.max(0, this.capacityBytes - this.usedBytesValue);
    if (growthBytes > roomBytes) {
      // Full: the prefix that fits is stored (a short write), then ENOSPC. No fault draws: the refusal is the fault.
      const fitting = data.length - (growthBytes - roomBytes);
      if (fitting > 0) this.writeInode(inode, offset, copyOf(data.subarray(0, fitting)));
      this.counters.noSpaceWrites++;
      throw new DiskError("ENOSPC", `write ${name}: no space left on ${this.location} (${fitting} of ${data.length} bytes written)`);
    }
    this.counters.writes++;
    this.counters.bytesWritten += data.length;
    let stored = copyOf(data);
    let at = offset;
    if (data.length > 0) {
      const f = this.faults;
      if (f.writeCorruptionProbability > 0 && this.random.float() < f.writeCorruptionProbability) {
        const position = this.random.intBelow(data.length);
        const bit = this.random.intBelow(8);
        if (f.mayCorrupt(name, offset + position, 1)) {
          stored[position]! ^= 1 << bit;
          this.counters.writeCorruptions++;
        }
      }
      if (f.misdirectedWriteProbability > 0 && this.random.float() < f.misdirectedWriteProbability) {
        const sizeAfter = Math.max(inode.view.size, offset + data.length);
        const wrong = this.random.intBelow(sizeAfter);
        if (wrong !== offset && f.mayCorrupt(name, offset, data.length) && f.mayCorrupt(name, wrong, Math.min(data.length, sizeAfter - wrong))) {
          // The file grows as the write asked (the file system's metadata is right) but its bytes land elsewhere.
          this.counters.misdirectedWrites++;
          if (sizeAfter > inode.view.size) this.truncateInode(inode, sizeAfter);
          stored = stored.subarray(0, Math.min(stored.length, sizeAfter - wrong));
          at = wrong;
        }
      }
    }
    this.writeInode(inode, at, stored);
  }

  private writeInode(inode: Inode, at: number, stored: Uint8Array): void {
    const sizeBefore = inode.view.size;
    inode.view.write(at, stored);
    this.usedBytesValue += inode.view.size - sizeBefore;
    inode.pending.push({ seq: ++this.seq, offset: at, data: stored });
  }

  truncate(name: string, size: number): void {
    const inode = this.files.get(name);
    if (inode === undefined) throw new DiskError("ENOENT", `truncate: no such file ${name}`);
    assert(Number.isSafeInteger(size) && size >= 0, () => `truncate ${name} to invalid size ${size}`);
    this.truncateInode(inode, size);
  }

  remove(name: string): void {
    const inode = this.files.get(name);
    if (inode === undefined) throw new DiskError("ENOENT", `remove: no such file ${name}`);
    this.files.delete(name);
    this.usedBytesValue -= inode.view.size;
    this.pendingDirectory.push({ seq: ++this.seq, kind: "unlink", name, inode });
  }

  rename(from: string, to: string): void {
    assert(NAME_PATTERN.test(to), () => `invalid file name ${JSON.stringify(to)}`);
    const inode = this.files.get(from);
    if (inode === undefined) throw new DiskError("ENOENT", `rename: no such file ${from}`);
    if (from === to) return;
    const replaced = this.files.get(to);
    if (replaced !== undefined && replaced !== inode) this.usedBytesValue -= replaced.view.size;
    this.files.delete(from);
    this.files.set(to, inode);
    this.pendingDirectory.push({ seq: ++this.seq, kind: "rename", from, to, inode });
  }

  sync(name: string, done: (error: DiskError | undefined) => void): void {
    const inode = this.files.get(name);
    const epoch = this.epoch;
    if (inode === undefined) {
      this.schedule(0, () => {
        if (this.epoch === epoch) done(new DiskError("ENOENT", `sync: no such file ${name}`));
      });
      return;
    }
    this.counters.syncs++;
    const seq = this.seq;
    const delayMs = (inode.pending.length > 0 ? this.draw(this.faults.writeLatencyMs) : 0) + this.draw(this.faults.fsyncLatencyMs);
    this.schedule(delayMs, () => {
      if (this.epoch !== epoch) return;
      inode.flush(seq);
      done(undefined);
    });
  }

  syncDirectory(done: (error: DiskError | undefined) => void): void {
    this.counters.directorySyncs++;
    const seq = this.seq;
    const epoch = this.epoch;
    this.schedule(this.draw(this.faults.fsyncLatencyMs), () => {
      if (this.epoch !== epoch) return;
      let applied = 0;
      for (const operation of this.pendingDirectory) {
        if (operation.seq > seq) break;
        applyDirectoryOperation(this.durableFiles, operation);
        applied++;
      }
      if (applied > 0) this.pendingDirectory = this.pendingDirectory.slice(applied);
      done(undefined);
    });
  }

  /**
   * The machine loses power: un-synced operations are each kept or lost (the last write of
   * a file may be torn), and no callback issued before the crash ever runs.
   */
  crash(): void {
    this.epoch++;
    this.counters.crashes++;
    const f = this.faults;
    for (const operation of this.pendingDirectory) {
      if (this.random.float() < f.crashLoseDirectoryOperationProbability) {
        this.counters.lostDirectoryOperations++;
        continue;
      }
      applyDirectoryOperation(this.durableFiles, operation);
    }
    this.pendingDirectory = [];
    const survivors = new Map<string, Inode>();
    const rebuilt = new Map<Inode, Inode>();
    // Names in sorted order so that the PRNG draws happen in a deterministic order.
    for (const name of [...this.durableFiles.keys()].sort()) {
      const inode = this.durableFiles.get(name)!;
      let fresh = rebuilt.get(inode);
      if (fresh === undefined) {
        fresh = new Inode(this.survivingContent(inode));
        rebuilt.set(inode, fresh);
      }
      survivors.set(name, fresh);
    }
    this.files = survivors;
    this.durableFiles = new Map(survivors);
    this.usedBytesValue = 0;
    for (const inode of new Set(survivors.values())) this.usedBytesValue += inode.view.size;
  }

  /**
   * The process is killed (kill -9, OOM, a panic) but the machine stays up: every write,
   * truncate, creation, rename and removal the process issued survives, durable or not, and
   * no callback issued before the kill ever runs. Draws no randomness.
   */
  processKill(): void {
    // Nothing moves between the view and the durable state: both stay exactly as they were.
    this.epoch++;
    this.counters.processKills++;
  }

  /** Un-synced operations (data and directory) a host crash could still lose: a process kill leaves them all pending. */
  unsyncedOperations(): number {
    let count = this.pendingDirectory.length;
    for (const inode of new Set(this.files.values())) count += inode.pending.length;
    return count;
  }

  stats(): SimDiskStats {
    return { ...this.counters };
  }

  /** Test and simulator tool: flips one bit of `name` at `offset`, durably (bit rot). */
  flipBit(name: string, offset: number, bit = 0): void {
    const inode = this.files.get(name);
    assert(inode !== undefined && offset >= 0 && offset < inode.view.size, () => `flipBit: ${name} has no byte ${offset}`);
    inode.view.buffer[offset]! ^= 1 << bit;
    if (offset < inode.durable.size) inode.durable.buffer[offset]! ^= 1 << bit;
  }

  private survivingContent(inode: Inode): Uint8Array {
    const f = this.faults;
    const content = new Bytes(inode.durable.copy());
    let lastWrite = -1;
    for (let i = inode.pending.length - 1; i >= 0; i--) {
      if ("data" in inode.pending[i]!) {
        lastWrite = i;
        break;
      }
    }
    for (let i = 0; i < inode.pending.length; i++) {
      const operation = inode.pending[i]!;
      if (i === lastWrite && "data" in operation && operation.data.length > 1 && this.random.float() < f.crashTearWriteProbability) {
        this.counters.tornWrites++;
        content.write(operation.offset, operation.data.subarray(0, this.random.intBelow(operation.data.length)));
        continue;
      }
      if (this.random.float() < f.crashLoseWriteProbability) {
        if ("data" in operation) this.counters.lostWrites++;
        continue;
      }
      applyOperation(content, operation); // a hole left by an earlier lost write reads as zeros
    }
    return content.copy();
  }

  private truncateInode(inode: Inode, size: number): void {
    this.usedBytesValue += size - inode.view.size;
    inode.view.truncate(size);
    inode.pending.push({ seq: ++this.seq, size });
  }

  private draw(range: readonly [number, number]): number {
    const [min, max] = range;
    return max > min ? min + this.random.float() * (max - min) : min;
  }
}

function applyDirectoryOperation(directory: Map<string, Inode>, operation: DirectoryOperation): void {
  switch (operation.kind) {
    case "link":
      directory.set(operation.name, operation.inode);
      return;
    case "unlink":
      if (directory.get(operation.name) === operation.inode) directory.delete(operation.name);
      return;
    case "rename":
      // A rename whose source never became durable (its creation was lost) cannot happen.
      if (directory.get(operation.from) !== operation.inode) return;
      directory.delete(operation.from);
      directory.set(operation.to, operation.inode);
      return;
  }
}
