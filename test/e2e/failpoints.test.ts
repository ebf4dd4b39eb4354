// Failpoints on real `blixard node` processes (docs/FAILPOINTS.md): BLIXARD_FAILPOINTS at start
// (a bad spec is one line and exit 2, and no node starts), each action where it acts (panic
// exits 5 with one line naming the point; crash is SIGKILL; return(EIO) at storage.fsync is the
// storage's failed-fsync path, exit 4; sleep delays the leader's sends, so a write takes at least
// that long; off lets the point be reached without firing; a clock point sets the node's clock
// from the start; return at raft.persist is the storage's I/O error, exit 4, whatever the ARG;
// return at raft.persist.after on a follower loses its acknowledgements, so a write waits until the
// point is cleared; return at net.receive on a follower drops the leader's messages, the same; return
// at raft.apply is refused on every path; return(EIO) at storage.write and storage.rename stops the
// node, exit 4; return at raft.snapshot-early snapshots at once; sleep/delay at storage.fsync(.after)
// delay a write by at least MS), and the admin API through the CLI: set, list, clear, and PermissionDenied for
// a token that is not an admin's. The agent's and the VM backend's points: failpoints-agent.test.ts.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join, resolve } from "node:path";
import { parseSnapshotFileName } from "../../src/core/storage/file-names.ts";
import { createApiClients } from "../../src/shell/api/client.ts";
import { EXIT_PERMISSION_DENIED } from "../../src/shell/cli/api-output.ts";
import { EXIT_INTERNAL_ERROR, EXIT_STORAGE_FAILED } from "../../src/shell/cli/fatal-exit.ts";
import { freePort, ProcessCluster, sleep, waitFor } from "./process-cluster.ts";
import { ADMIN_TOKEN, BOOTSTRAP_TOKEN_FLAG } from "../support/admin-token.ts";
import { runCli } from "../support/run-cli.ts";

const BIN = resolve(import.meta.dirname, "../../bin/blixard.js");
/** However a node ends here, it ends within this (a node that does not would fail the test, not hang it). */
const NODE_DEADLINE_MS = 30_000;

interface Ended {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

interface RunningNode {
  readonly api: string;
  readonly ended: Promise<Ended>;
  readonly kill: () => void;
}

async function startNode(dir: string, failpoints: string | undefined): Promise<RunningNode> {
  const peer = `127.0.0.1:${await freePort()}`;
  const api = `127.0.0.1:${await freePort()}`;
  const args = [BIN, "node", "--id", "1", "--peer-listen", peer, "--api-listen", api, "--data-dir", dir, "--initial-cluster", `1=${peer}`, "--insecure", "--tick-ms", "20", ...BOOTSTRAP_TOKEN_FLAG];
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (failpoints === undefined) delete env.BLIXARD_FAILPOINTS;
  else env.BLIXARD_FAILPOINTS = failpoints;
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString("utf8")));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
  const ended = new Promise<Ended>((done) => child.once("exit", (code, signal) => done({ code, signal, stdout, stderr })));
  const timer = setTimeout(() => child.kill("SIGKILL"), NODE_DEADLINE_MS);
  void ended.then(() => clearTimeout(timer));
  return { api, ended, kill: () => child.kill("SIGKILL") };
}

/** The indexes of the snapshot files anywhere under a node's data directory. */
function snapshotIndexes(dataDir: string): number[] {
  if (!existsSync(dataDir)) return [];
  return readdirSync(dataDir, { recursive: true, encoding: "utf8" }).flatMap((path) => {
    const index = parseSnapshotFileName(basename(path));
    return index === undefined ? [] : [index];
  });
}

function assertOneLine(stderr: string, pattern: RegExp): void {
  assert.equal(stderr.trimEnd().split("\n").length, 1, `one stderr line, got: ${stderr}`);
  assert.match(stderr, pattern);
  assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
}

