// One seed, three processes, one trace: each run below is simulated in this process and by
// `blixard sim` in two child processes, and all three trace hashes must agree. The second
// child differs in everything core code must not read: V8's execution tier (--jitless: no
// optimizing compiler), the time zone, the locale and the working directory. The golden
// hashes (test/core/sim/golden-hashes.test.ts) pin the same runs across commits and
// Node.js versions; this test shows that nothing of the process leaks into a run.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { tmpdir } from "node:os";
import { resolve } from "node:path";
import { FAULT_PROFILES } from "../../src/core/sim/fault-profile.ts";
import { isSeed, parseSeed } from "../../src/core/sim/seed.ts";
import { runSimulation } from "../../src/core/sim/simulation.ts";

const REPOSITORY_ROOT = resolve(import.meta.dirname, "../..");
const BIN = resolve(REPOSITORY_ROOT, "bin/blixard.js");
const CHILD_TIMEOUT_MS = 60_000;

interface Run {
  readonly seed: string;
  readonly profile: string;
  readonly nodeCount: number;
  readonly durationMs: number;
}

interface Outcome {
  readonly traceHash: string;
  readonly events: number;
}

const RUNS: readonly Run[] = [
  { seed: "7", profile: "standard", nodeCount: 5, durationMs: 20_000 },
  { seed: "d1e5f0c0ffee0123456789abcdef0123456789ab", profile: "heavy", nodeCount: 5, durationMs: 10_000 },
];

interface ChildSetup {
  readonly name: string;
  readonly nodeFlags: readonly string[];
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
}

const CHILDREN: readonly ChildSetup[] = [
  { name: "child (default)", nodeFlags: [], cwd: REPOSITORY_ROOT, env: { ...process.env, TZ: "UTC", LANG: "C", LC_ALL: "C" } },
  {
    name: "child (--jitless, TZ=Asia/Kolkata, de_DE locale, cwd elsewhere)",
    nodeFlags: ["--jitless"],
    cwd: tmpdir(),
    env: { ...process.env, TZ: "Asia/Kolkata", LANG: "de_DE.UTF-8", LC_ALL: "de_DE.UTF-8" },
  },
];

function inProcess(run: Run): Outcome {
  const seed = parseSeed(run.seed);
  assert.ok(isSeed(seed));
  const profile = FAULT_PROFILES[run.profile];
  assert.ok(profile !== undefined);
  const result = runSimulation({ seed, nodeCount: run.nodeCount, durationMs: run.durationMs, profile });
  return { traceHash: result.traceHash, events: result.events };
}

/** `blixard sim` in a child process; its summary's "events" and "trace hash" lines. */
function inChild(run: Run, child: ChildSetup): Promise<Outcome> {
  const args = [...child.nodeFlags, BIN, "sim", "--seed", run.seed, "--nodes", String(run.nodeCount), "--time", String(run.durationMs), "--faults", run.profile];
  return new Promise((resolveOutcome, reject) => {
    execFile(process.execPath, args, { cwd: child.cwd, env: child.env, timeout: CHILD_TIMEOUT_MS }, (error, stdout, stderr) => {
      if (error !== null) return reject(new Error(`${child.name}: blixard ${args.join(" ")} failed (${error.message}):\n${stdout}\n${stderr}`));
      const hash = /^\s*trace hash\s+([0-9a-f]{16})\s*$/m.exec(stdout);
      const events = /^\s*events\s+(\d+)\b/m.exec(stdout);
      if (hash === null || events === null) return reject(new Error(`${child.name}: no "trace hash" or "events" line in:\n${stdout}`));
      resolveOutcome({ traceHash: hash[1]!, events: Number(events[1]) });
    });
  });
}

describe("one seed gives one trace in separate processes", { timeout: 2 * CHILD_TIMEOUT_MS }, () => {
  for (const run of RUNS) {
    test(`seed ${run.seed}, ${run.profile}, ${run.nodeCount} nodes, ${run.durationMs} ms`, async () => {
      const children = Promise.all(CHILDREN.map((child) => inChild(run, child)));
      const local = inProcess(run);
      const remote = await children;
      assert.ok(local.events > 1000, `only ${local.events} events: the run must do something`);
      CHILDREN.forEach((child, i) => assert.deepEqual(remote[i], local, `${child.name} disagrees with the in-process run`));
    });
  }
});
