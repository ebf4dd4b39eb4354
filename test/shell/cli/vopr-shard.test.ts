// `blixard vopr --shard I/N` and `blixard vopr merge`: shards run as parallel processes together run
// the batch, each seed once, and their merged report is the unsharded batch's (the same failures in
// seed order, the same coverage); reports of another batch, another commit or the same shard twice
// are refused with the reason; bad shard specs are one line and exit 2.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import YAML from "yaml";
import { parseShard, shardSeeds } from "../../../src/shell/cli/vopr-shard.ts";
import { parseVoprArguments } from "../../../src/shell/cli/vopr-command.ts";
import { expectUsageError, runCli } from "../../support/run-cli.ts";

const BATCH = ["vopr", "--seeds", "6", "--first", "30", "--mode", "safety", "--workload", "kv", "--jobs", "1", "--shrink-attempts", "0"];

describe("VOPR shards", { timeout: 180_000 }, () => {
  test("shards split the seeds by position, each seed exactly once", () => {
    const seeds = Array.from({ length: 10 }, (_, i) => String(i + 1));
    const parts = [0, 1, 2].map((index) => shardSeeds(seeds, parseShard(`${index}/3`)));
    assert.deepEqual(parts, [["1", "4", "7", "10"], ["2", "5", "8"], ["3", "6", "9"]]);
    assert.deepEqual(parts.flat().sort((a, b) => Number(a) - Number(b)), seeds);
    assert.deepEqual(shardSeeds(seeds, parseShard("0/1")), seeds);
  });

  test("three shards in parallel processes merge into the unsharded batch's result and coverage", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vopr-shard-"));
    try {
      // A planted bug, so that the merge has failures to put in seed order.
      const planted = [...BATCH, "--plant", "cas-without-compare"];
      const shards = await Promise.all([0, 1, 2].map((index) => runCli([...planted, "--shard", `${index}/3`, "--report", join(dir, `shard-${index}.json`)])));
      const whole = await runCli([...planted, "--report", join(dir, "whole.json")]);
      assert.equal(whole.code, 1, whole.stdout + whole.stderr);
      for (const shard of shards) assert.ok(shard.code === 0 || shard.code === 1, shard.stdout + shard.stderr);
      const ran = shards.flatMap((shard) => shard.stdout.split("\n").filter((line) => line.startsWith("seed ")).map((line) => line.split("  ")[0]));
      assert.deepEqual(ran.sort(), ["seed 30", "seed 31", "seed 32", "seed 33", "seed 34", "seed 35"]);
      const files = [2, 0, 1].map((index) => join(dir, `shard-${index}.json`));
      const merged = await runCli(["vopr", "merge", ...files, "--coverage", join(dir, "merged-coverage.json")]);
      assert.equal(merged.code, 1, merged.stdout + merged.stderr);
      const wholeReport = JSON.parse(readFileSync(join(dir, "whole.json"), "utf8")) as { coverage: unknown; failures: Array<{ seed: string; property: string }> };
      const mergedCoverage = JSON.parse(readFileSync(join(dir, "merged-coverage.json"), "utf8")) as { points: unknown; seedsRun: number };
      assert.deepEqual(mergedCoverage.points, wholeReport.coverage, "the merged coverage is the whole batch's");
      assert.equal(mergedCoverage.seedsRun, 6);
      // The failures, in seed order, are the whole batch's.
      const failureLines = (stdout: string): string[] => stdout.split("\n").filter((line) => line.startsWith("FAILURE  "));
      assert.ok(wholeReport.failures.length > 0);
      assert.deepEqual(failureLines(merged.stdout).map((line) => line.split(":")[0]), failureLines(whole.stdout).map((line) => line.split(":")[0]));
      assert.match(merged.stdout, /^result {2}FAIL: 6 seeds, [1-9]\d* failures/m);
      assert.match(merged.stdout, /^throughput {2}[\d.]+ simulated cluster-hours in [\d.]+ s wall: [\d.]+ cluster-hours per wall hour in total, [\d.]+ per wall hour per core/m);

      // Two of three shards (2 and 0): exit 1, naming the missing one.
      const partial = await runCli(["vopr", "merge", files[0]!, files[1]!]);
      assert.equal(partial.code, 1);
      assert.match(partial.stdout, /shards missing: 1$/m);

      // Refusals, one line and exit 2, with the reason.
      const other = await runCli([...BATCH, "--shard", "1/3", "--report", join(dir, "other-batch.json")]);
      assert.equal(other.code, 0, other.stdout + other.stderr);
      const otherCommit = JSON.parse(readFileSync(files[0]!, "utf8")) as { commit: string };
      otherCommit.commit = "0000000000000000000000000000000000000000";
      writeFileSync(join(dir, "other-commit.json"), JSON.stringify(otherCommit));
      writeFileSync(join(dir, "not-a-report.json"), JSON.stringify({ hello: 1 }));
      for (const [args, pattern] of [
        [[files[0]!, join(dir, "other-batch.json")], /ran options .*: shards of different batches do not merge$/],
        [[files[1]!, join(dir, "other-commit.json")], /ran commit 0{40}, .*: shards of different commits do not merge$/],
        [[files[0]!, files[0]!], /are both shard 2\/3$/],
        [[join(dir, "not-a-report.json")], /not a VOPR report/],
        [[join(dir, "absent.json")], /cannot read .*absent\.json: ENOENT/],
      ] as const) {
        const run = await runCli(["vopr", "merge", ...args]);
        assert.equal(run.code, 2, `${args.join(" ")}: ${run.stdout}${run.stderr}`);
        assert.equal(run.stdout, "");
        assert.equal(run.stderr.trimEnd().split("\n").length, 1, run.stderr);
        assert.match(run.stderr.trim(), pattern);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the Kubernetes Indexed Job runs one shard per completion index with flags the VOPR accepts", () => {
    const manifest = YAML.parse(readFileSync(join(import.meta.dirname, "../../../deploy/vopr-indexed-job.yaml"), "utf8")) as {
      kind: string;
      spec: { completionMode: string; completions: number; template: { spec: { containers: Array<{ env: Array<{ name: string; value: string }>; args: string[] }> } } };
    };
    assert.equal(manifest.kind, "Job");
    assert.equal(manifest.spec.completionMode, "Indexed");
    const container = manifest.spec.template.spec.containers[0]!;
    const env = Object.fromEntries(container.env.map((variable) => [variable.name, variable.value]));
    assert.equal(Number(env.SHARDS), manifest.spec.completions, "SHARDS is the completion count");
    const script = container.args[0]!;
    assert.match(script, /--shard "\$JOB_COMPLETION_INDEX\/\$SHARDS"/);
    assert.match(script, /--report "\/reports\/shard-\$JOB_COMPLETION_INDEX\.json"/);
    // The script's flags, as the last pod would expand them, parse.
    const parsed = parseVoprArguments({ seeds: env.SEEDS, first: "1", mode: "both", shrinkAttempts: "20", jobs: "2", runsDir: "/reports/runs-7", shard: `${manifest.spec.completions - 1}/${env.SHARDS}`, report: "/reports/shard-7.json", budget: "50m" });
    assert.equal(parsed.seeds.length, Number(env.SEEDS) / manifest.spec.completions);
  });

  test("bad shard specs and flag combinations are one line and exit 2", async () => {
    for (const [args, pattern] of [
      [["--shard", "3/2"], /^blixard: --shard: "3\/2": shard index 3 is not below the shard count 2/],
      [["--shard", "0/0"], /^blixard: --shard: "0\/0": the shard count 0 is not in 1\.\.100000/],
      [["--shard", "half"], /^blixard: --shard: "half" is not I\/N/],
      [["--shard", "5/8", "--seeds", "4"], /^blixard: --shard: 5\/8 holds no seed of a batch of 4/],
      [["--shard", "0/2", "--seed", "7"], /^blixard: --shard: not with --seed/],
      [["--time", "1m", "--budget", "1m"], /^blixard: --time and --budget: give one/],
      [["--time", "never"], /^blixard: --time: "never" is not a positive duration/],
    ] as const) {
      expectUsageError(await runCli(["vopr", ...args]), pattern, args.join(" "));
    }
  });
});