describe("failpoints on real processes", { timeout: 180_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-failpoints-"));
  const running: RunningNode[] = [];
  after(() => {
    for (const node of running) node.kill();
    rmSync(dir, { recursive: true, force: true });
  });
  let next = 0;
  const dataDir = (): string => join(dir, `n${next++}`);

  test("a bad BLIXARD_FAILPOINTS: one line naming the column or the point, exit 2, and the node does not start", async () => {
    const cases: [string, RegExp][] = [
      ["storage.fsync=1%retur(EIO)", /BLIXARD_FAILPOINTS: column 17: unknown action "retur"/],
      ["storage.fsnc=return", /BLIXARD_FAILPOINTS: no failpoint "storage.fsnc"/],
      ["raft.apply=return(EIO)", /BLIXARD_FAILPOINTS: raft.apply takes no return/],
      ["storage.write=sleep(10)", /BLIXARD_FAILPOINTS: storage.write takes no sleep/],
      ["clock.monotonic=return(drift:+200000)", /BLIXARD_FAILPOINTS: clock\.monotonic: drift \+200000 ppm is beyond the drift bound of 100000 ppm/],
      ["clock.wall=50%return(offset:1000)", /BLIXARD_FAILPOINTS: clock\.wall takes exactly one return\(offset:MS\)/],
    ];
    for (const [spec, pattern] of cases) {
      const data = dataDir();
      const node = await startNode(data, spec);
      running.push(node);
      const ended = await node.ended;
      assert.equal(ended.code, 2, `${spec}: ${ended.stderr}`);
      assertOneLine(ended.stderr, pattern);
      assert.ok(!existsSync(data) || readdirSync(data).length === 0, `${spec}: the node wrote its data directory`);
    }
  });

  test("a clock point at start: the node runs with its wall clock offset from its first status on", async () => {
    const node = await startNode(dataDir(), "clock.wall=return(offset:-3600000)");
    running.push(node);
    const clients = createApiClients(node.api, { timeoutMs: 2_000, token: ADMIN_TOKEN.text });
    const shiftMs = await waitFor("a first status", NODE_DEADLINE_MS, async () => {
      const wallMs = Number((await clients.cluster.status({ localOnly: true })).nodes[0]!.wallTimeMs);
      return wallMs - Date.now();
    });
    assert.ok(Math.abs(shiftMs + 3_600_000) < 3_000, `the node's wall clock is ${shiftMs} ms off`);
    const listed = await clients.failpoint.list({});
    assert.deepEqual(listed.failpoints.map((p) => [p.name, p.actions]), [["clock.wall", "return(offset:-3600000)"]]);
    node.kill();
    await node.ended;
  });

  test("panic: the process exits 5 with one line naming the point and its message", async () => {
    const node = await startNode(dataDir(), "raft.apply=panic(planned outage)");
    running.push(node);
    const ended = await node.ended;
    assert.equal(ended.code, EXIT_INTERNAL_ERROR, ended.stderr);
    assertOneLine(ended.stderr, /failpoint raft\.apply panicked: planned outage/);
  });

  test("crash: the process dies by SIGKILL at the point, with nothing on stderr", async () => {
    const node = await startNode(dataDir(), "raft.persist.after=crash");
    running.push(node);
    const ended = await node.ended;
    assert.equal(ended.signal, "SIGKILL", `code ${ended.code}: ${ended.stderr}`);
    assert.equal(ended.stderr, "");
    // No log line is asked for: pino writes asynchronously, and kill -9 loses what was not written yet.
  });

  test("return(EIO) at storage.fsync, set through the CLI: the storage's failed-fsync path (exit 4, one line); list shows it; a non-admin token is refused", async () => {
    const node = await startNode(dataDir(), undefined);
    running.push(node);
    const endpoint = `http://${node.api}`;
    const clients = createApiClients(node.api, { timeoutMs: 2_000, token: ADMIN_TOKEN.text });
    await waitFor("a first write", NODE_DEADLINE_MS, async () => ((await clients.kv.put({ key: "k", value: "v" })).index > 0n ? true : undefined));

    const operator = await clients.token.createToken({ role: "operator", tenant: "", ttlSeconds: 0n });
    const refused = await runCli(["node", "failpoint", "list", "--endpoint", endpoint], { env: { BLIXARD_TOKEN: operator.token } });
    assert.equal(refused.code, EXIT_PERMISSION_DENIED, refused.stderr);
    const typo = await runCli(["node", "failpoint", "set", "storage.fsync", "retrun(EIO)", "--endpoint", endpoint]);
    assert.equal(typo.code, 2, typo.stderr);
    assertOneLine(typo.stderr, /failpoint storage\.fsync: column 1: unknown action "retrun"/);

    const set = await runCli(["node", "failpoint", "set", "storage.fsync", "return(EIO)", "--endpoint", endpoint]);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /^node 1: storage\.fsync=return\(EIO\)$/m);
    const listed = await runCli(["node", "failpoint", "list", "-o", "json", "--endpoint", endpoint]);
    assert.equal(listed.code, 0, listed.stderr);
    const list = JSON.parse(listed.stdout) as { nodeId: string; failpoints: { name: string; actions: string }[] };
    assert.deepEqual(list.failpoints.map((p) => [p.name, p.actions]), [["storage.fsync", "return(EIO)"]]);

    // The next write needs an fsync: it fails, and the node stops as on a real disk's EIO.
    await clients.kv.put({ key: "k", value: "after" }).catch(() => undefined);
    const ended = await node.ended;
    assert.equal(ended.code, EXIT_STORAGE_FAILED, ended.stderr);
    assertOneLine(ended.stderr, /storage failed while running.*EIO.*injected by failpoint storage\.fsync/);
  });
  interface Stopping {
    readonly point: string;
    readonly actions: string;
    readonly what: string;
    /** The node's one stderr line when it stops (exit 4). */
    readonly line: RegExp;
    /** A second point set after the first to bring the operation about (then the write may be acknowledged before it). */
    readonly trigger?: readonly [string, string];
  }
  const running4 = "^blixard node: fatal: storage failed while running, node stopped \\(data directory [^)]+\\): ";
  const stopping: readonly Stopping[] = [
    { point: "raft.persist", actions: "return", what: "the next write's persist fails as the storage's I/O error", line: new RegExp(`${running4}storage persist of the Ready failed: EIO: injected by failpoint raft\\.persist \\(persist a Ready\\)\n$`) },
    { point: "raft.persist", actions: "return(ENOSPC)", what: "ENOSPC too is the I/O error, not the full-disk path", line: new RegExp(`${running4}storage persist of the Ready failed: ENOSPC: injected by failpoint raft\\.persist \\(persist a Ready\\)\n$`) },
    { point: "storage.write", actions: "return(EIO)", what: "the next write's append fails with EIO", line: new RegExp(`${running4}.*EIO: injected by failpoint storage\\.write`) },
    { point: "storage.write.after", actions: "return(EIO)", what: "the next write's bytes land but it reports EIO", line: new RegExp(`${running4}.*EIO: injected by failpoint storage\\.write\\.after`) },
    { point: "storage.fsync.after", actions: "return(EIO)", what: "the next write's fsync succeeds but reports EIO (a lost completion)", line: new RegExp(`${running4}.*EIO: injected by failpoint storage\\.fsync\\.after`) },
    { point: "storage.snapshot-write", actions: "return(EIO)", what: "the snapshot that raft.snapshot-early=return asks for fails to write", line: new RegExp(`${running4}.*EIO: injected by failpoint storage\\.snapshot-write`), trigger: ["raft.snapshot-early", "return"] },
    // A write on a single node replaces no file; a snapshot does (temporary file, fsync, rename).
    { point: "storage.rename", actions: "return(EIO)", what: "the snapshot that raft.snapshot-early=return asks for fails at its rename", line: new RegExp(`${running4}.*EIO: injected by failpoint storage\\.rename`), trigger: ["raft.snapshot-early", "return"] },
  ];
  for (const { point, actions, what, line, trigger } of stopping) {
    test(`${point}=${actions}, set through the CLI: ${what}; ${trigger === undefined ? "the write is not acknowledged and " : ""}the node exits 4 with one line naming the point`, async () => {
      const node = await startNode(dataDir(), undefined);
      running.push(node);
      const clients = createApiClients(node.api, { timeoutMs: 2_000, token: ADMIN_TOKEN.text });
      await waitFor("a first write", NODE_DEADLINE_MS, async () => ((await clients.kv.put({ key: "k", value: "v" })).index > 0n ? true : undefined));
      for (const [name, spec] of trigger === undefined ? [[point, actions]] : [[point, actions], trigger]) {
        const set = await runCli(["node", "failpoint", "set", name!, spec!, "--endpoint", `http://${node.api}`]);
        assert.equal(set.code, 0, set.stderr);
      }
      const put = await clients.kv.put({ key: "k", value: "lost" }).then(() => "acknowledged", () => "failed");
      const ended = await node.ended;
      if (trigger === undefined) assert.equal(put, "failed", "a write whose persist failed is not acknowledged");
      assert.equal(ended.code, EXIT_STORAGE_FAILED, ended.stderr);
      assertOneLine(ended.stderr, line);
    });
  }

  test("storage.write=return(ENOSPC): the full-disk path, not a stop: the write is refused, the node stays up with its disk-full alarm raised; cleared, the retried batch fits, the alarm clears and writes go on", async () => {
    const node = await startNode(dataDir(), undefined);
    running.push(node);
    const clients = createApiClients(node.api, { timeoutMs: 2_000, token: ADMIN_TOKEN.text });
    await waitFor("a first write", NODE_DEADLINE_MS, async () => ((await clients.kv.put({ key: "k", value: "v" })).index > 0n ? true : undefined));
    const set = await runCli(["node", "failpoint", "set", "storage.write", "return(ENOSPC)", "--endpoint", `http://${node.api}`]);
    assert.equal(set.code, 0, set.stderr);
    const put = await clients.kv.put({ key: "k", value: "full" }).then(() => "acknowledged", () => "failed");
    assert.equal(put, "failed", "a write the disk refused is not acknowledged");
    const alarms = async (): Promise<readonly string[]> => (await clients.cluster.status({ localOnly: true })).nodes[0]!.alarms;
    const raised = await waitFor("the disk-full alarm", 10_000, async () => ((await alarms()).some((a) => a.startsWith("disk-full:")) ? alarms() : undefined), 100);
    assert.match(raised.join("\n"), /disk-full: disk full on node 1/);
    assert.equal((await runCli(["node", "failpoint", "clear", "storage.write", "--endpoint", `http://${node.api}`])).code, 0);
    await waitFor("the alarm to clear", 10_000, async () => ((await alarms()).length === 0 ? true : undefined), 100);
    await waitFor("a write after the alarm", 10_000, async () => ((await clients.kv.put({ key: "k", value: "after" }).catch(() => undefined)) === undefined ? undefined : true), 100);
    assert.equal((await clients.kv.get({ key: "k" })).value, "after");
    const exited = await Promise.race([node.ended.then(() => true), Promise.resolve(false)]);
    assert.equal(exited, false, "the node stopped on a full disk");
    node.kill();
    await node.ended;
  });

  test("sleep(MS) at storage.fsync and delay(MS) at storage.fsync.after: a write's fsync completes MS later, so the write takes at least MS; cleared, writes go on", async () => {
    const node = await startNode(dataDir(), undefined);
    running.push(node);
    const clients = createApiClients(node.api, { timeoutMs: 5_000, token: ADMIN_TOKEN.text });
    await waitFor("a first write", NODE_DEADLINE_MS, async () => ((await clients.kv.put({ key: "k", value: "v" })).index > 0n ? true : undefined));
    for (const [point, actions] of [["storage.fsync", "sleep(300)"], ["storage.fsync.after", "delay(300)"]] as const) {
      const set = await runCli(["node", "failpoint", "set", point, actions, "--endpoint", `http://${node.api}`]);
      assert.equal(set.code, 0, set.stderr);
      const startedMs = Date.now();
      await clients.kv.put({ key: "k", value: point });
      const tookMs = Date.now() - startedMs;
      assert.ok(tookMs >= 300, `${point}=${actions}: the write took ${tookMs} ms`);
      assert.equal((await runCli(["node", "failpoint", "clear", point, "--endpoint", `http://${node.api}`])).code, 0);
    }
    assert.equal((await clients.kv.get({ key: "k" })).value, "storage.fsync.after");
    node.kill();
    await node.ended;
  });

  test("raft.snapshot-early=return: the node snapshots at once (no snapshot before; one at the applied index after a write), and keeps serving", async () => {
    const data = dataDir();
    const node = await startNode(data, undefined);
    running.push(node);
    const clients = createApiClients(node.api, { timeoutMs: 2_000, token: ADMIN_TOKEN.text });
    await waitFor("a first write", NODE_DEADLINE_MS, async () => ((await clients.kv.put({ key: "k", value: "v" })).index > 0n ? true : undefined));
    assert.deepEqual(snapshotIndexes(data), [], "no snapshot after one write (snapshotEveryEntries is far off)");
    const set = await runCli(["node", "failpoint", "set", "raft.snapshot-early", "return", "--endpoint", `http://${node.api}`]);
    assert.equal(set.code, 0, set.stderr);
    const written = Number((await clients.kv.put({ key: "k", value: "snapshotted" })).index);
    const indexes = await waitFor("a snapshot file", 10_000, () => (snapshotIndexes(data).some((i) => i >= written) ? snapshotIndexes(data) : undefined), 50);
    assert.ok(indexes.some((i) => i >= written), `snapshots ${indexes.join(", ")} after a write at ${written}`);
    assert.equal((await clients.kv.get({ key: "k" })).value, "snapshotted");
    node.kill();
    await node.ended;
  });
});

