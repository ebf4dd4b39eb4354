// `blixard vopr` as a user runs it (a child process, worker threads): a small batch passes with a
// report that is the same on every run apart from its wall-clock figures; a planted bug fails the
// batch naming the property and a reproduction command that, run, fails the same way; bad input is
// one line and exit 2.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { drawVoprRun, refusalExclusion, runVoprJob, seedSelectedFor, VOPR_PLANT_NAMES } from "../../../src/shell/cli/vopr-worker.ts";
import { drawSwarmRun } from "../../../src/core/sim/swarm.ts";
import { expectUsageError, runCli } from "../../support/run-cli.ts";

/** The report without the lines that carry wall-clock figures (progress: events/s, wall seconds; throughput). */
function deterministicPart(stdout: string): string {
  return stdout
    .split("\n")
    .filter((line) => !line.startsWith("progress  ") && !line.startsWith("throughput  "))
    .join("\n");
}

describe("blixard vopr", { timeout: 120_000 }, () => {
  test("a small batch exits 0 with the same report every time, in seed order", async () => {
    const first = await runCli(["vopr", "--seeds", "4", "--jobs", "2"]);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.match(first.stdout, /^result {2}PASS: 4 seeds, 0 failures/m);
    assert.match(first.stdout, /^progress {2}4 seeds run, [\d.]+ simulated hours, 0 failures, coverage \d+\/\d+ points, \d+ events\/s/m);
    const seedLines = first.stdout.split("\n").filter((line) => line.startsWith("seed "));
    assert.deepEqual(seedLines.map((line) => line.split("  ")[0]), ["seed 1", "seed 2", "seed 3", "seed 4"]);
    assert.match(first.stdout, /^seed 1 .*determinism checked {2}ok$/m, "seed 1 is the determinism self-check's");
    assert.match(first.stdout, /^seed 2 .*canary caught {2}ok$/m, "seed 2 is the canary's");
    const second = await runCli(["vopr", "--seeds", "4", "--jobs", "2"]);
    assert.equal(second.code, 0);
    assert.equal(deterministicPart(second.stdout), deterministicPart(first.stdout));
  });

  test("a planted bug fails the batch with its property and a reproduction command that fails the same way", async () => {
    const run = await runCli(["vopr", "--seeds", "4", "--plant", "cas-without-compare", "--mode", "safety", "--shrink-attempts", "0"]);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const failure = /^FAILURE {2}seed (\S+) {2}Linearizability: .*\n {2}reproduce {2}(.*)$/m.exec(run.stdout);
    assert.ok(failure !== null, run.stdout);
    const [, seed, command] = failure;
    assert.match(run.stdout, /^result {2}FAIL: 4 seeds, [1-9]\d* failures/m);
    assert.ok(command!.startsWith("npx blixard vopr "), command);
    const args = command!.slice("npx blixard ".length).split(" ");
    assert.deepEqual(args.slice(0, 3), ["vopr", "--seed", seed]);
    const again = await runCli([...args, "--shrink-attempts", "0"]);
    assert.equal(again.code, 1, again.stdout + again.stderr);
    assert.match(again.stdout, new RegExp(`^FAILURE {2}seed ${seed} {2}Linearizability: `, "m"));
    // The same run: its line (draw, verdict and trace hash) is the batch's line for that seed.
    const line = (stdout: string): string | undefined => stdout.split("\n").find((text) => text.startsWith(`seed ${seed}  `));
    assert.equal(line(again.stdout), line(run.stdout));
  });

  test("--budget stops starting seeds after that wall time, and says so", async () => {
    const run = await runCli(["vopr", "--seeds", "100000", "--budget", "1s", "--jobs", "1", "--mode", "safety"]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const cut = /^result {2}PASS: (\d+) seeds, 0 failures, .*; the budget stopped the batch after (\d+) of 100000 seeds$/m.exec(run.stdout);
    assert.ok(cut !== null, run.stdout);
    assert.equal(cut[1], cut[2]);
    assert.ok(Number(cut[1]) >= 1 && Number(cut[1]) < 100000);
  });

  test("bad input is one line and exit 2", async () => {
    for (const [args, pattern] of [
      [["--bogus"], /unknown option '--bogus'/],
      [["--plant", "no-such-bug"], /^blixard: --plant: unknown planted bug "no-such-bug"/],
      [["--seed", "12x"], /^blixard: --seed: seed "12x" is neither/],
      [["--seeds", "0"], /^blixard: --seeds: "0" is not an integer/],
      [["--mode", "fast"], /^blixard: --mode: unknown mode "fast"/],
      [["--budget", "soon"], /^blixard: --budget: "soon" is not a positive duration/],
      [["--shrink-time", "0"], /^blixard: --shrink-time: "0" is not a positive duration/],
      [["--workload", "files"], /^blixard: --workload: unknown workload "files"/],
      [["--seed", "1", "--seeds", "2"], /^blixard: --seed and --seeds: give one/],
      [["--steer", "crash=1"], /^blixard: --steer: only with --seed/],
      [["--seed", "1", "--steer", "crash=yes"], /^blixard: --steer: "crash=yes" is not dimension=0 or dimension=1/],
      [["--seed", "1", "--steer", "lightning=1"], /^blixard: --steer: unknown dimension "lightning"/],
      [["--seed", "1", "--steer", "crash=1", "--guided"], /^blixard: --steer and --guided: give one/],
      [["--plant", "no-fencing-wait", "--workload", "kv"], /^blixard: --plant no-fencing-wait is a bug of the orchestrator \(controller\): it needs --workload orchestrator or mixed, not kv$/],
    ] as const) {
      expectUsageError(await runCli(["vopr", ...args]), pattern, args.join(" "));
    }
  });
});

// Each of the VOPR's own checks fires on a bug planted in its pipeline (harness only: VoprJob.pipelineBug).
describe("the VOPR's own checks catch bugs planted in its pipeline", () => {
  test("a canary run without its bug is a Canary failure (seed 2 is a canary seed)", () => {
    assert.ok(seedSelectedFor(seedFromNumber(2)).canary);
    const clean = runVoprJob({ seed: "2", mode: "safety", workload: "kv", plant: undefined });
    assert.deepEqual(clean.failures, []);
    const broken = runVoprJob({ seed: "2", mode: "safety", workload: "kv", plant: undefined, pipelineBug: "canary-without-bug" });
    assert.deepEqual(broken.failures.map((failure) => failure.property), ["Canary"]);
  });

  test("a second run that is not the same run is a Determinism failure (seed 1 runs twice)", () => {
    assert.ok(seedSelectedFor(seedFromNumber(1)).determinism);
    const broken = runVoprJob({ seed: "1", mode: "safety", workload: "kv", plant: undefined, pipelineBug: "rerun-another-seed" });
    assert.deepEqual(broken.failures.map((failure) => failure.property), ["Determinism"]);
  });

  test("clients that never see an answer are a Recovered failure in liveness mode, and not judged in safety mode", () => {
    const job = { seed: "3", workload: "kv", plant: undefined, pipelineBug: "clients-time-out-at-once" } as const;
    assert.deepEqual(runVoprJob({ ...job, mode: "liveness" }).failures.map((failure) => failure.property), ["Recovered"]);
    assert.deepEqual(runVoprJob({ ...job, mode: "safety" }).failures, []);
    assert.deepEqual(runVoprJob({ ...job, mode: "liveness", pipelineBug: undefined }).failures, []);
  });
});

describe("runs whose liveness is not judged: no quorum by design", () => {
  const refusal = (nodeId: number) => ({ nodeId, simulatedTimeUs: 1, message: "storage corrupt" });
  test("a minority of refusals in the first configuration and in the final one is judged", () => {
    assert.equal(refusalExclusion(3, [], [1, 2, 3]), undefined);
    assert.equal(refusalExclusion(3, [refusal(3)], [1, 2, 3]), undefined);
    assert.equal(refusalExclusion(5, [refusal(1), refusal(2)], [1, 2, 3, 4, 5]), undefined);
    assert.equal(refusalExclusion(3, [refusal(3)], []), undefined, "no node runs: the Recovered check says so");
  });
  test("a majority of refusals, of the cluster or of the final configuration, is not (swarm seed 251: voters 1 and 3, node 3 refused)", () => {
    assert.match(refusalExclusion(3, [refusal(1), refusal(3)], [1, 2, 3])!, /^2 of 3 nodes refused to start/);
    assert.match(refusalExclusion(3, [refusal(3)], [1, 3])!, /^the final configuration's voters 1,3 keep 1 of 2 that did not refuse/);
    assert.equal(refusalExclusion(3, [refusal(2)], [1, 3]), undefined, "a refused node that is no longer a voter takes nothing from the quorum");
  });
});

describe("--plant", () => {
  test("knows the orchestrator's bugs, and one of them runs the orchestrator on a seed that draws kv", () => {
    for (const name of ["no-fencing-wait", "no-self-fence", "quota-not-released-on-delete", "backend-accepts-stale-token", "capacity-ignores-batch", "get-without-read-index"]) assert.ok(VOPR_PLANT_NAMES.includes(name), name);
    const kvSeed = Array.from({ length: 64 }, (_, i) => seedFromNumber(i + 1)).find((seed) => drawSwarmRun(seed, undefined).workload === "kv")!;
    const drawn = drawSwarmRun(kvSeed, undefined);
    const forced = drawVoprRun(kvSeed, { workload: undefined, plant: "quota-not-released-on-delete" });
    assert.equal(forced.workload, "orchestrator");
    // The orchestrator dimension (coverage guidance's record of the draw) says what ran; everything else is the seed's.
    assert.equal(forced.dimensions.orchestrator, true);
    assert.deepEqual(
      { ...forced, workload: "kv", durationMs: 0, profile: { ...forced.profile, healAtFraction: 0 }, dimensions: { ...forced.dimensions, orchestrator: false } },
      { ...drawn, durationMs: 0, profile: { ...drawn.profile, healAtFraction: 0 }, dimensions: { ...drawn.dimensions, orchestrator: false } },
      "the rest of the draw is the seed's",
    );
    assert.equal(drawVoprRun(kvSeed, { workload: undefined, plant: "cas-without-compare" }).workload, "kv", "a key-value bug keeps the drawn workload");
    const report = runVoprJob({ seed: kvSeed.text, mode: "safety", workload: undefined, plant: "quota-not-released-on-delete" });
    assert.match(report.line, /^seed \d+ {2}orchestrator /);
  });
});
