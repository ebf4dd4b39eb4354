// Golden trace hashes: a fixed set of (seed, profile) runs must reproduce the trace hashes in
// golden-hashes.json exactly, on this machine, on any other, and under any Node.js version
// (`npm run test:golden-other-node` runs this file under another major). A run's trace hash
// folds in every event of the run, so any change to a PRNG draw, an event, the order of
// events or a protocol step changes it. That is sometimes the point of a change; it must
// then be deliberate and visible: regenerate with
//   BLIXARD_UPDATE_GOLDEN=1 node scripts/test.mjs golden
// and review the diff of golden-hashes.json with the change that caused it.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { FAULT_PROFILES } from "../../../src/core/sim/fault-profile.ts";
import { isSeed, parseSeed } from "../../../src/core/sim/seed.ts";
import { runSimulation } from "../../../src/core/sim/simulation.ts";

interface GoldenRun {
  readonly seed: string;
  readonly profile: string;
  readonly nodeCount: number;
  readonly durationMs: number;
  /** The orchestrator beside the key-value clients (agents, controller, VM hosts, users). */
  readonly workload?: "orchestrator";
}

interface GoldenResult extends GoldenRun {
  readonly traceHash: string;
  readonly events: number;
}

/** One run per fault profile, with varied seeds (a commit hash among them), cluster sizes and lengths; well under a second each. */
const GOLDEN_RUNS: readonly GoldenRun[] = [
  { seed: "1", profile: "none", nodeCount: 3, durationMs: 10_000 },
  { seed: "7", profile: "standard", nodeCount: 5, durationMs: 20_000 },
  { seed: "42", profile: "heavy", nodeCount: 5, durationMs: 15_000 },
  { seed: "1234567", profile: "corruption", nodeCount: 5, durationMs: 15_000 },
  { seed: "d1e5f0c0ffee0123456789abcdef0123456789ab", profile: "elections", nodeCount: 5, durationMs: 10_000 },
  { seed: "18446744073709551615", profile: "leader-churn", nodeCount: 5, durationMs: 10_000 },
  { seed: "99", profile: "figure-8", nodeCount: 5, durationMs: 10_000 },
  { seed: "2026", profile: "deposed-leader", nodeCount: 7, durationMs: 10_000 },
  { seed: "5", profile: "production", nodeCount: 3, durationMs: 20_000 },
  { seed: "3", profile: "membership", nodeCount: 5, durationMs: 15_000 },
  { seed: "11", profile: "lease", nodeCount: 5, durationMs: 10_000 },
  { seed: "13", profile: "disk-full", nodeCount: 5, durationMs: 10_000 },
  { seed: "8", profile: "fencing", nodeCount: 3, durationMs: 20_000, workload: "orchestrator" },
  { seed: "21", profile: "standard", nodeCount: 3, durationMs: 20_000, workload: "orchestrator" },
];

const GOLDEN_FILE = new URL("./golden-hashes.json", import.meta.url);
const REGENERATE = "BLIXARD_UPDATE_GOLDEN=1 node scripts/test.mjs golden";

function runName(run: GoldenRun): string {
  return `seed ${run.seed}, ${run.profile}, ${run.nodeCount} nodes, ${run.durationMs} ms${run.workload === undefined ? "" : `, ${run.workload}`}`;
}

function runGolden(run: GoldenRun): GoldenResult {
  const seed = parseSeed(run.seed);
  assert.ok(isSeed(seed), `golden seed ${run.seed}`);
  const profile = FAULT_PROFILES[run.profile];
  assert.ok(profile !== undefined, `golden profile ${run.profile}`);
  const result = runSimulation({ seed, nodeCount: run.nodeCount, durationMs: run.durationMs, profile, orchestrator: run.workload === "orchestrator" ? {} : undefined });
  return { ...run, traceHash: result.traceHash, events: result.events };
}

interface GoldenFile {
  readonly comment: string;
  readonly runs: readonly GoldenResult[];
}

function readGolden(): GoldenFile {
  return JSON.parse(readFileSync(GOLDEN_FILE, "utf8")) as GoldenFile;
}

describe("golden trace hashes (test/core/sim/golden-hashes.json)", () => {
  if (process.env.BLIXARD_UPDATE_GOLDEN === "1") {
    test("regenerates golden-hashes.json (BLIXARD_UPDATE_GOLDEN=1): review its diff", () => {
      const file: GoldenFile = {
        comment: `Trace hashes of test/core/sim/golden-hashes.test.ts's runs. A changed hash must be a deliberate change, reviewed in this file's diff. Regenerate: ${REGENERATE}`,
        runs: GOLDEN_RUNS.map(runGolden),
      };
      writeFileSync(GOLDEN_FILE, JSON.stringify(file, null, 2) + "\n");
      assert.deepEqual(readGolden(), file);
    });
    return;
  }

  test("the golden file lists exactly the golden runs, in order", (t) => {
    t.diagnostic(`Node.js ${process.version}`);
    const names = readGolden().runs.map(runName);
    assert.deepEqual(names, GOLDEN_RUNS.map(runName), `golden-hashes.json is out of date with GOLDEN_RUNS; regenerate: ${REGENERATE}`);
  });

  for (const run of GOLDEN_RUNS) {
    test(runName(run), () => {
      const expected = readGolden().runs.find((r) => runName(r) === runName(run));
      assert.ok(expected !== undefined, `no golden hash for ${runName(run)}; regenerate: ${REGENERATE}`);
      const actual = runGolden(run);
      assert.ok(
        actual.traceHash === expected.traceHash && actual.events === expected.events,
        `${runName(run)}: trace hash ${actual.traceHash} (${actual.events} events), golden ${expected.traceHash} (${expected.events} events) on Node.js ${process.version}.\n` +
          "A changed trace hash must be a deliberate change (a new PRNG draw, event or protocol step), never an accident of the machine or engine.\n" +
          `If it is deliberate, regenerate with \`${REGENERATE}\` and let the reviewer see the diff of test/core/sim/golden-hashes.json.`,
      );
    });
  }
});