describe("failpoints on a two-node cluster", { timeout: 180_000 }, () => {
  // Elections slow enough (50 ms ticks, 30 of them) that a 300 ms delay of the leader's sends is no outage.
  const cluster = new ProcessCluster("failpoints", 50, 30, "info", { insecure: true });
  after(() => cluster.cleanup());

  test("sleep(MS) at net.send delays the leader's appends, so a write takes at least MS; off is reached without firing; clear empties the list", async () => {
    await cluster.bootstrap([1, 2]);
    const leader = await cluster.waitForLeader([1, 2], 60_000);
    await cluster.put("warm", "up", 30_000);
    const endpoint = `http://${cluster.nodes.get(leader)!.api}`;
    const cli = (...args: string[]) => runCli(["node", "failpoint", ...args, "--endpoint", endpoint]);

    const set = await cli("set", "net.send", "sleep(300)");
    assert.equal(set.code, 0, set.stderr);
    const client = cluster.client(leader);
    const startedMs = Date.now();
    await client.kv.put({ key: "slow", value: "1" });
    const tookMs = Date.now() - startedMs;
    // Two voters: the write commits only once the follower has the append, which leaves 300 ms late.
    assert.ok(tookMs >= 300, `the write took ${tookMs} ms with the leader's sends delayed by 300 ms`);
    const listed = JSON.parse((await cli("list", "-o", "json")).stdout) as { failpoints: { name: string; evaluated: string; fired: string }[] };
    assert.ok(Number(listed.failpoints[0]!.fired) > 0, JSON.stringify(listed));

    assert.equal((await cli("set", "net.send", "off")).code, 0);
    await client.kv.put({ key: "fast", value: "2" });
    const off = JSON.parse((await cli("list", "-o", "json")).stdout) as { failpoints: { name: string; actions: string; evaluated: string; fired: string }[] };
    assert.equal(off.failpoints[0]!.actions, "off");
    assert.ok(Number(off.failpoints[0]!.evaluated) > 0 && off.failpoints[0]!.fired === "0", JSON.stringify(off));

    const cleared = await cli("clear", "net.send");
    assert.equal(cleared.code, 0, cleared.stderr);
    assert.match(cleared.stdout, /net\.send cleared/);
    const empty = await cli("list");
    assert.match(empty.stdout, /no failpoint set/);
    assert.equal((await cluster.get(leader, "fast")), "2");
  });

  test("a count spends a task (2*print fires twice, then the chain is spent), 0% never fires, delay(MS) delays as sleep does", async () => {
    const leader = await cluster.waitForLeader([1, 2], 60_000);
    const endpoint = `http://${cluster.nodes.get(leader)!.api}`;
    const cli = (...args: string[]) => runCli(["node", "failpoint", ...args, "--endpoint", endpoint]);
    const listed = async (): Promise<Map<string, { actions: string; evaluated: number; fired: number }>> => {
      const out = await cli("list", "-o", "json");
      assert.equal(out.code, 0, out.stderr);
      const parsed = JSON.parse(out.stdout) as { failpoints: { name: string; actions: string; evaluated: string; fired: string }[] };
      return new Map(parsed.failpoints.map((p) => [p.name, { actions: p.actions, evaluated: Number(p.evaluated), fired: Number(p.fired) }]));
    };
    assert.equal((await cli("set", "storage.write", "2*print(counted write)")).code, 0);
    assert.equal((await cli("set", "storage.fsync", "0%return(EIO)")).code, 0);
    const client = cluster.client(leader);
    for (let i = 0; i < 5; i++) await client.kv.put({ key: `counted-${i}`, value: String(i) });
    const after = await listed();
    const write = after.get("storage.write")!;
    assert.ok(write.evaluated >= 5, `storage.write evaluated ${write.evaluated} times for 5 writes`);
    assert.equal(write.fired, 2, "a count of 2: it fires twice, then the chain is spent");
    const fsync = after.get("storage.fsync")!;
    assert.ok(fsync.evaluated >= 5 && fsync.fired === 0, `0%: evaluated ${fsync.evaluated}, fired ${fsync.fired}`);
    const printed = await waitFor("the two print lines in the leader's log", 10_000, async () => {
      const lines = cluster.log(leader).split("\n").filter((line) => line.includes('"msg":"failpoint print"'));
      return lines.length >= 2 ? lines : undefined;
    });
    assert.equal(printed.length, 2, printed.join("\n"));
    for (const line of printed) assert.match(line, /"failpoint":"storage\.write","message":"counted write"/);

    assert.equal((await cli("set", "net.send", "delay(300)")).code, 0);
    const startedMs = Date.now();
    await client.kv.put({ key: "delayed", value: "1" });
    const tookMs = Date.now() - startedMs;
    assert.ok(tookMs >= 300, `the write took ${tookMs} ms with the leader's sends delayed by 300 ms`);
    for (const name of ["net.send", "storage.write", "storage.fsync"]) assert.equal((await cli("clear", name)).code, 0);
  });
});

