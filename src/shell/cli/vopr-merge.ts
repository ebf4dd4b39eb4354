// `blixard vopr merge REPORT...` (docs/SIMULATION.md, "Shards"): the reports of a batch's shards
// (`blixard vopr --shard I/N --report FILE`) merged into one result: the failures in seed order with
// their reproduction commands, one coverage report, and the batch's throughput. Exit 0 when every
// shard is present and nothing failed, 1 on any failure or a missing shard, 2 when the reports
// cannot be merged (different commits or options, a shard twice, not a report), with the reason.

import type { Command } from "commander";
import { writeFileSync } from "node:fs";
import { batchSeedRange, mergeReports, readReportFile, throughputLine, VOPR_MERGE_REPORTS_MAX } from "./vopr-report-file.ts";
import { UsageError } from "./usage-error.ts";

export interface VoprMergeOptions {
  coverage?: string;
}

/** Merges the files and prints the result; returns the exit code. */
export function runVoprMerge(files: readonly string[], options: VoprMergeOptions, write: (text: string) => void): number {
  if (files.length === 0) throw new UsageError("vopr merge: no report given (blixard vopr merge REPORT...)");
  if (files.length > VOPR_MERGE_REPORTS_MAX) throw new UsageError(`vopr merge: ${files.length} reports, at most ${VOPR_MERGE_REPORTS_MAX}`);
  const reports = files.map((file) => readReportFile(file));
  const merged = mergeReports(files, reports);
  const batch = merged.batch;
  write(
    `blixard vopr merge  ${files.length} report${files.length === 1 ? "" : "s"}  commit ${merged.commit}  mode ${batch.mode}  seeds ${batchSeedRange(batch)}  workload ${batch.workload ?? "drawn per seed"}${
      batch.plant === null ? "" : `  planted bug ${batch.plant}`
    }${batch.guided ? "  guided" : ""}  shards ${merged.present.length} of ${merged.shardCount}\n`,
  );
  for (const failure of merged.failures) write(`FAILURE  seed ${failure.seed}  ${failure.property}: ${failure.message}\n  reproduce  ${failure.reproduce}\n`);
  for (const line of merged.coverage.lines()) write(`${line}\n`);
  if (options.coverage !== undefined) {
    const report = { kind: "blixard-vopr-coverage", version: 1, batch, commit: merged.commit, seedsRun: merged.seedsRun, pointsReached: merged.coverage.reachedCount(), points: merged.coverage.summary(), neverReached: merged.coverage.neverReached() };
    try {
      writeFileSync(options.coverage, `${JSON.stringify(report, null, 2)}\n`);
    } catch (error) {
      throw new UsageError(`--coverage: cannot write ${options.coverage}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
    write(`coverage report written to ${options.coverage}\n`);
  }
  write(`${throughputLine(merged.simulatedUs, merged.wallMsLongest, merged.coreMs, `the longest shard's wall time; cores: the shards' threads`)}\n`);
  const missing = merged.missing.length === 0 ? "" : `; shards missing: ${merged.missing.join(", ")}${merged.present.length + merged.missing.length < merged.shardCount ? ", ..." : ""}`;
  const cut = merged.seedsRun < merged.seedsPlanned ? `; budgets stopped the shards after ${merged.seedsRun} of ${merged.seedsPlanned} seeds` : "";
  const pass = merged.failures.length === 0 && merged.missing.length === 0;
  write(`result  ${pass ? "PASS" : merged.failures.length === 0 ? "INCOMPLETE" : "FAIL"}: ${merged.seedsRun} seeds, ${merged.failures.length} failures, ${batch.mode === "safety" ? "liveness not judged (safety mode)" : `${merged.excluded} runs whose liveness was not judged`}${cut}${missing}\n`);
  for (const failure of merged.failures) write(`  seed ${failure.seed}  ${failure.property}  ${failure.reproduce}\n`);
  return pass ? 0 : 1;
}

export function registerVoprMergeCommand(vopr: Command): void {
  vopr
    .command("merge")
    .description("merge the reports of a batch's shards (blixard vopr --shard I/N --report FILE) into one result and one coverage report")
    .argument("<reports...>", "the shards' report files")
    .option("--coverage <file>", "write the merged coverage report as JSON")
    .addHelpText("after", "\nExamples:\n  blixard vopr merge shard-0.json shard-1.json shard-2.json shard-3.json\n  blixard vopr merge reports/*.json --coverage coverage.json\n")
    .action((files: string[], options: VoprMergeOptions) => {
      process.exitCode = runVoprMerge(files, options, (text) => void process.stdout.write(text));
    });
}
