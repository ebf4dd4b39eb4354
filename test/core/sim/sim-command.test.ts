import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../../support/run-cli.ts";
import { parseDurationMs, parseSimArguments, type SimCommandOptions } from "../../../src/shell/cli/sim-command.ts";
import { UsageError } from "../../../src/shell/cli/usage-error.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";

const defaults: SimCommandOptions = { nodes: "5", time: "60s", faults: "standard" };

/**
 * Runs the CLI in a child process. (In-process, with process.stdout.write swapped out, the test
 * runner's own reports, which reach its parent through this process's stdout, were swallowed
 * whenever they were flushed while a command ran.)
 */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const run = await runCli(args);
  return { code: run.code, out: run.stdout, err: run.stderr };
}

describe("blixard sim arguments", () => {
  test("durations", () => {
    assert.equal(parseDurationMs("60s"), 60_000);
    assert.equal(parseDurationMs("2m"), 120_000);
    assert.equal(parseDurationMs("500ms"), 500);
    assert.equal(parseDurationMs("1500"), 1500);
    assert.equal(parseDurationMs("1.5s"), 1500);
    for (const bad of ["", "s", "-1s", "1 day", "1e3", "5x"]) assert.equal(parseDurationMs(bad), undefined, bad);
  });

  test("bad input is a one-line UsageError", () => {
    const cases: Array<Partial<SimCommandOptions>> = [
      { seed: "abc" },
      { seed: "-5" },
      { seed: "18446744073709551616" },
      { nodes: "0" },
      { nodes: "-3" },
      { nodes: "2.5" },
      { nodes: "99" },
      { time: "0" },
      { time: "0s" },
      { time: "soon" },
      { faults: "apocalypse" },
    ];
    for (const change of cases) {
      assert.throws(
        () => parseSimArguments({ ...defaults, ...change }, () => seedFromNumber(1)),
        (error: unknown) => error instanceof UsageError && !error.message.includes("\n"),
        JSON.stringify(change),
      );
    }
  });

  test("defaults: 5 nodes, 60 s, standard faults", () => {
    const parsed = parseSimArguments({ ...defaults, seed: "42" }, () => seedFromNumber(1));
    assert.equal(parsed.nodeCount, 5);
    assert.equal(parsed.durationMs, 60_000);
    assert.equal(parsed.profileName, "standard");
    assert.equal(parsed.seed.text, "42");
  });
});

describe("blixard sim command", () => {
  test("exit 2 with one line for bad input and unknown flags", async () => {
    for (const args of [
      ["sim", "--nodes", "0"],
      ["sim", "--time", "0"],
      ["sim", "--seed", "xyz"],
      ["sim", "--faults", "nope"],
      ["sim", "--bogus"],
    ]) {
      const { code, err, out } = await cli(args);
      assert.equal(code, 2, args.join(" "));
      assert.equal(err.trim().split("\n").length, 1, `${args.join(" ")}: ${err}`);
      assert.equal(out, "");
    }
  });

  test("a run prints the summary and its trace hash, the same each time; --history writes JSON lines", async () => {
    const dir = mkdtempSync(join(tmpdir(), "blixard-sim-"));
    const historyFile = join(dir, "history.jsonl");
    const first = await cli(["sim", "--seed", "3", "--time", "3s", "--history", historyFile]);
    const second = await cli(["sim", "--seed", "3", "--time", "3s"]);
    assert.equal(first.code, 0, first.out + first.err);
    const hash = (text: string) => /trace hash\s+([0-9a-f]{16})/.exec(text)?.[1];
    assert.ok(hash(first.out) !== undefined, first.out);
    assert.equal(hash(first.out), hash(second.out));
    for (const word of ["simulated", "events", "terms", "operations", "faults", "acceleration"]) assert.match(first.out, new RegExp(word));
    const lines = readFileSync(historyFile, "utf8").trim().split("\n");
    assert.ok(lines.length > 10);
    const event = JSON.parse(lines[0]!);
    assert.deepEqual(Object.keys(event), ["process", "type", "f", "key", "value", "time"]);
    rmSync(dir, { recursive: true, force: true });
  });

  test("--vm-history writes the orchestrator users' history, which check --model vm-registry accepts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "blixard-sim-"));
    try {
      const file = join(dir, "vms.jsonl");
      const run = await cli(["sim", "--workload", "orchestrator", "--seed", "3", "--nodes", "3", "--time", "15s", "--vm-history", file]);
      assert.equal(run.code, 0, run.out + run.err);
      assert.match(run.out, /vm registry linearizable yes \(\d+ operations, \d+ VMs/);
      const checked = await cli(["check", file, "--model", "vm-registry"]);
      assert.equal(checked.code, 0, checked.out + checked.err);
      assert.match(checked.out, /linearizable \(model vm-registry, format jsonl/);
      const kvOnly = await cli(["sim", "--seed", "3", "--time", "1s", "--vm-history", file]);
      assert.equal(kvOnly.code, 2);
      assert.match(kvOnly.err, /--vm-history: only the orchestrator workload has VM users/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("--workload txn checks list-append transactions; --txn-history writes them as EDN, which check --model list-append accepts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "blixard-sim-"));
    try {
      const file = join(dir, "txns.edn");
      const run = await cli(["sim", "--workload", "txn", "--seed", "3", "--time", "10s", "--txn-history", file]);
      assert.equal(run.code, 0, run.out + run.err);
      assert.match(run.out, /strict serializable yes \(\d+ transactions\)/);
      assert.match(readFileSync(file, "utf8"), /^\{:process \d+, :type :invoke, :f :txn, :value \[\[:(append|r) "l\d"/);
      const checked = await cli(["check", file, "--model", "list-append"]);
      assert.equal(checked.code, 0, checked.out + checked.err);
      assert.match(checked.out, /strict-serializable/);
      const kvOnly = await cli(["sim", "--seed", "3", "--time", "1s", "--txn-history", file]);
      assert.equal(kvOnly.code, 2);
      assert.match(kvOnly.err, /--txn-history: only the txn workload runs transactions/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a clean run's history is checked for linearizability, and --report writes the HTML report", async () => {
    const dir = mkdtempSync(join(tmpdir(), "blixard-sim-"));
    try {
      const reportFile = join(dir, "report.html");
      const run = await cli(["sim", "--seed", "5", "--time", "5s", "--faults", "heavy", "--report", reportFile]);
      assert.equal(run.code, 0, run.out + run.err);
      assert.match(run.out, /linearizable yes \(\d+ operations, \d+ keys/);
      const html = readFileSync(reportFile, "utf8");
      assert.match(html, /linearizable/);
      assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href="http/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