/**
 * For 1.5 s (the window), polls that a write through `leader` has not completed (`outcome()` is
 * undefined), that the leader leads and that its commit index stays at `commitBefore`.
 */
async function heldUncommitted(cluster: ProcessCluster, leader: number, commitBefore: number, outcome: () => string | undefined): Promise<void> {
  const windowStartMs = Date.now();
  while (Date.now() - windowStartMs < 1_500) {
    assert.equal(outcome(), undefined, "the write completed while the point was set");
    const status = await cluster.localStatus(leader);
    assert.equal(status.role, "leader", "the leader stepped down within the window");
    assert.equal(status.commit, commitBefore, "the leader committed with its only follower's messages lost");
    await sleep(100); // the window's poll interval
  }
}

describe("Raft failpoints on the follower of a two-node cluster", { timeout: 180_000 }, () => {
  // Elections slow (50 ms ticks, 100 of them: 5 s) so that the leader, hearing nothing from its
  // follower while the follower's messages are lost, keeps leading through the window.
  const cluster = new ProcessCluster("failpoints-persist-after", 50, 100, "info", { insecure: true });
  after(() => cluster.cleanup());
  let leader = 0;
  let follower = 0;
  const cli = (...args: string[]) => runCli(["node", "failpoint", ...args, "--endpoint", `http://${cluster.nodes.get(follower)!.api}`]);
  const fired = async (name: string): Promise<{ actions: string; evaluated: number; fired: number }> => {
    const out = await cli("list", "-o", "json");
    assert.equal(out.code, 0, out.stderr);
    const point = (JSON.parse(out.stdout) as { failpoints: { name: string; actions: string; evaluated: string; fired: string }[] }).failpoints.find((p) => p.name === name)!;
    return { actions: point.actions, evaluated: Number(point.evaluated), fired: Number(point.fired) };
  };
  /** Its own client: a write waits through the window (the node's request timeout is 5 s). */
  const leaderClient = () => createApiClients(cluster.nodes.get(leader)!.api, { timeoutMs: 10_000, token: ADMIN_TOKEN.text });

  /**
   * With `name=return` set on the follower, a write through the leader is neither acknowledged
   * nor committed for the window and the leader keeps leading; every evaluation fired; cleared,
   * Raft retransmits and the write completes and is readable.
   */
  async function heldUntilCleared(name: string, key: string): Promise<void> {
    assert.equal((await cli("set", name, "return")).code, 0);
    const commitBefore = (await cluster.localStatus(leader)).commit;
    let outcome: string | undefined;
    const put = leaderClient().kv.put({ key, value: "1" }).then(
      () => (outcome = "acknowledged"),
      (error: Error) => (outcome = `failed: ${error.message}`),
    );
    await heldUncommitted(cluster, leader, commitBefore, () => outcome);
    const lost = await fired(name);
    assert.ok(lost.fired > 0 && lost.fired === lost.evaluated, JSON.stringify(lost));
    assert.equal((await cli("clear", name)).code, 0);
    await put;
    assert.equal(outcome, "acknowledged");
    assert.equal(await cluster.get(leader, key), "1");
  }

  test("raft.persist.after=return on the follower: its acknowledgements are lost, so a write cannot commit while set; cleared, Raft retransmits and the write completes; with 1*return one Ready's messages are lost and writes still complete", async () => {
    await cluster.bootstrap([1, 2]);
    leader = await cluster.waitForLeader([1, 2], 60_000);
    follower = leader === 1 ? 2 : 1;
    await cluster.put("warm", "up", 30_000);
    // The follower has the entry (durable) but the leader never hears so.
    await heldUntilCleared("raft.persist.after", "held");

    // A count: one Ready's messages are lost, then the point is spent; writes complete.
    const client = leaderClient();
    assert.equal((await cli("set", "raft.persist.after", "1*return")).code, 0);
    for (let i = 0; i < 3; i++) await client.kv.put({ key: `counted-${i}`, value: String(i) });
    const counted = await fired("raft.persist.after");
    assert.equal(counted.fired, 1, JSON.stringify(counted));
    assert.ok(counted.evaluated > 1, JSON.stringify(counted));
    assert.equal((await cli("clear", "raft.persist.after")).code, 0);
    assert.equal(await cluster.get(follower, "counted-2", true), "2");
  });

  test("net.receive=return on the follower: every message from the leader is dropped, so a write cannot commit while set; cleared, Raft retransmits and the write completes", async () => {
    leader = await cluster.waitForLeader([1, 2], 60_000);
    follower = leader === 1 ? 2 : 1;
    await heldUntilCleared("net.receive", "dropped");
  });

  test("raft.apply=return is refused on every path (exit 2 from the CLI, InvalidArgument from the API) and nothing is set", async () => {
    const refused = await cli("set", "raft.apply", "return");
    assert.equal(refused.code, 2, refused.stderr);
    assertOneLine(refused.stderr, /raft\.apply takes no return/);
    const api = createApiClients(cluster.nodes.get(follower)!.api, { timeoutMs: 2_000, token: ADMIN_TOKEN.text });
    await assert.rejects(api.failpoint.set({ name: "raft.apply", actions: "return" }), (error: Error) => /raft\.apply takes no return/.test(error.message) && /invalid.?argument/i.test(`${(error as { code?: unknown }).code} ${error.message} ${error.name}`));
    assert.deepEqual((await api.failpoint.list({})).failpoints.filter((p) => p.name === "raft.apply"), []);
    await cluster.put("applied", "still", 10_000);
  });
});
