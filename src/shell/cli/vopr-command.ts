// `blixard vopr`: swarm fuzzing of the whole cluster (docs/SIMULATION.md, "VOPR"). Each seed draws
// its own run (src/core/sim/swarm.ts); worker threads (vopr-worker.ts, one per core by default) run
// the seeds, and the results are printed in seed order, so the report is the same for the same
// flags whatever the threads' timing (apart from the wall-clock figures of the progress and throughput lines). For each
// failure: the seed, the property and a one-line command that reruns exactly that run. Exit 1 on any
// failure, 2 on bad input (one line, UsageError).

import { readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { Command } from "commander";
import { assert } from "../../core/assert.ts";
import { isSeed, parseSeed, seedFromBigInt, type Seed } from "../../core/sim/seed.ts";
import { SWARM_WORKLOADS, type SwarmWorkload } from "../../core/sim/swarm.ts";
import { parseDurationMs } from "./sim-command.ts";
import { UsageError } from "./usage-error.ts";
import { parseVoprReplayArguments, runVoprReplay, saveShrunkRun } from "./vopr-replay.ts";
import { SHRINK_ATTEMPTS_MAX } from "../../core/sim/shrink.ts";
import { CANARY_EVERY, DETERMINISM_EVERY, plantWorkloadConflict, runVoprJobReported, VOPR_MODES, VOPR_PLANT_NAMES, type VoprJob, type VoprMode, type VoprSeedReport } from "./vopr-worker.ts";
import { CoverageGuide } from "../../core/sim/coverage-guide.ts";
import { formatSwarmSteer, isSwarmSteerError, parseSwarmSteer, type SwarmSteer } from "../../core/sim/swarm-steer.ts";
import { CoverageTally } from "./vopr-coverage.ts";
import { isCoveragePointName } from "../../core/env/coverage-points.ts";
import { parseShard, shardSeeds, type VoprShard } from "./vopr-shard.ts";
import { batchSeedRange, sourceCommit, throughputLine, writeReportFile, type VoprBatchOptions } from "./vopr-report-file.ts";
import { registerVoprMergeCommand } from "./vopr-merge.ts";

/**
 * Guided batches run in rounds of this many seeds: a round's steers come from the rounds before it,
 * in seed order, so the batch is the same whatever the thread count (at the cost of a wait per round).
 */
export const GUIDE_ROUND_SEEDS = 8;

export const VOPR_SEEDS_MAX = 1_000_000;
export const VOPR_JOBS_MAX = 64;
/** Enough for ddmin over a swarm run's faults and every dimension's counts, a few seconds to a minute of runs. */
export const VOPR_SHRINK_ATTEMPTS_DEFAULT = 100;
/** Wall time one failing seed's shrinking may take, by default. */
export const VOPR_SHRINK_TIME_DEFAULT = "2m";
/** A progress line at least this often (wall time) while seeds finish, and one at the end. */
const PROGRESS_INTERVAL_MS = 5_000;
const UINT64_MAX = (1n << 64n) - 1n;

export interface VoprCommandOptions {
  seed?: string;
  seeds?: string;
  first: string;
  mode: string;
  budget?: string;
  workload?: string;
  plant?: string;
  jobs?: string;
  shrinkAttempts: string;
  shrinkTime?: string;
  runsDir: string;
  replay?: string;
  timeline?: string;
  coverage?: string;
  guided?: boolean;
  steer?: string;
  shard?: string;
  report?: string;
  time?: string;
}

export interface ParsedVoprArguments {
  /** The seeds to run, in order (their text as parseSeed gives it back). */
  readonly seeds: readonly string[];
  readonly mode: VoprMode;
  readonly budgetMs: number | undefined;
  readonly workload: SwarmWorkload | undefined;
  readonly plant: string | undefined;
  readonly jobs: number;
  /** Runs a failing seed's shrinking may spend (0: none). */
  readonly shrinkAttempts: number;
  /** Wall time one failing seed's shrinking may take (the search ends with the smallest run so far). */
  readonly shrinkTimeMs: number;
  /** Where shrunk runs' files are written. */
  readonly runsDir: string;
  /** Where the coverage report is written as JSON (--coverage), if anywhere. */
  readonly coverageFile: string | undefined;
  /** Coverage-guided swarm: later seeds' draws are steered toward points reached rarely or never. */
  readonly guided: boolean;
  /** --steer with --seed: the forced draws of one steered run, to reproduce it. */
  readonly steer: SwarmSteer | undefined;
  /** --shard I/N: `seeds` is this shard's part of the batch. */
  readonly shard: VoprShard | undefined;
  /** The batch before sharding, as a report file names it (every shard's is the same). */
  readonly batch: VoprBatchOptions;
  /** Where the batch report is written as JSON (--report), for `blixard vopr merge`. */
  readonly reportFile: string | undefined;
}

function nonNegativeInteger(flag: string, text: string, max: number): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) > max) throw new UsageError(`${flag}: "${text}" is not an integer in 0..${max}`);
  return Number(text);
}

