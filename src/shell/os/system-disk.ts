// The real node's Disk: one directory of the local file system through node:fs.
// Writes, reads, truncations, renames and removals are synchronous system calls (they
// reach the page cache in microseconds); only the flushes, fdatasync and the directory's
// fsync, go through libuv's thread pool and call back. Open file descriptors are cached
// (a WAL segment is written thousands of times) up to a bound, evicting idle ones.

import { closeSync, constants, fdatasync, fstatSync, fsync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statfsSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import { DiskError } from "../../core/env/environment.ts";
import type { Disk } from "../../core/env/environment.ts";

const NAME_PATTERN = /^[A-Za-z0-9._-]+$/;
const OPEN_FILES_MAX = 64;

interface CachedFile {
  readonly fd: number;
  /** Flushes in flight on this descriptor: it must not be closed before they finish. */
  syncsInFlight: number;
  /** Set when the file was removed or renamed over while a flush was in flight: close after it. */
  closeWhenIdle: boolean;
}

function toDiskError(operation: string, name: string, error: unknown): DiskError {
  const code = (error as { code?: unknown }).code;
  const message = `${operation} ${name}: ${error instanceof Error ? error.message : String(error)}`;
  switch (code) {
    case "ENOSPC":
    case "EDQUOT":
      return new DiskError("ENOSPC", message);
    case "EIO":
      return new DiskError("EIO", message);
    case "ENOENT":
      return new DiskError("ENOENT", message);
    default:
      return new DiskError("EOTHER", message);
  }
}

function checkName(name: string): void {
  if (!NAME_PATTERN.test(name)) throw new DiskError("EOTHER", `invalid file name ${JSON.stringify(name)}`);
}

export class SystemDisk implements Disk {
  readonly directory: string;
  readonly location: string;
  /** Insertion order is least recently opened first: the eviction order. */
  private readonly files = new Map<string, CachedFile>();
  private closed = false;
  /** Told how long each fdatasync and directory fsync took, successful or not (the node's fsync histogram). */
  onSyncDone: ((kind: "file" | "directory", durationSeconds: number) => void) | undefined;

  /** Creates `directory` (and its parents) when absent. */
  constructor(directory: string) {
    this.directory = directory;
    this.location = directory;
    try {
      mkdirSync(directory, { recursive: true });
    } catch (error) {
      throw toDiskError("mkdir", directory, error);
    }
  }

  list(): string[] {
    try {
      return readdirSync(this.directory, { withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => entry.name)
        .sort();
    } catch (error) {
      throw toDiskError("list", this.directory, error);
    }
  }

  read(name: string): Uint8Array | undefined {
    checkName(name);
    try {
      return new Uint8Array(readFileSync(join(this.directory, name)));
    } catch (error) {
      if ((error as { code?: unknown }).code === "ENOENT") return undefined;
      throw toDiskError("read", name, error);
    }
  }

  size(name: string): number | undefined {
    checkName(name);
    const cached = this.files.get(name);
    try {
      if (cached !== undefined) return fstatSync(cached.fd).size;
      const fd = openSync(join(this.directory, name), constants.O_RDONLY);
      try {
        return fstatSync(fd).size;
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      if ((error as { code?: unknown }).code === "ENOENT") return undefined;
      throw toDiskError("size", name, error);
    }
  }

  write(name: string, offset: number, data: Uint8Array): void {
    const fd = this.open(name, true).fd;
    try {
      let written = 0;
      while (written < data.length) {
        written += writeSync(fd, data, written, data.length - written, offset + written);
      }
    } catch (error) {
      throw toDiskError("write", name, error);
    }
  }

  truncate(name: string, size: number): void {
    const fd = this.open(name, false).fd;
    try {
      ftruncateSync(fd, size);
    } catch (error) {
      throw toDiskError("truncate", name, error);
    }
  }

  remove(name: string): void {
    checkName(name);
    this.forget(name);
    try {
      unlinkSync(join(this.directory, name));
    } catch (error) {
      throw toDiskError("remove", name, error);
    }
  }

  rename(from: string, to: string): void {
    checkName(from);
    checkName(to);
    try {
      renameSync(join(this.directory, from), join(this.directory, to));
    } catch (error) {
      throw toDiskError("rename", from, error);
    }
    // The descriptor of `from` now refers to the file named `to`.
    this.forget(to);
    const moved = this.files.get(from);
    if (moved !== undefined) {
      this.files.delete(from);
      this.files.set(to, moved);
    }
  }

  sync(name: string, done: (error: DiskError | undefined) => void): void {
    let file: CachedFile;
    try {
      file = this.open(name, false);
    } catch (error) {
      const diskError = error instanceof DiskError ? error : toDiskError("sync", name, error);
      process.nextTick(() => done(diskError));
      return;
    }
    file.syncsInFlight++;
    const startNs = process.hrtime.bigint();
    fdatasync(file.fd, (error) => {
      this.onSyncDone?.("file", Number(process.hrtime.bigint() - startNs) / 1e9);
      file.syncsInFlight--;
      if (file.closeWhenIdle && file.syncsInFlight === 0) closeQuietly(file.fd);
      done(error === null ? undefined : toDiskError("fdatasync", name, error));
    });
  }

  syncDirectory(done: (error: DiskError | undefined) => void): void {
    let fd: number;
    try {
      fd = openSync(this.directory, constants.O_RDONLY);
    } catch (error) {
      const diskError = toDiskError("open directory", this.directory, error);
      process.nextTick(() => done(diskError));
      return;
    }
    const startNs = process.hrtime.bigint();
    fsync(fd, (error) => {
      this.onSyncDone?.("directory", Number(process.hrtime.bigint() - startNs) / 1e9);
      closeQuietly(fd);
      done(error === null ? undefined : toDiskError("fsync directory", this.directory, error));
    });
  }

  /** statfs(2) of the directory: blocks available to an unprivileged writer (bavail, not bfree) times the block size. */
  freeBytes(): number | undefined {
    try {
      const stats = statfsSync(this.directory);
      const free = stats.bavail * stats.bsize;
      return Number.isSafeInteger(free) && free >= 0 ? free : undefined;
    } catch {
      return undefined; // a file system that cannot say: the reserve check is skipped, ENOSPC still handled
    }
  }

  /** Closes every cached descriptor (those with a flush in flight close when it finishes). */
  close(): void {
    this.closed = true;
    for (const name of [...this.files.keys()]) this.forget(name);
  }

  private open(name: string, create: boolean): CachedFile {
    checkName(name);
    if (this.closed) throw new DiskError("EOTHER", `disk ${this.directory} is closed`);
    const cached = this.files.get(name);
    if (cached !== undefined) {
      // Refresh its place in the eviction order.
      this.files.delete(name);
      this.files.set(name, cached);
      return cached;
    }
    let fd: number;
    try {
      fd = openSync(join(this.directory, name), create ? constants.O_RDWR | constants.O_CREAT : constants.O_RDWR, 0o644);
    } catch (error) {
      throw toDiskError("open", name, error);
    }
    const file: CachedFile = { fd, syncsInFlight: 0, closeWhenIdle: false };
    this.files.set(name, file);
    this.evict();
    return file;
  }

  private evict(): void {
    if (this.files.size <= OPEN_FILES_MAX) return;
    for (const name of this.files.keys()) {
      if (this.files.size <= OPEN_FILES_MAX) return;
      this.forget(name);
    }
  }

  /** Drops `name` from the cache, closing its descriptor now or after its flushes. */
  private forget(name: string): void {
    const file = this.files.get(name);
    if (file === undefined) return;
    this.files.delete(name);
    if (file.syncsInFlight === 0) closeQuietly(file.fd);
    else file.closeWhenIdle = true;
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Closing can only fail for a descriptor already closed; nothing depends on it.
  }
}
