// The storage failpoints (src/core/env/failpoints.ts, storage.*) as a Disk over a Disk: every
// write, fsync and rename of the data directory asks the Environment's failpoint first, and
// an error verdict becomes the DiskError the real disk would have thrown or passed, so the
// storage's own operating-error path handles it (undo a refused write, stop the node on a
// failed fsync). The same wrapper runs in a real node and in simulation. Delays go through the
// Environment's timers: the core never sleeps.
//
// Off costs one call and one branch per disk operation (the hook's activeCount check).

import { assert } from "../assert.ts";
import { DiskError, type Disk, type Failpoint, type FailpointVerdict, type Timers } from "../env/environment.ts";

const DISK_ERROR_CODES: readonly DiskError["code"][] = ["ENOSPC", "EIO", "ENOENT", "EOTHER"];

/** The DiskError a return(ARG) verdict stands for: ARG when it is a DiskError code, else EIO. */
export function injectedDiskError(point: string, verdict: { readonly arg: string | undefined }, what: string): DiskError {
  const code = DISK_ERROR_CODES.find((c) => c === verdict.arg) ?? "EIO";
  return new DiskError(code, `injected by failpoint ${point} (${what})`);
}

export class FailpointDisk implements Disk {
  constructor(
    private readonly inner: Disk,
    private readonly failpoint: Failpoint,
    private readonly timers: Timers,
  ) {
    assert(!(inner instanceof FailpointDisk), "a disk wrapped in failpoints twice");
  }

  get location(): string {
    return this.inner.location;
  }

  list(): string[] {
    return this.inner.list();
  }

  read(name: string): Uint8Array | undefined {
    return this.inner.read(name);
  }

  size(name: string): number | undefined {
    return this.inner.size(name);
  }

  freeBytes(): number | undefined {
    return this.inner.freeBytes();
  }

  write(name: string, offset: number, data: Uint8Array): void {
    const before = this.failpoint("storage.write");
    if (before !== undefined) throw injectedDiskError("storage.write", returned(before, "storage.write"), `write ${name}`);
    this.inner.write(name, offset, data);
    const after = this.failpoint("storage.write.after");
    if (after !== undefined) throw injectedDiskError("storage.write.after", returned(after, "storage.write.after"), `write ${name}`);
  }

  truncate(name: string, size: number): void {
    this.inner.truncate(name, size);
  }

  remove(name: string): void {
    this.inner.remove(name);
  }

  rename(from: string, to: string): void {
    const verdict = this.failpoint("storage.rename");
    if (verdict !== undefined) throw injectedDiskError("storage.rename", returned(verdict, "storage.rename"), `rename ${from} to ${to}`);
    this.inner.rename(from, to);
  }

  sync(name: string, done: (error: DiskError | undefined) => void): void {
    this.synced(`fsync ${name}`, (inner) => this.inner.sync(name, inner), done);
  }

  syncDirectory(done: (error: DiskError | undefined) => void): void {
    this.synced("fsync the data directory", (inner) => this.inner.syncDirectory(inner), done);
  }

  private synced(what: string, run: (done: (error: DiskError | undefined) => void) => void, done: (error: DiskError | undefined) => void): void {
    const finish = (error: DiskError | undefined): void => {
      if (error !== undefined) return done(error);
      const after = this.failpoint("storage.fsync.after");
      if (after === undefined) return done(undefined);
      if (after.kind === "delay") {
        this.timers.after(after.ms, () => done(undefined));
        return;
      }
      done(injectedDiskError("storage.fsync.after", returned(after, "storage.fsync.after"), what));
    };
    const before = this.failpoint("storage.fsync");
    if (before === undefined) return run(finish);
    if (before.kind === "delay") {
      this.timers.after(before.ms, () => run(finish));
      return;
    }
    const error = injectedDiskError("storage.fsync", returned(before, "storage.fsync"), what);
    // Never re-entrantly: the callback contract of Disk.sync.
    this.timers.after(0, () => done(error));
  }
}

function returned(verdict: FailpointVerdict, point: string): { readonly arg: string | undefined } {
  assert(verdict.kind === "return", () => `failpoint ${point} answered ${verdict.kind}, which the catalogue does not allow there`);
  return verdict;
}