function positiveInteger(flag: string, text: string, max: number): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1 || Number(text) > max) throw new UsageError(`${flag}: "${text}" is not an integer in 1..${max}`);
  return Number(text);
}

/** Validates the flags; throws UsageError with one line naming what is wrong. */
export function parseVoprArguments(options: VoprCommandOptions): ParsedVoprArguments {
  if (options.seed !== undefined && options.seeds !== undefined) throw new UsageError("--seed and --seeds: give one (a single seed, or a batch)");
  let seeds: string[];
  if (options.time !== undefined && options.budget !== undefined) throw new UsageError("--time and --budget: give one (--time runs seeds until that wall time; --budget cuts a batch of --seeds)");
  if (options.time !== undefined && options.seed !== undefined) throw new UsageError("--time: not with --seed (it runs as many seeds as fit)");
  if (options.shard !== undefined && options.seed !== undefined) throw new UsageError("--shard: not with --seed (it splits a batch of --seeds)");
  if (options.seed !== undefined) {
    const parsed = parseSeed(options.seed);
    if (!isSeed(parsed)) throw new UsageError(`--seed: ${parsed.error}`);
    seeds = [parsed.text];
  } else {
    const count = positiveInteger("--seeds", options.seeds ?? (options.time !== undefined ? String(VOPR_SEEDS_MAX) : "16"), VOPR_SEEDS_MAX);
    if (!/^\d+$/.test(options.first.trim())) throw new UsageError(`--first: "${options.first}" is not a 64-bit unsigned decimal integer`);
    const first = BigInt(options.first.trim());
    if (first + BigInt(count) - 1n > UINT64_MAX) throw new UsageError(`--first: ${options.first} plus ${count} seeds exceeds 2^64-1`);
    seeds = [];
    for (let i = 0n; i < BigInt(count); i++) seeds.push(seedFromBigInt(first + i).text);
  }
  if (!(VOPR_MODES as readonly string[]).includes(options.mode)) throw new UsageError(`--mode: unknown mode "${options.mode}" (one of: ${VOPR_MODES.join(", ")})`);
  let budgetMs: number | undefined;
  const budgetFlag = options.time !== undefined ? "--time" : "--budget";
  const budgetText = options.time ?? options.budget;
  if (budgetText !== undefined) {
    budgetMs = parseDurationMs(budgetText);
    if (budgetMs === undefined || budgetMs <= 0) throw new UsageError(`${budgetFlag}: "${budgetText}" is not a positive duration (examples: 30s, 10m)`);
  }
  if (options.workload !== undefined && !(SWARM_WORKLOADS as readonly string[]).includes(options.workload)) {
    throw new UsageError(`--workload: unknown workload "${options.workload}" (one of: ${SWARM_WORKLOADS.join(", ")})`);
  }
  if (options.plant !== undefined && !VOPR_PLANT_NAMES.includes(options.plant)) throw new UsageError(`--plant: unknown planted bug "${options.plant}" (one of: ${VOPR_PLANT_NAMES.join(", ")})`);
  const plantConflict = plantWorkloadConflict(options.plant, options.workload as SwarmWorkload | undefined);
  if (plantConflict !== undefined) throw new UsageError(plantConflict);
  const jobs = options.jobs === undefined ? Math.min(availableParallelism(), VOPR_JOBS_MAX) : positiveInteger("--jobs", options.jobs, VOPR_JOBS_MAX);
  if (options.timeline !== undefined) throw new UsageError("--timeline: only with --replay FILE");
  const shrinkAttempts = nonNegativeInteger("--shrink-attempts", options.shrinkAttempts, SHRINK_ATTEMPTS_MAX);
  const shrinkTime = options.shrinkTime ?? VOPR_SHRINK_TIME_DEFAULT;
  const shrinkTimeMs = parseDurationMs(shrinkTime);
  if (shrinkTimeMs === undefined || shrinkTimeMs <= 0) throw new UsageError(`--shrink-time: "${shrinkTime}" is not a positive duration (examples: 30s, 5m)`);
  if (options.runsDir.trim() === "") throw new UsageError("--runs-dir: empty");
  if (options.coverage !== undefined && options.coverage.trim() === "") throw new UsageError("--coverage: empty file name");
  let steer: SwarmSteer | undefined;
  if (options.steer !== undefined) {
    if (options.seed === undefined) throw new UsageError("--steer: only with --seed (it reproduces one steered run)");
    if (options.guided === true) throw new UsageError("--steer and --guided: give one (a steered seed, or a guided batch)");
    const parsed = parseSwarmSteer(options.steer);
    if (isSwarmSteerError(parsed)) throw new UsageError(`--steer: ${parsed.error}`);
    steer = parsed;
  }
  if (options.report !== undefined && options.report.trim() === "") throw new UsageError("--report: empty file name");
  const batch: VoprBatchOptions = {
    mode: options.mode,
    workload: options.workload ?? null,
    plant: options.plant ?? null,
    guided: options.guided === true,
    first: seeds[0]!,
    seeds: seeds.length,
    budgetMs: budgetMs ?? null,
  };
  const shard = options.shard === undefined ? undefined : parseShard(options.shard);
  if (shard !== undefined) {
    seeds = shardSeeds(seeds, shard);
    if (seeds.length === 0) throw new UsageError(`--shard: ${shard.index}/${shard.count} holds no seed of a batch of ${batch.seeds} (use at most ${batch.seeds} shards)`);
  }
  return {
    seeds,
    shard,
    batch,
    reportFile: options.report,
    mode: options.mode as VoprMode,
    budgetMs,
    workload: options.workload as SwarmWorkload | undefined,
    plant: options.plant,
    jobs: Math.min(jobs, seeds.length),
    shrinkAttempts,
    shrinkTimeMs,
    runsDir: options.runsDir,
    coverageFile: options.coverage,
    guided: options.guided === true,
    steer,
  };
}

