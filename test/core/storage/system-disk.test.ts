import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DiskError } from "../../../src/core/env/environment.ts";
import { SystemDisk } from "../../../src/shell/os/system-disk.ts";
import { RaftStorage, StorageError } from "../../../src/core/storage/raft-storage.ts";
import { BOOTSTRAP, IDENTITY, entries, hardState, plain } from "./harness.ts";

const directories: string[] = [];
const disks: SystemDisk[] = [];

function freshDirectory(): string {
  const directory = mkdtempSync(join(tmpdir(), "blixard-storage-test-"));
  directories.push(directory);
  return directory;
}

function disk(directory: string): SystemDisk {
  const opened = new SystemDisk(directory);
  disks.push(opened);
  return opened;
}

after(() => {
  for (const opened of disks) opened.close();
  for (const directory of directories) rmSync(directory, { recursive: true, force: true });
});

const bytes = (text: string) => new TextEncoder().encode(text);

function open(target: SystemDisk): Promise<RaftStorage> {
  return new Promise((resolve, reject) => RaftStorage.open(target, IDENTITY, BOOTSTRAP, {}, (result) => (result instanceof StorageError ? reject(result) : resolve(result))));
}

function persist(storage: RaftStorage, batch: Parameters<RaftStorage["persist"]>[0]): Promise<void> {
  return new Promise((resolve, reject) => storage.persist(batch, true, (error) => (error === undefined ? resolve() : reject(error))));
}

describe("SystemDisk", () => {
  test("creates its directory; files round trip; list is sorted and holds only files", () => {
    const directory = join(freshDirectory(), "nested", "data");
    const target = disk(directory);
    assert.deepEqual(target.list(), []);
    target.write("b.log", 0, bytes("hello"));
    target.write("b.log", 5, bytes(" world"));
    target.write("a", 0, bytes("x"));
    assert.deepEqual(target.list(), ["a", "b.log"]);
    assert.equal(new TextDecoder().decode(target.read("b.log")), "hello world");
    assert.equal(target.size("b.log"), 11);
    target.truncate("b.log", 5);
    assert.equal(target.size("b.log"), 5);
    target.rename("b.log", "c.log");
    assert.equal(target.read("b.log"), undefined);
    assert.equal(target.size("b.log"), undefined);
    assert.equal(new TextDecoder().decode(target.read("c.log")), "hello");
    target.write("c.log", 5, bytes("!")); // the cached descriptor follows the rename
    assert.equal(new TextDecoder().decode(target.read("c.log")), "hello!");
    target.remove("a");
    assert.deepEqual(readdirSync(directory).sort(), ["c.log"]);
  });

  test("errors are DiskErrors with codes", () => {
    const target = disk(freshDirectory());
    assert.throws(() => target.remove("missing"), (error: unknown) => error instanceof DiskError && error.code === "ENOENT");
    assert.throws(() => target.rename("missing", "other"), (error: unknown) => error instanceof DiskError && error.code === "ENOENT");
    assert.throws(() => target.truncate("missing", 0), (error: unknown) => error instanceof DiskError && error.code === "ENOENT");
    assert.throws(() => target.write("../escape", 0, bytes("x")), (error: unknown) => error instanceof DiskError && /invalid file name/.test(error.message));
  });

  test("sync and syncDirectory call back asynchronously; sync of a missing file reports ENOENT", async () => {
    const target = disk(freshDirectory());
    target.write("f", 0, bytes("data"));
    let synchronous = true;
    const synced = new Promise<void>((resolve, reject) =>
      target.sync("f", (error) => {
        if (synchronous) reject(new Error("sync called back re-entrantly"));
        if (error !== undefined) reject(error);
        resolve();
      }),
    );
    synchronous = false;
    await synced;
    await new Promise<void>((resolve, reject) => target.syncDirectory((error) => (error === undefined ? resolve() : reject(error))));
    const error = await new Promise<DiskError | undefined>((resolve) => target.sync("missing", resolve));
    assert.equal(error?.code, "ENOENT");
  });

  test("more files than the descriptor cache holds still read and write correctly", () => {
    const target = disk(freshDirectory());
    for (let i = 0; i < 100; i++) target.write(`f${String(i).padStart(3, "0")}`, 0, bytes(`file ${i}`));
    for (let i = 0; i < 100; i++) target.write(`f${String(i).padStart(3, "0")}`, 0, bytes(`FILE`));
    for (let i = 0; i < 100; i++) assert.equal(new TextDecoder().decode(target.read(`f${String(i).padStart(3, "0")}`)), `FILE ${i}`);
  });

  test("RaftStorage on the real file system: persist, reopen, recover", async () => {
    const directory = freshDirectory();
    const first = disk(directory);
    const storage = await open(first);
    await persist(storage, { snapshot: undefined, entries: [], hardState: hardState(1, 1, 0) });
    await persist(storage, { snapshot: undefined, entries: entries(1, 50, 1), hardState: hardState(1, 1, 40) });
    first.close();
    const reopened = await open(disk(directory));
    assert.deepEqual(reopened.recovered.hardState, { term: 1, vote: 1, commit: 40 });
    assert.deepEqual(plain(reopened.recovered.entries), plain(entries(1, 50, 1)));
    assert.deepEqual(readdirSync(directory).sort(), ["hardstate", "identity", "wal-0000000000000001.log"]);
  });

  test("a torn tail written by hand is truncated on the real file system", async () => {
    const directory = freshDirectory();
    const first = disk(directory);
    const storage = await open(first);
    await persist(storage, { snapshot: undefined, entries: entries(1, 3, 1), hardState: hardState(1, 1, 0) });
    first.close();
    const segment = join(directory, "wal-0000000000000001.log");
    const content = readFileSync(segment);
    writeFileSync(segment, Buffer.concat([content, Buffer.from([7, 0, 0, 0, 2, 0])])); // half a record header
    const reopened = await open(disk(directory));
    assert.equal(reopened.recovered.entries.length, 3);
    assert.equal(reopened.stats().walBytes, content.length);
  });
});
