// The VOPR's batch report as a file (`blixard vopr --report FILE`), and their merge
// (`blixard vopr merge REPORT...`, docs/SIMULATION.md "Shards"): each shard of a batch writes one,
// and the merge adds them into one result, one failure list in seed order and one coverage report.
// Reports merge only when they are shards of one batch: the same commit, the same options (mode,
// workload, planted bug, guidance, seeds, budget) and the same shard count, each shard once;
// anything else is refused with the reason.

import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, resolve } from "node:path";
import { assert } from "../../core/assert.ts";
import { COVERAGE_POINT_NAMES } from "../../core/env/coverage-points.ts";
import { CoverageTally, type PointCoverage } from "./vopr-coverage.ts";
import type { VoprShard } from "./vopr-shard.ts";
import { UsageError } from "./usage-error.ts";

export const VOPR_REPORT_KIND = "blixard-vopr-report";
export const VOPR_REPORT_VERSION = 1;
/** Reports one merge reads at most (one per shard). */
export const VOPR_MERGE_REPORTS_MAX = 100_000;
/** A report file larger than this is not one (a shard's report is a few KiB plus its failures). */
const REPORT_BYTES_MAX = 64 * 1024 * 1024;

/** What must be the same in every shard of one batch. */
export interface VoprBatchOptions {
  readonly mode: string;
  readonly workload: string | null;
  readonly plant: string | null;
  readonly guided: boolean;
  /** The batch's first seed and its seed count, before sharding. */
  readonly first: string;
  readonly seeds: number;
  readonly budgetMs: number | null;
}

export interface VoprReportFailure {
  readonly seed: string;
  readonly property: string;
  readonly message: string;
  readonly reproduce: string;
}

export interface VoprReportFile {
  readonly kind: typeof VOPR_REPORT_KIND;
  readonly version: typeof VOPR_REPORT_VERSION;
  /** The source the batch ran (git commit, "-dirty" with uncommitted changes; BLIXARD_COMMIT overrides; "unknown" without git). */
  readonly commit: string;
  readonly batch: VoprBatchOptions;
  readonly shard: VoprShard;
  readonly seedsPlanned: number;
  readonly seedsRun: number;
  readonly simulatedUs: number;
  readonly events: number;
  readonly wallMs: number;
  readonly threads: number;
  /** Runs whose liveness was not judged (unrecoverable by design). */
  readonly excluded: number;
  readonly failures: readonly VoprReportFailure[];
  readonly coverage: readonly PointCoverage[];
}

/** The commit this source tree is at, for reports to name (computed once). */
let commitCache: string | undefined;
export function sourceCommit(): string {
  if (commitCache !== undefined) return commitCache;
  const fromEnvironment = process.env.BLIXARD_COMMIT?.trim();
  if (fromEnvironment !== undefined && fromEnvironment !== "") return (commitCache = fromEnvironment);
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
  try {
    const head = execFileSync("git", ["rev-parse", "HEAD"], { cwd: root, encoding: "utf8", timeout: 5_000, stdio: ["ignore", "pipe", "ignore"] }).trim();
    let dirty = false;
    try {
      execFileSync("git", ["diff", "--quiet", "HEAD", "--", "src", "bin", "package.json"], { cwd: root, timeout: 5_000, stdio: "ignore" });
    } catch {
      dirty = true;
    }
    commitCache = `${head}${dirty ? "-dirty" : ""}`;
  } catch {
    commitCache = "unknown";
  }
  return commitCache;
}