export function registerVoprCommand(program: Command): void {
  const vopr = program.command("vopr");
  vopr
    .description("swarm-test the whole cluster: many simulations, each seed drawing its own cluster, faults and tuning, checked for safety and liveness")
    .option("--seed <seed>", "run this one seed (64-bit unsigned integer or 40-hex-digit commit hash)")
    .option("--seeds <n>", "run n seeds, --first, --first + 1, ... (default 16)")
    .option("--first <seed>", "the first seed of --seeds", "1")
    .option("--mode <mode>", `what is judged: ${VOPR_MODES.join(" | ")} (safety: every property and linearizability; liveness: the healed cluster recovers)`, "both")
    .option("--budget <duration>", "wall time after which no new seed starts (30s, 10m); the seeds started finish")
    .option("--workload <name>", `fix the workload instead of drawing it per seed: ${SWARM_WORKLOADS.join(" | ")}`)
    .option("--plant <bug>", "switch on a planted bug in every run (docs/PLANTED-BUGS.md), to see it caught")
    .option("--jobs <n>", "worker threads (default: one per core)")
    .option("--shrink-attempts <n>", `runs spent shrinking each failing seed (0: no shrinking; at most ${SHRINK_ATTEMPTS_MAX})`, String(VOPR_SHRINK_ATTEMPTS_DEFAULT))
    .option("--shrink-time <duration>", "wall time spent shrinking each failing seed, at most (the smallest run found by then is reported)", VOPR_SHRINK_TIME_DEFAULT)
    .option("--runs-dir <dir>", "where the shrunk runs' files are written", "vopr-runs")
    .option("--replay <file>", "replay one run file (a shrunk run's, printed with its failure) instead of drawing seeds")
    .option("--timeline <file>", "with --replay: write the run as a self-contained HTML timeline")
    .option("--coverage <file>", "write the batch's coverage report (points reached, how often, and never) as JSON")
    .option("--guided", "coverage-guided swarm: steer later seeds' draws toward coverage points reached rarely or never")
    .option("--steer <draws>", "with --seed: force these draws (dimension=0|1,...), as a guided batch printed for a steered seed")
    .option("--shard <I/N>", "run shard I of N of the batch (0 <= I < N: the seeds at positions I, I+N, ...), e.g. a Kubernetes Indexed Job's index")
    .option("--report <file>", "write the batch report as JSON, for blixard vopr merge")
    .option("--time <duration>", "run seeds (from --first up) until this wall time is spent (10m, 1h): npm run vopr:long")
    .addHelpText(
      "after",
      "\nExamples:\n  blixard vopr --seeds 100 --budget 2m\n  blixard vopr --seed 7 --mode liveness --jobs 1\n  blixard vopr --seeds 8 --plant cas-without-compare\n  blixard vopr --seeds 64 --guided --coverage coverage.json\n  blixard vopr --seeds 1000 --shard 0/4 --report shard-0.json\n  blixard vopr merge shard-*.json\n  blixard vopr --replay vopr-runs/seed-1-shrunk.json\n",
    )
    .action(async (options: VoprCommandOptions) => {
      const write = (text: string): void => void process.stdout.write(text);
      process.exitCode = options.replay !== undefined ? runVoprReplay(parseVoprReplayArguments(options), write) : await runVoprCommand(parseVoprArguments(options), write);
    });
  registerVoprMergeCommand(vopr);
}

