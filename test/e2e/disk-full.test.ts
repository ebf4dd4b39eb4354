// Real processes, real full disks (issue #12, "Disk full"): each node's data directory is its
// own 8 MiB tmpfs. Filling one follower's, then the leader's, then every node's file system
// must stop writes, not nodes: writes refused with ResourceExhausted naming the node and its
// data directory, `cluster status` showing the alarm, reads still served, no process exiting;
// freeing the space clears the alarm by itself and writes succeed; no acknowledged write is lost.
//
// Needs mount(2) (we run as root in CI); without it the test skips, saying why. Every tmpfs is
// unmounted in `after`, after the processes are gone.
import { after, before, describe, test } from "node:test";
import { runCli, type CliRun } from "../support/run-cli.ts";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { ProcessCluster, waitFor } from "./process-cluster.ts";
import { issueClient } from "../../src/shell/cli/ca-command.ts";

const IDS = [1, 2, 3] as const;
const TMPFS_SIZE = "8m";
/** Writes are refused under 1 MiB free (the default, 64 MiB, is more than the whole tmpfs). */
const RESERVE_BYTES = 1024 * 1024;
const FILL_CHUNK = new Uint8Array(64 * 1024).fill(0x5a);

/** Mounts a tmpfs at `dir`; the reason it could not, or undefined. */
function mountTmpfs(dir: string): string | undefined {
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${TMPFS_SIZE}`, "tmpfs", dir], { stdio: "pipe" });
    return undefined;
  } catch (error) {
    return `mount -t tmpfs not permitted here (${(error as Error).message.split("\n")[0]}); run as root to test full disks`;
  }
}

function unmount(dir: string): void {
  try {
    execFileSync("umount", [dir], { stdio: "pipe" });
  } catch {
    execFileSync("umount", ["-l", dir], { stdio: "pipe" }); // busy: detach now, freed when the last user goes
  }
}

/**
 * Fills the file system holding `dataDir` to the last byte, in a subdirectory the store does not
 * list (Disk.list() lists files only). Returns the bytes written.
 */
function fillFileSystem(dataDir: string): number {
  const fillDir = join(dataDir, "filler");
  mkdirSync(fillDir, { recursive: true });
  let written = 0;
  for (let i = 0; i < 1_000; i++) {
    try {
      appendFileSync(join(fillDir, "fill"), FILL_CHUNK);
      written += FILL_CHUNK.length;
    } catch (error) {
      if ((error as { code?: string }).code === "ENOSPC") break;
      throw error;
    }
  }
  // The last chunk may have stopped short: top up byte by byte.
  for (let i = 0; i < 1_000; i++) {
    try {
      appendFileSync(join(fillDir, "fill-tail"), new Uint8Array(4096));
    } catch (error) {
      if ((error as { code?: string }).code === "ENOSPC") break;
      throw error;
    }
  }
  return written;
}

function freeFileSystem(dataDir: string): void {
  rmSync(join(dataDir, "filler"), { recursive: true, force: true });
}

function blixard(...args: string[]): Promise<CliRun> {
  return runCli(args, { env: { BLIXARD_CONTEXT: "" } });
}

describe("three node processes, each on its own 8 MiB tmpfs: a full disk stops writes, not nodes", { timeout: 240_000 }, () => {
  const cluster = new ProcessCluster("disk-full");
  const mounted: string[] = [];
  let skipReason: string | undefined;
  /** Every write a node acknowledged, by key. */
  const acknowledged = new Map<string, string>();

  before(async () => {
    for (const id of IDS) {
      const dir = join(cluster.dir, `node-${id}`);
      skipReason = mountTmpfs(dir);
      if (skipReason !== undefined) return;
      mounted.push(dir);
    }
    cluster.extraNodeArgs = ["--disk-reserve-bytes", String(RESERVE_BYTES)];
    await cluster.bootstrap([...IDS]);
  });

  after(async () => {
    for (const id of IDS) if (cluster.isRunning(id)) await cluster.stop(id, "SIGKILL");
    for (const dir of mounted) unmount(dir);
    await cluster.cleanup();
  });

  const dataDir = (id: number): string => cluster.nodes.get(id)!.dataDir;
  /** The CLI's way to node `id`: over TLS with a client certificate of the cluster's CA (issued in `before`). */
  let cliTlsDir = "";
  const endpoint = (id: number): string => cluster.nodes.get(id)!.api;

  /** A put at `id` that must be acknowledged (retried across a leader change). */
  async function putAcknowledged(key: string, value: string, via: readonly number[] = IDS): Promise<void> {
    await cluster.put(key, value, 15_000, via);
    acknowledged.set(key, value);
  }

  /**
   * Puts at `id` until one is refused with ResourceExhausted (the reserve is checked once per
   * tick, so the first may still go through: such a put counts as acknowledged); returns the message.
   */
  async function refusedPut(id: number, key: string): Promise<string> {
    let attempt = 0;
    return waitFor(`node ${id} to refuse a write with ResourceExhausted`, 10_000, async () => {
      const value = `refused-${attempt++}`;
      try {
        await cluster.client(id).kv.put({ key, value });
        acknowledged.set(key, value);
        return undefined;
      } catch (error) {
        if (error instanceof ConnectError && error.code === Code.ResourceExhausted) return error.rawMessage;
        throw error;
      }
    });
  }

  /**
   * A put through the nodes in `via` that must be acknowledged. A node whose disk is full can
   * still win an election (Raft knows nothing of disks) and then refuses every write: as an
   * operator would, move leadership to a node with space (`cluster transfer-leader`) and retry.
   */
  async function putAvoiding(full: readonly number[], key: string, value: string, via: readonly number[]): Promise<void> {
    let attempt = 0;
    await waitFor(`put ${key} while nodes ${full.join(",")} are full`, 20_000, async () => {
      const id = via[attempt++ % via.length]!;
      try {
        await cluster.client(id).kv.put({ key, value });
        return true;
      } catch (error) {
        const fullLeader = full.find((n) => error instanceof ConnectError && error.code === Code.ResourceExhausted && error.rawMessage.includes(`disk full on node ${n} (`));
        if (fullLeader === undefined) throw error;
        await cluster.client(id).cluster.transferLeader({ targetId: BigInt(via[0]!) }).catch(() => undefined);
        return undefined;
      }
    });
    acknowledged.set(key, value);
  }

  async function alarmsShown(id: number): Promise<string> {
    if (cliTlsDir === "") cliTlsDir = await issueClient(cluster.caDir!, "disk-full-cli");
    const run = await blixard("cluster", "status", "--endpoint", endpoint(id), "--tls-dir", cliTlsDir);
    assert.equal(run.code, 0, run.stderr);
    return run.stdout;
  }

  /**
   * A read at `id`, retried only while it is refused as unavailable (an election under load,
   * which any client retries); a read refused for a full disk (resource_exhausted) fails the test.
   */
  async function read(id: number, key: string, serializable: boolean): Promise<string> {
    return waitFor(`a read of ${key} at node ${id}`, 10_000, async () => {
      try {
        return await cluster.get(id, key, serializable);
      } catch (error) {
        if (error instanceof ConnectError && error.code === Code.Unavailable) return undefined;
        throw error;
      }
    }).catch((error: Error) => assert.fail(`node ${id} did not serve a read of ${key}: ${error.message}`));
  }

  async function expectEveryValue(ids: readonly number[]): Promise<void> {
    for (const id of ids) {
      for (const [key, value] of acknowledged) {
        assert.equal(await read(id, key, false), value, `node ${id}, key ${key} (linearizable)`);
        assert.equal(await read(id, key, true), value, `node ${id}, key ${key} (local)`);
      }
    }
  }

  test("one node full, then the leader, then all; then space freed", async (t) => {
    if (skipReason !== undefined) return t.skip(skipReason);
    const leader = await cluster.waitForLeader([...IDS], 30_000);
    for (let i = 0; i < 20; i++) await putAcknowledged(`before-${i}`, `value-${i}-${"x".repeat(100)}`);
    const [followerA, followerB] = IDS.filter((id) => id !== leader) as [number, number];

    // 1. One follower's disk full to the last byte: it refuses writes sent to it, the other two
    // keep committing (its appends fail with ENOSPC and are retried), and its status says why.
    fillFileSystem(dataDir(followerA));
    const refusedAtFollower = await refusedPut(followerA, "at-full-follower");
    assert.match(refusedAtFollower, new RegExp(`node ${followerA} \\(${dataDir(followerA).replaceAll("/", "\\/")}\\)`));
    // Values of 8 KiB: more than the free bytes left in the last page of the follower's WAL (tmpfs allocates whole pages).
    for (let i = 0; i < 10; i++) await putAvoiding([followerA], `one-full-${i}`, `v${i}-${"y".repeat(8 * 1024)}`, [leader, followerB]);
    const statusOne = await alarmsShown(leader);
    assert.match(statusOne, new RegExp(`ALARM node ${followerA}: disk-full: disk full on node ${followerA} \\(${dataDir(followerA).replaceAll("/", "\\/")}\\)`), statusOne);
    assert.equal(await cluster.get(followerA, "before-3", true), acknowledged.get("before-3"), "the full follower serves local reads");
    // Its appends met ENOSPC for real (a short write on tmpfs, undone), and it waits for space instead of exiting.
    await waitFor(`node ${followerA} to retry a persist refused with ENOSPC`, 10_000, () => (/the persist is retried until it fits/.test(cluster.log(followerA)) ? true : undefined));

    // 2. The leader full too: the remaining quorum is leader + followerB, and the leader refuses writes.
    fillFileSystem(dataDir(leader));
    const refusedAtLeader = await refusedPut(leader, "at-full-leader");
    assert.match(refusedAtLeader, new RegExp(`disk full on node ${leader} \\(`));
    assert.match(await alarmsShown(followerB), new RegExp(`ALARM node ${leader}: disk-full`));

    // 3. Every disk full: every node refuses writes, naming itself; reads are served everywhere.
    fillFileSystem(dataDir(followerB));
    // A node notices its own disk on its next space check: until then a follower forwards, and the
    // leader's refusal names the leader. Wait for each node's refusal to name itself.
    for (const id of IDS) {
      const own = new RegExp(`disk full on node ${id} \\(${dataDir(id).replaceAll("/", "\\/")}\\)`);
      const named = await waitFor(`node ${id} to refuse naming its own disk`, 10_000, async () => {
        const refusal = await refusedPut(id, `all-full-${id}`);
        return own.test(refusal) ? refusal : undefined;
      });
      assert.match(named, own);
    }
    const statusAll = await alarmsShown(followerB);
    for (const id of IDS) assert.match(statusAll, new RegExp(`ALARM node ${id}: disk-full`), statusAll);
    await expectEveryValue([leader, followerB]);
    for (const id of IDS) assert.ok(cluster.isRunning(id), `node ${id} exited on a full disk:\n${cluster.log(id).slice(-2_000)}`);

    // 4. Space back: every alarm clears by itself, writes succeed at every node, nothing acknowledged is lost.
    for (const id of IDS) freeFileSystem(dataDir(id));
    await waitFor("every alarm to clear", 15_000, async () => ((await alarmsShown(leader)).includes("ALARM") ? undefined : true));
    assert.match(cluster.log(followerA), /the persist went through, writes are accepted again/);
    for (const id of IDS) await putAcknowledged(`after-${id}`, `fine-${id}`, [id]);
    const target = (await cluster.localStatus(await cluster.waitForLeader([...IDS], 15_000))).commit;
    for (const id of IDS) await waitFor(`node ${id} to apply ${target}`, 15_000, async () => ((await cluster.localStatus(id)).applied >= target ? true : undefined));
    await expectEveryValue(IDS);
    for (const id of IDS) assert.ok(cluster.isRunning(id), `node ${id} exited`);
  });
});