export function writeReportFile(file: string, report: VoprReportFile): void {
  assert(report.seedsRun <= report.seedsPlanned, "a shard runs at most its seeds");
  assert(report.coverage.length === COVERAGE_POINT_NAMES.length, "a report covers the whole catalogue");
  try {
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  } catch (error) {
    throw new UsageError(`--report: cannot write ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/** Reads and checks one report; a UsageError naming the file and what is wrong. */
export function readReportFile(file: string): VoprReportFile {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new UsageError(`vopr merge: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  if (text.length > REPORT_BYTES_MAX) throw new UsageError(`vopr merge: ${file}: larger than ${REPORT_BYTES_MAX} bytes, not a VOPR report`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError(`vopr merge: ${file}: not JSON`);
  }
  const report = value as Partial<VoprReportFile> | null;
  if (report === null || typeof report !== "object" || report.kind !== VOPR_REPORT_KIND) throw new UsageError(`vopr merge: ${file}: not a VOPR report (written by blixard vopr --report)`);
  if (report.version !== VOPR_REPORT_VERSION) throw new UsageError(`vopr merge: ${file}: report version ${String(report.version)}, this blixard reads version ${VOPR_REPORT_VERSION}`);
  const wellFormed =
    typeof report.commit === "string" &&
    typeof report.batch === "object" &&
    report.batch !== null &&
    typeof report.shard?.index === "number" &&
    typeof report.shard.count === "number" &&
    [report.seedsPlanned, report.seedsRun, report.simulatedUs, report.events, report.wallMs, report.threads, report.excluded].every((n) => Number.isSafeInteger(n) && n! >= 0) &&
    Array.isArray(report.failures) &&
    Array.isArray(report.coverage);
  if (!wellFormed) throw new UsageError(`vopr merge: ${file}: a field is missing or of the wrong type`);
  const names = report.coverage!.map((point) => point.name);
  if (names.length !== COVERAGE_POINT_NAMES.length || names.some((name, i) => name !== COVERAGE_POINT_NAMES[i])) {
    throw new UsageError(`vopr merge: ${file}: its coverage points are not this blixard's catalogue (src/core/env/coverage-points.ts)`);
  }
  return report as VoprReportFile;
}

/** "1..1000" (a batch of --seeds), or the one seed. */
export function batchSeedRange(batch: VoprBatchOptions): string {
  return batch.seeds === 1 ? batch.first : `${batch.first}..${BigInt(batch.first) + BigInt(batch.seeds) - 1n}`;
}

function describeOptions(batch: VoprBatchOptions): string {
  return JSON.stringify(batch);
}

export interface MergedReports {
  readonly commit: string;
  readonly batch: VoprBatchOptions;
  readonly shardCount: number;
  /** The shard indexes present, ascending, and those missing. */
  readonly present: readonly number[];
  readonly missing: readonly number[];
  readonly seedsPlanned: number;
  readonly seedsRun: number;
  readonly simulatedUs: number;
  readonly events: number;
  /** The longest shard's wall time (shards run side by side) and the wall time summed over shards times their threads (core time). */
  readonly wallMsLongest: number;
  readonly coreMs: number;
  readonly excluded: number;
  /** In seed order. */
  readonly failures: readonly VoprReportFailure[];
  readonly coverage: CoverageTally;
}

/** Merges shards of one batch; refuses (UsageError, one line) reports that are not. */
export function mergeReports(files: readonly string[], reports: readonly VoprReportFile[]): MergedReports {
  assert(files.length === reports.length && reports.length >= 1, "one report per file, at least one");
  if (reports.length > VOPR_MERGE_REPORTS_MAX) throw new UsageError(`vopr merge: ${reports.length} reports, at most ${VOPR_MERGE_REPORTS_MAX}`);
  const first = reports[0]!;
  const seen = new Map<number, string>();
  for (let i = 0; i < reports.length; i++) {
    const report = reports[i]!;
    const file = files[i]!;
    if (report.commit !== first.commit) throw new UsageError(`vopr merge: ${file} ran commit ${report.commit}, ${files[0]} ran ${first.commit}: shards of different commits do not merge`);
    if (describeOptions(report.batch) !== describeOptions(first.batch)) {
      throw new UsageError(`vopr merge: ${file} ran options ${describeOptions(report.batch)}, ${files[0]} ran ${describeOptions(first.batch)}: shards of different batches do not merge`);
    }
    if (report.shard.count !== first.shard.count) throw new UsageError(`vopr merge: ${file} is a shard of ${report.shard.count}, ${files[0]} of ${first.shard.count}: different shardings do not merge`);
    const earlier = seen.get(report.shard.index);
    if (earlier !== undefined) throw new UsageError(`vopr merge: ${file} and ${earlier} are both shard ${report.shard.index}/${report.shard.count}`);
    seen.set(report.shard.index, file);
  }
  const present = [...seen.keys()].sort((a, b) => a - b);
  const missing: number[] = [];
  for (let index = 0; index < first.shard.count && missing.length < 100; index++) if (!seen.has(index)) missing.push(index);
  const coverage = new CoverageTally();
  let seedsPlanned = 0;
  let seedsRun = 0;
  let simulatedUs = 0;
  let events = 0;
  let wallMsLongest = 0;
  let coreMs = 0;
  let excluded = 0;
  const failures: VoprReportFailure[] = [];
  for (const report of reports) {
    seedsPlanned += report.seedsPlanned;
    seedsRun += report.seedsRun;
    simulatedUs += report.simulatedUs;
    events += report.events;
    wallMsLongest = Math.max(wallMsLongest, report.wallMs);
    coreMs += report.wallMs * report.threads;
    excluded += report.excluded;
    failures.push(...report.failures);
    coverage.addTally(report.coverage, report.seedsRun);
  }
  // Seed order: --shard needs --seeds, whose seeds are decimal integers.
  failures.sort((a, b) => (BigInt(a.seed) < BigInt(b.seed) ? -1 : BigInt(a.seed) > BigInt(b.seed) ? 1 : a.property < b.property ? -1 : a.property > b.property ? 1 : 0));
  assert(seedsRun <= seedsPlanned, "the shards ran at most their seeds");
  return { commit: first.commit, batch: first.batch, shardCount: first.shard.count, present, missing, seedsPlanned, seedsRun, simulatedUs, events, wallMsLongest, coreMs, excluded, failures, coverage };
}

/** "throughput  1.234 simulated cluster-hours in 60.0 s wall: 74.0 per wall hour, 37.0 per wall hour per core (2 threads)". */
export function throughputLine(simulatedUs: number, wallMs: number, coreMs: number, cores: string): string {
  const hours = simulatedUs / 3.6e9;
  const perWallHour = hours / (Math.max(wallMs, 1) / 3.6e6);
  const perCoreHour = hours / (Math.max(coreMs, 1) / 3.6e6);
  return `throughput  ${hours.toFixed(3)} simulated cluster-hours in ${(wallMs / 1000).toFixed(1)} s wall: ${perWallHour.toFixed(1)} cluster-hours per wall hour in total, ${perCoreHour.toFixed(1)} per wall hour per core (${cores})`;
}