/** Where the worker's source is: beside this file from src/, or the source of the bundle's chunk (dist/ runs src/'s worker through tsx). */
function workerUrl(): string {
  const here = fileURLToPath(import.meta.url);
  const source = here.endsWith(".ts") ? here : here.replace(/\/dist\/(.*)vopr-command\.js$/, "/src/$1vopr-worker.ts");
  return pathToFileURL(source.endsWith("vopr-worker.ts") ? source : source.replace(/vopr-command\.ts$/, "vopr-worker.ts")).href;
}

/** A worker thread that loads the worker module through tsx (a worker does not inherit the main thread's loader hooks). */
function startWorker(): Worker {
  // tsx's ESM API (its CommonJS one registers hooks by paths that do not resolve from a worker).
  const tsxManifest = createRequire(import.meta.url).resolve("tsx/package.json");
  const tsxExports = (JSON.parse(readFileSync(tsxManifest, "utf8")) as { exports: Record<string, { import: { default: string } }> }).exports;
  const tsxApi = new URL(tsxExports["./esm/api"]!.import.default, pathToFileURL(tsxManifest)).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then((api) => { api.register(); return import(${JSON.stringify(workerUrl())}); });`;
  return new Worker(bootstrap, { eval: true, workerData: { vopr: true } });
}

/**
 * Runs the jobs on the pool's threads (in this thread when there is no pool), calling back in seed
 * order; resolves with how many started (the budget stops new ones) once every started job is done.
 */
async function runJobs(jobs: readonly VoprJob[], pool: readonly Worker[] | undefined, budgetLeft: () => boolean, done: (report: VoprSeedReport) => void): Promise<number> {
  // Reports that arrived ahead of an earlier seed's, held until it arrives (at most one per thread and the ones after it).
  const waiting = new Map<number, VoprSeedReport>();
  let next = 0;
  let printed = 0;
  const deliver = (index: number, report: VoprSeedReport): void => {
    waiting.set(index, report);
    for (let ready = waiting.get(printed); ready !== undefined; ready = waiting.get(printed)) {
      waiting.delete(printed);
      printed += 1;
      done(ready);
    }
  };
  if (pool === undefined) {
    while (next < jobs.length && budgetLeft()) {
      const index = next++;
      deliver(index, runVoprJobReported(jobs[index]!));
      // Let the event loop breathe (stdout drains) between seeds.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return next;
  }
  assert(pool.length >= 2 && pool.length <= VOPR_JOBS_MAX, "a thread count within its bound");
  await Promise.all(
    pool.map(
      (worker) =>
        new Promise<void>((resolve, reject) => {
          let current = -1;
          const onMessage = (report: VoprSeedReport): void => {
            const index = current;
            current = -1;
            deliver(index, report);
            feed();
          };
          const onExit = (code: number): void => (current >= 0 ? reject(new Error(`a VOPR worker exited (code ${code}) during seed ${jobs[current]!.seed}`)) : resolve());
          const feed = (): void => {
            if (next < jobs.length && budgetLeft()) {
              current = next++;
              worker.postMessage(jobs[current]);
              return;
            }
            // This round is done for this worker: it stays in the pool for the next one.
            worker.off("message", onMessage);
            worker.off("error", reject);
            worker.off("exit", onExit);
            resolve();
          };
          worker.on("message", onMessage);
          worker.once("error", reject);
          worker.once("exit", onExit);
          feed();
        }),
    ),
  );
  assert(printed === next && waiting.size === 0, "every started seed was delivered in order");
  return next;
}

/** Runs the batch and prints its report; returns the exit code (0 clean, 1 any failure). */
export async function runVoprCommand(parsed: ParsedVoprArguments, write: (text: string) => void): Promise<number> {
  const jobOf = (seed: string, steer: SwarmSteer | undefined): VoprJob => ({
    seed,
    mode: parsed.mode,
    workload: parsed.workload,
    plant: parsed.plant,
    shrinkAttempts: parsed.shrinkAttempts,
    shrinkTimeMs: parsed.shrinkTimeMs,
    ...(steer === undefined || formatSwarmSteer(steer) === "" ? {} : { steer }),
  });
  const startedMs = performance.now();
  write(
    `blixard vopr  mode ${parsed.mode}  seeds ${parsed.shard === undefined ? (parsed.seeds.length === 1 ? parsed.seeds[0] : `${parsed.seeds[0]}..${parsed.seeds[parsed.seeds.length - 1]}`) : batchSeedRange(parsed.batch)}  workload ${parsed.workload ?? "drawn per seed"}${
      parsed.plant === undefined ? "" : `  planted bug ${parsed.plant}`
    }${parsed.shard === undefined ? "" : `  shard ${parsed.shard.index}/${parsed.shard.count} (positions ${parsed.shard.index}, ${parsed.shard.index + parsed.shard.count}, ...: ${parsed.seeds.length} of ${parsed.batch.seeds} seeds)`}${parsed.guided ? `  guided (rounds of ${GUIDE_ROUND_SEEDS} seeds)` : ""}${parsed.steer === undefined ? "" : `  steer ${formatSwarmSteer(parsed.steer) || "none"}`}  (determinism self-check: 1 seed in ${DETERMINISM_EVERY}; canary: 1 in ${CANARY_EVERY})\n`,
  );
  let seedsRun = 0;
  let simulatedUs = 0;
  let events = 0;
  let excluded = 0;
  const failures: Array<{ report: VoprSeedReport; property: string; message: string; atS: number }> = [];
  const tally = new CoverageTally();
  const guide = parsed.guided ? new CoverageGuide() : undefined;
  let lastProgressMs = startedMs;
  let progressCurrent = false;
  const progress = (): string => {
    const wallS = Math.max(performance.now() - startedMs, 1) / 1000;
    return `progress  ${seedsRun} seeds run, ${(simulatedUs / 3.6e9).toFixed(3)} simulated hours, ${failures.length} failures, ${tally.progress()}, ${Math.round(events / wallS)} events/s (${wallS.toFixed(1)} s wall, ${parsed.jobs} threads)\n`;
  };
  const onReport = (job: VoprJob, report: VoprSeedReport): void => {
    seedsRun += 1;
    simulatedUs += report.simulatedUs;
    events += report.events;
    if (report.excluded !== undefined && parsed.mode !== "safety") excluded += 1;
    tally.add(report.coverage);
    if (guide !== undefined && report.dimensions !== undefined) guide.record(report.dimensions, new Set(Object.keys(report.coverage).filter(isCoveragePointName)));
    write(`${report.line}${job.steer === undefined ? "" : `  steer ${formatSwarmSteer(job.steer)}`}\n`);
    for (const failure of report.failures) {
      failures.push({ report, ...failure });
      write(`FAILURE  seed ${report.seed}  ${failure.property}: ${failure.message} (at ${failure.atS.toFixed(6)} s simulated)\n  reproduce  ${report.reproduce}\n`);
    }
    if (report.shrunk !== undefined) write(saveShrunkRun(parsed.runsDir, report.seed, report.shrunk));
    progressCurrent = false;
    if (performance.now() - lastProgressMs >= PROGRESS_INTERVAL_MS) {
      lastProgressMs = performance.now();
      write(progress());
      progressCurrent = true;
    }
  };
  const budgetLeft = (): boolean => parsed.budgetMs === undefined || performance.now() - startedMs < parsed.budgetMs;
  const pool = parsed.jobs === 1 ? undefined : Array.from({ length: parsed.jobs }, () => startWorker());
  // A worker that exits between two guided rounds would never answer the next: runJobs checks this first.
  const exited = new Set<Worker>();
  for (const worker of pool ?? []) worker.once("exit", () => exited.add(worker));
  let started = 0;
  try {
    // Blind: one round of every seed. Guided: rounds of GUIDE_ROUND_SEEDS, each steered by the ones before it.
    const roundSeeds = guide === undefined ? parsed.seeds.length : GUIDE_ROUND_SEEDS;
    for (let first = 0; first < parsed.seeds.length && budgetLeft(); first += roundSeeds) {
      const round = parsed.seeds.slice(first, first + roundSeeds).map((seed) => jobOf(seed, guide?.steerFor(parseSeedText(seed)) ?? parsed.steer));
      let delivered = 0;
      const gone = pool?.find((worker) => exited.has(worker));
      if (gone !== undefined) throw new Error(`a VOPR worker exited between rounds, before seed ${round[0]!.seed}`);
      const ran = await runJobs(round, pool, budgetLeft, (report) => onReport(round[delivered++]!, report));
      assert(ran === delivered, "every started seed of the round was reported");
      started += ran;
      if (ran < round.length) break;
    }
  } finally {
    if (pool !== undefined) await Promise.all(pool.map((worker) => worker.terminate()));
  }
  assert(started === seedsRun, "every started seed was reported");
  if (!progressCurrent) write(progress());
  for (const line of tally.lines()) write(`${line}\n`);
  if (parsed.coverageFile !== undefined) {
    writeCoverageFile(parsed.coverageFile, tally, parsed, seedsRun);
    write(`coverage report written to ${parsed.coverageFile}\n`);
  }
  const wallMs = performance.now() - startedMs;
  write(`${throughputLine(simulatedUs, wallMs, wallMs * parsed.jobs, `${parsed.jobs} thread${parsed.jobs === 1 ? "" : "s"}`)}\n`);
  if (parsed.reportFile !== undefined) {
    writeReportFile(parsed.reportFile, {
      kind: "blixard-vopr-report",
      version: 1,
      commit: sourceCommit(),
      batch: parsed.batch,
      shard: parsed.shard ?? { index: 0, count: 1 },
      seedsPlanned: parsed.seeds.length,
      seedsRun,
      simulatedUs,
      events,
      wallMs: Math.round(wallMs),
      threads: parsed.jobs,
      excluded,
      failures: failures.map((failure) => ({ seed: failure.report.seed, property: failure.property, message: failure.message, reproduce: failure.report.reproduce })),
      coverage: tally.summary(),
    });
    write(`batch report written to ${parsed.reportFile}\n`);
  }
  const cut = started < parsed.seeds.length ? `; the budget stopped the batch after ${started} of ${parsed.seeds.length} seeds` : "";
  write(`result  ${failures.length === 0 ? "PASS" : "FAIL"}: ${seedsRun} seeds, ${failures.length} failures, ${parsed.mode === "safety" ? "liveness not judged (safety mode)" : `${excluded} runs whose liveness was not judged (unrecoverable by design, or steady loss outlasting the heal)`}${cut}\n`);
  for (const failure of failures) write(`  seed ${failure.report.seed}  ${failure.property}  ${failure.report.reproduce}\n`);
  return failures.length === 0 ? 0 : 1;
}

function parseSeedText(text: string): Seed {
  const seed = parseSeed(text);
  assert(isSeed(seed), "the command parsed every seed");
  return seed;
}

/** The coverage report as JSON (docs/SIMULATION.md, "Coverage"): the batch it came from, then per point. */
function writeCoverageFile(file: string, tally: CoverageTally, parsed: ParsedVoprArguments, seedsRun: number): void {
  const report = {
    kind: "blixard-vopr-coverage",
    version: 1,
    batch: { mode: parsed.mode, workload: parsed.workload ?? null, plant: parsed.plant ?? null, guided: parsed.guided, firstSeed: parsed.seeds[0], lastSeed: parsed.seeds[seedsRun - 1] ?? null },
    seedsRun,
    pointsReached: tally.reachedCount(),
    points: tally.summary(),
    neverReached: tally.neverReached(),
  };
  try {
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  } catch (error) {
    throw new UsageError(`--coverage: cannot write ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}
