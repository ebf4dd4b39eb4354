// The Jepsen harness: a tiny real run (3 nodes, 2 nemesis cycles) records nemesis ops, passes,
// writes outputs that `blixard check` reads back with the same verdict, and leaves no namespace
// behind; a run of only the clock faults is clean; and the checker stage fails runs with a
// planted lost write or a non-linearizable read.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
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
