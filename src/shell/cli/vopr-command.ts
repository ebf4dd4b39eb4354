// `blixard vopr`: swarm fuzzing of the whole cluster (docs/SIMULATION.md, "VOPR"). Each seed draws
// its own run (src/core/sim/swarm.ts); worker threads (vopr-worker.ts, one per core by default) run
// the seeds, and the results are printed in seed order, so the report is the same for the same
// flags whatever the threads' timing (apart from the progress lines' wall-clock figures). For each
// failure: the seed, the property and a one-line command that reruns exactly that run. Exit 1 on any
// failure, 2 on bad input (one line, UsageError).

import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { Command } from "commander";
import { assert } from "../../core/assert.ts";
import { isSeed, parseSeed, seedFromBigInt } from "../../core/sim/seed.ts";
import { SWARM_WORKLOADS, type SwarmWorkload } from "../../core/sim/swarm.ts";
import { parseDurationMs } from "./sim-command.ts";
import { UsageError } from "./usage-error.ts";
import { parseVoprReplayArguments, runVoprReplay, saveShrunkRun } from "./vopr-replay.ts";
import { SHRINK_ATTEMPTS_MAX } from "../../core/sim/shrink.ts";
import { CANARY_EVERY, DETERMINISM_EVERY, plantWorkloadConflict, runVoprJobReported, VOPR_MODES, VOPR_PLANT_NAMES, type VoprJob, type VoprMode, type VoprSeedReport } from "./vopr-worker.ts";

export const VOPR_SEEDS_MAX = 1_000_000;
export const VOPR_JOBS_MAX = 64;
/** Enough for ddmin over a swarm run's faults and every dimension's counts, a few seconds to a minute of runs. */
export const VOPR_SHRINK_ATTEMPTS_DEFAULT = 100;
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
  runsDir: string;
  replay?: string;
  timeline?: string;
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
  /** Where shrunk runs' files are written. */
  readonly runsDir: string;
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
  if (options.seed !== undefined) {
    const parsed = parseSeed(options.seed);
    if (!isSeed(parsed)) throw new UsageError(`--seed: ${parsed.error}`);
    seeds = [parsed.text];
  } else {
    const count = positiveInteger("--seeds", options.seeds ?? "16", VOPR_SEEDS_MAX);
    if (!/^\d+$/.test(options.first.trim())) throw new UsageError(`--first: "${options.first}" is not a 64-bit unsigned decimal integer`);
    const first = BigInt(options.first.trim());
    if (first + BigInt(count) - 1n > UINT64_MAX) throw new UsageError(`--first: ${options.first} plus ${count} seeds exceeds 2^64-1`);
    seeds = [];
    for (let i = 0n; i < BigInt(count); i++) seeds.push(seedFromBigInt(first + i).text);
  }
  if (!(VOPR_MODES as readonly string[]).includes(options.mode)) throw new UsageError(`--mode: unknown mode "${options.mode}" (one of: ${VOPR_MODES.join(", ")})`);
  let budgetMs: number | undefined;
  if (options.budget !== undefined) {
    budgetMs = parseDurationMs(options.budget);
    if (budgetMs === undefined || budgetMs <= 0) throw new UsageError(`--budget: "${options.budget}" is not a positive duration (examples: 30s, 10m)`);
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
  if (options.runsDir.trim() === "") throw new UsageError("--runs-dir: empty");
  return { seeds, mode: options.mode as VoprMode, budgetMs, workload: options.workload as SwarmWorkload | undefined, plant: options.plant, jobs: Math.min(jobs, seeds.length), shrinkAttempts, runsDir: options.runsDir };
}

