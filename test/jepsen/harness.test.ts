// The Jepsen harness: a tiny real run (3 nodes, 2 nemesis cycles) records nemesis ops, passes,
// writes outputs that `blixard check` reads back with the same verdict, and leaves no namespace
// behind; a run of only the clock faults is clean; and the checker stage fails runs with a
// planted lost write or a non-linearizable read.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { OpEvent } from "../../src/core/check/history.ts";
import { keyword } from "../../src/core/check/value.ts";
import { runCli } from "../support/run-cli.ts";
import { checkRun } from "./checks.ts";
import { NEMESIS } from "./history-recorder.ts";
import { probeNetwork, runPrefix } from "./network.ts";
import { DEFAULT_OPTIONS, runHarness } from "./run.ts";
import { OUTPUT_FILES } from "./run-outputs.ts";
import { KeySpace, LIST_APPENDS_PER_KEY, LIST_KEYS, REGISTER_KEYS, REGISTER_OPS_PER_KEY } from "./workload.ts";

/** Polls `condition` every 100 ms until it holds or `deadlineMs` passes. */
async function waitUntil(what: string, deadlineMs: number, condition: () => boolean): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > deadlineMs) throw new Error(`not within ${deadlineMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("a tiny harness run records nemesis ops, passes, and its outputs round-trip through blixard check", { timeout: 180_000 }, async () => {
  const lines: string[] = [];
  const faults = probeNetwork().kind === "namespaces" ? (["kill", "partition-one"] as const) : (["kill", "pause"] as const);
  const result = await runHarness({ ...DEFAULT_OPTIONS, nodes: 3, cycles: 2, clients: 3, holdMs: 600, quietMs: 300, faults, log: (line) => lines.push(line) });
  try {
    assert.equal(result.checks.exitCode, 0, `${result.verdict}\n${result.checks.problems.join("\n")}`);
    assert.match(result.verdict, /^jepsen: PASS cycles=2 ops=\d+ /);
    assert.equal(readFileSync(join(result.dir, OUTPUT_FILES.verdict), "utf8").trim(), result.verdict);
    const history = readFileSync(join(result.dir, OUTPUT_FILES.history), "utf8");
    for (const fault of faults) {
      assert.match(history, new RegExp(`:process :nemesis, :type :info, :f :start-${fault}`));
      assert.match(history, new RegExp(`:process :nemesis, :type :info, :f :stop-${fault}`));
    }
    assert.ok(result.summary.operations > 0);
    assert.match(readFileSync(join(result.dir, OUTPUT_FILES.report), "utf8"), /<svg[^]*nemesis|<svg/);
    const registers = await runCli(["check", join(result.dir, OUTPUT_FILES.registers), "--model", "kv"]);
    assert.equal(registers.code, 0, registers.stdout + registers.stderr);
    const txns = await runCli(["check", join(result.dir, OUTPUT_FILES.txns), "--model", "list-append"]);
    assert.equal(txns.code, 0, txns.stdout + txns.stderr);
    assert.match(txns.stdout, /strict-serializable/);
    // Everything the run created is gone: no namespace or link of this process, no node running.
    const prefix = runPrefix(process.pid);
    if (probeNetwork().kind === "namespaces") {
      assert.doesNotMatch(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout, new RegExp(prefix));
      assert.doesNotMatch(spawnSync("ip", ["-o", "link"], { encoding: "utf8" }).stdout, new RegExp(prefix));
    }
    assert.doesNotMatch(spawnSync("ps", ["-eo", "args"], { encoding: "utf8" }).stdout, new RegExp(`--data-dir ${result.dir}`));
  } finally {
    rmSync(result.dir, { recursive: true, force: true });
  }
});

test("a run with only the clock faults is clean: wall clock offsets, bumps and strobes and monotonic drifts within the bound change no checker's verdict", { timeout: 240_000 }, async () => {
  const lines: string[] = [];
  const faults = ["clock-offset", "clock-bump", "clock-strobe", "clock-drift"] as const;
  const result = await runHarness({ ...DEFAULT_OPTIONS, nodes: 3, cycles: 4, clients: 3, holdMs: 1_500, quietMs: 300, faults, log: (line) => lines.push(line) });
  try {
    // The clocks decide nothing that a client can see: leases and timeouts read the monotonic
    // clock within its bound, and the wall clock only stamps what people read (docs/CLOCKS.md).
    assert.equal(result.checks.exitCode, 0, `${result.verdict}\n${result.checks.problems.join("\n")}\n${lines.join("\n")}`);
    assert.equal(result.checks.registers.verdict, "ok");
    assert.equal(result.checks.transactions.strongestModel, "strict-serializable");
    assert.deepEqual(result.checks.lostWrites, []);
    assert.deepEqual(result.checks.crashes, []);
    assert.deepEqual(result.summary.faults, { "clock-offset": 1, "clock-bump": 1, "clock-strobe": 1, "clock-drift": 1 });
    assert.ok(result.summary.operations > 0);
    const history = readFileSync(join(result.dir, OUTPUT_FILES.history), "utf8");
    // Each fault reached its nodes: the in-force line names each victim's setting, and none failed.
    const points = { "clock-offset": /clock\.wall=return\(offset:[+-]\d+\)/, "clock-bump": /clock\.wall=return\(bump:[+-]\d+\)/, "clock-strobe": /clock\.wall=return\(strobe:[+-]\d+,\d+,\d+\)/, "clock-drift": /clock\.monotonic=return\(drift:\+\d+\)[^\n]*clock\.monotonic=return\(drift:-\d+\)/ };
    for (const fault of faults) {
      assert.match(history, new RegExp(`:process :nemesis, :type :info, :f :start-${fault}, :value "[^"]*${points[fault].source}`), fault);
      assert.match(history, new RegExp(`:process :nemesis, :type :info, :f :stop-${fault}`));
    }
    assert.doesNotMatch(history, /clock\.(wall|monotonic) failed/);
  } finally {
    rmSync(result.dir, { recursive: true, force: true });
  }
});

const ev = (process: number | string, type: OpEvent["type"], f: string, value: OpEvent["value"], key?: string): OpEvent => ({ process, type, f, value, ...(key === undefined ? {} : { key }), time: 0 });
const append = (k: number, v: number): OpEvent["value"] => [[keyword("append"), k, v]];

test("the checker stage fails a run whose acknowledged append is missing from the final read", () => {
  const events = [ev(NEMESIS, "info", "start-kill", [1]), ev(1, "invoke", "txn", append(0, 7)), ev(1, "ok", "txn", append(0, 7)), ev(NEMESIS, "info", "stop-kill", "healed")];
  const passing = checkRun({ events, finalLists: new Map([[0, [7]]]), crashes: [], recoveriesMs: [100] });
  assert.equal(passing.exitCode, 0, passing.problems.join("\n"));
  const lost = checkRun({ events, finalLists: new Map([[0, []]]), crashes: [], recoveriesMs: [100] });
  assert.equal(lost.exitCode, 1);
  assert.match(lost.problems.join("\n"), /lost writes: 1 \(append 7 to key 0 acknowledged/);
});

test("the checker stage fails a run with a non-linearizable register read", () => {
  const base = [ev(0, "invoke", "put", "0", "jepsen/r0"), ev(0, "ok", "put", "0", "jepsen/r0"), ev(1, "invoke", "put", "1.1", "jepsen/r0"), ev(1, "ok", "put", "1.1", "jepsen/r0")];
  const ok = checkRun({ events: [...base, ev(2, "invoke", "get", null, "jepsen/r0"), ev(2, "ok", "get", "1.1", "jepsen/r0")], finalLists: new Map(), crashes: [], recoveriesMs: [] });
  assert.equal(ok.exitCode, 0, ok.problems.join("\n"));
  const stale = checkRun({ events: [...base, ev(2, "invoke", "get", null, "jepsen/r0"), ev(2, "ok", "get", "0", "jepsen/r0")], finalLists: new Map(), crashes: [], recoveriesMs: [] });
  assert.equal(stale.exitCode, 1);
  assert.match(stale.problems.join("\n"), /registers: NOT linearizable/);
});

test("the checker stage fails a run with a crashed node or an unrecovered heal, naming the node and its log", () => {
  const crashed = checkRun({ events: [], finalLists: new Map(), crashes: [{ id: 2, exit: "code 70", logTail: "assertion failed: x" }], recoveriesMs: [undefined] });
  assert.equal(crashed.exitCode, 1);
  assert.match(crashed.problems.join("\n"), /node 2 crashed or failed to restart: code 70; log tail:\n {4}assertion failed: x/);
  assert.match(crashed.problems.join("\n"), /recovery: 1 heal/);
});

test("keys rotate: a register key retires after its operations, a list key after its appends, and every key used stays listed for the final reads", () => {
  const keys = new KeySpace();
  for (let i = 0; i < REGISTER_OPS_PER_KEY; i += 1) assert.equal(keys.registers.take(0), 0);
  assert.equal(keys.registers.take(0), REGISTER_KEYS, "the next id takes the retired key's slot");
  assert.equal(keys.registers.take(1), 1, "other slots keep their keys");
  assert.deepEqual(keys.registers.used, [...Array.from({ length: REGISTER_KEYS }, (_, i) => i), REGISTER_KEYS]);
  for (let i = 0; i < LIST_APPENDS_PER_KEY; i += 1) keys.lists.take(3);
  assert.equal(keys.lists.peek(3), 3, "a read (peek) does not count as an append");
  assert.equal(keys.lists.take(3), LIST_KEYS);
  assert.equal(keys.lists.peek(3), LIST_KEYS);
});

test("the checker stage calls a run cut short by the history's bound inconclusive, never a pass", () => {
  const cut = checkRun({ events: [], finalLists: new Map(), crashes: [], recoveriesMs: [], historyFull: { limit: 1000, cyclesRun: 7, cyclesAsked: 40 } });
  assert.equal(cut.exitCode, 2);
  assert.match(cut.problems.join("\n"), /history: its bound of 1000 events was reached after 7 of 40 cycles/);
  const alsoLost = checkRun({ events: [ev(1, "invoke", "txn", append(0, 7)), ev(1, "ok", "txn", append(0, 7))], finalLists: new Map([[0, []]]), crashes: [], recoveriesMs: [], historyFull: { limit: 1000, cyclesRun: 7, cyclesAsked: 40 } });
  assert.equal(alsoLost.exitCode, 1, "an anomaly still fails the run");
});

test("a run whose history fills stops cycling, says how many cycles it ran, and is inconclusive", { timeout: 180_000 }, async () => {
  const lines: string[] = [];
  const faults = probeNetwork().kind === "namespaces" ? (["partition-one"] as const) : (["pause"] as const);
  const result = await runHarness({ ...DEFAULT_OPTIONS, nodes: 3, cycles: 200, clients: 3, holdMs: 300, quietMs: 200, faults, historyEventsLimit: 1_000, log: (line) => lines.push(line) });
  try {
    assert.equal(result.checks.exitCode, 2, `${result.verdict}\n${result.checks.problems.join("\n")}`);
    assert.ok(result.summary.cycles < 200, `ran ${result.summary.cycles} cycles`);
    assert.match(result.verdict, new RegExp(`^jepsen: UNKNOWN cycles=${result.summary.cycles}/200 `));
    assert.ok(lines.some((line) => /history full \(1000 events\) after cycle \d+: the nemesis stops here/.test(line)), lines.join("\n"));
    // The final reads still ran (in the reserve) and found every acknowledged write.
    assert.deepEqual(result.checks.lostWrites, []);
    assert.equal(result.checks.finalReadMissing, false);
    assert.equal(result.checks.registers.verdict, "ok");
  } finally {
    rmSync(result.dir, { recursive: true, force: true });
  }
});

test("a harness killed with SIGKILL leaves nothing behind: its reaper kills the nodes and removes the namespaces, links and node data", { timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-jepsen-reap-"));
  const harness = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "run.ts"), "--nodes", "3", "--cycles", "1000", "--clients", "2", "--out", dir], { stdio: ["ignore", "ignore", "pipe"], detached: true });
  let stderr = "";
  harness.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((r) => harness.once("exit", () => r()));
  const nodeProcesses = (): string[] => spawnSync("ps", ["-eo", "args"], { encoding: "utf8" }).stdout.split("\n").filter((line) => line.includes(`--data-dir ${dir}/`));
  try {
    await waitUntil("the harness's clients and nemesis started", 90_000, () => /jepsen: faults: /.test(stderr) || harness.exitCode !== null);
    assert.equal(harness.exitCode, null, stderr);
    assert.ok(nodeProcesses().length >= 3, "its nodes run");
    const prefix = runPrefix(harness.pid!);
    const namespaces = probeNetwork().kind === "namespaces";
    if (namespaces) assert.match(spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout, new RegExp(prefix));
    process.kill(harness.pid!, "SIGKILL");
    await exited;
    await waitUntil("the reaper killed every node", 30_000, () => nodeProcesses().length === 0);
    await waitUntil("the reaper removed the node data", 30_000, () => !existsSync(join(dir, "node-1")) && !existsSync(join(dir, "ca")));
    if (namespaces) {
      await waitUntil("the reaper removed the namespaces and links", 30_000, () => !spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout.includes(prefix) && !spawnSync("ip", ["-o", "link"], { encoding: "utf8" }).stdout.includes(prefix));
    }
    assert.match(readFileSync(join(dir, "reaper.log"), "utf8"), /the harness ended without cleaning up/);
  } finally {
    if (harness.exitCode === null && harness.signalCode === null) process.kill(-harness.pid!, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bad options are one line naming the option, exit 2, before anything starts", { timeout: 60_000 }, () => {
  const cases: Array<[string[], RegExp]> = [
    [["--history-events-limit", "5"], /^jepsen: --history-events-limit: 5 is outside 1000\.\.4000000$/],
    [["--cycles", "abc"], /^jepsen: --cycles: "abc" is not a non-negative integer$/],
    [["--faults", "kill,meteor"], /^jepsen: --faults: unknown fault "meteor" \(known: /],
    [["--nodes", "12"], /^jepsen: --nodes: 12 is outside 1\.\.9$/],
  ];
  for (const [args, pattern] of cases) {
    const result = spawnSync(process.execPath, ["--import", "tsx", join(import.meta.dirname, "run.ts"), ...args], { encoding: "utf8", timeout: 30_000 });
    assert.equal(result.status, 2, `${args.join(" ")}: ${result.stderr}`);
    const lines = result.stderr.trimEnd().split("\n");
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0]!, pattern);
  }
});