export function registerVoprCommand(program: Command): void {
  program
    .command("vopr")
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
    .option("--runs-dir <dir>", "where the shrunk runs' files are written", "vopr-runs")
    .option("--replay <file>", "replay one run file (a shrunk run's, printed with its failure) instead of drawing seeds")
    .option("--timeline <file>", "with --replay: write the run as a self-contained HTML timeline")
    .addHelpText(
      "after",
      "\nExamples:\n  blixard vopr --seeds 100 --budget 2m\n  blixard vopr --seed 7 --mode liveness --jobs 1\n  blixard vopr --seeds 8 --plant cas-without-compare\n  blixard vopr --replay vopr-runs/seed-1-shrunk.json\n",
    )
    .action(async (options: VoprCommandOptions) => {
      const write = (text: string): void => void process.stdout.write(text);
      process.exitCode = options.replay !== undefined ? runVoprReplay(parseVoprReplayArguments(options), write) : await runVoprCommand(parseVoprArguments(options), write);
    });
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

/** Runs the jobs on `jobs` threads (in this thread when 1), calling back in seed order; resolves when every started job is done. */
async function runJobs(jobs: readonly VoprJob[], threads: number, budgetMs: number | undefined, startedMs: number, done: (report: VoprSeedReport) => void): Promise<number> {
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
  const budgetLeft = (): boolean => budgetMs === undefined || performance.now() - startedMs < budgetMs;
  if (threads === 1) {
    while (next < jobs.length && budgetLeft()) {
      const index = next++;
      deliver(index, runVoprJobReported(jobs[index]!));
      // Let the event loop breathe (stdout drains) between seeds.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return next;
  }
  assert(threads >= 2 && threads <= VOPR_JOBS_MAX, "a thread count within its bound");
  const workers = Array.from({ length: threads }, () => startWorker());
  try {
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            let current = -1;
            const feed = (): void => {
              if (next < jobs.length && budgetLeft()) {
                current = next++;
                worker.postMessage(jobs[current]);
              } else resolve();
            };
            worker.on("message", (report: VoprSeedReport) => {
              const index = current;
              current = -1;
              deliver(index, report);
              feed();
            });
            worker.once("error", reject);
            worker.once("exit", (code) => (current >= 0 ? reject(new Error(`a VOPR worker exited (code ${code}) during seed ${jobs[current]!.seed}`)) : resolve()));
            feed();
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
  assert(printed === next && waiting.size === 0, "every started seed was delivered in order");
  return next;
}

/** Runs the batch and prints its report; returns the exit code (0 clean, 1 any failure). */
export async function runVoprCommand(parsed: ParsedVoprArguments, write: (text: string) => void): Promise<number> {
  const jobs: VoprJob[] = parsed.seeds.map((seed) => ({ seed, mode: parsed.mode, workload: parsed.workload, plant: parsed.plant, shrinkAttempts: parsed.shrinkAttempts }));
  const startedMs = performance.now();
  write(
    `blixard vopr  mode ${parsed.mode}  seeds ${parsed.seeds.length === 1 ? parsed.seeds[0] : `${parsed.seeds[0]}..${parsed.seeds[parsed.seeds.length - 1]}`}  workload ${parsed.workload ?? "drawn per seed"}${
      parsed.plant === undefined ? "" : `  planted bug ${parsed.plant}`
    }  (determinism self-check: 1 seed in ${DETERMINISM_EVERY}; canary: 1 in ${CANARY_EVERY})\n`,
  );
  let seedsRun = 0;
  let simulatedUs = 0;
  let events = 0;
  let excluded = 0;
  const failures: Array<{ report: VoprSeedReport; property: string; message: string; atS: number }> = [];
  let lastProgressMs = startedMs;
  let progressCurrent = false;
  const progress = (): string => {
    const wallS = Math.max(performance.now() - startedMs, 1) / 1000;
    return `progress  ${seedsRun} seeds run, ${(simulatedUs / 3.6e9).toFixed(3)} simulated hours, ${failures.length} failures, ${Math.round(events / wallS)} events/s (${wallS.toFixed(1)} s wall, ${parsed.jobs} threads)\n`;
  };
  const started = await runJobs(jobs, parsed.jobs, parsed.budgetMs, startedMs, (report) => {
    seedsRun += 1;
    simulatedUs += report.simulatedUs;
    events += report.events;
    if (report.excluded !== undefined && parsed.mode !== "safety") excluded += 1;
    write(`${report.line}\n`);
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
  });
  assert(started === seedsRun, "every started seed was reported");
  if (!progressCurrent) write(progress());
  const cut = started < jobs.length ? `; the budget stopped the batch after ${started} of ${jobs.length} seeds` : "";
  write(`result  ${failures.length === 0 ? "PASS" : "FAIL"}: ${seedsRun} seeds, ${failures.length} failures, ${parsed.mode === "safety" ? "liveness not judged (safety mode)" : `${excluded} runs whose liveness was not judged (unrecoverable by design, or steady loss outlasting the heal)`}${cut}\n`);
  for (const failure of failures) write(`  seed ${failure.report.seed}  ${failure.property}  ${failure.report.reproduce}\n`);
  return failures.length === 0 ? 0 : 1;
}
