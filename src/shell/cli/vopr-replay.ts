// `blixard vopr --replay FILE`: one run file (src/core/sim/run-file.ts), replayed exactly: the
// options and the fault schedule it holds, nothing drawn from the swarm. It says whether the run
// still fails with the property the file was written for; exit 1 when the run fails, 0 when it is
// clean, 2 when the file or the flags are bad (one line). Also where the VOPR saves a shrunk run's
// file and prints its reproduction.

import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeRunFile, type RunFile } from "../../core/sim/run-file.ts";
import { runSimulation } from "../../core/sim/simulation.ts";
import { runSize } from "../../core/sim/shrink.ts";
import { UsageError } from "./usage-error.ts";
import type { VoprCommandOptions } from "./vopr-command.ts";
import { formatRunSize, type VoprShrunkRun } from "./vopr-worker.ts";
import { recordTimeline } from "./vopr-timeline.ts";

export interface ParsedVoprReplayArguments {
  readonly path: string;
  readonly run: RunFile;
  readonly timeline: string | undefined;
}

/** Validates --replay's flags and reads its file; throws UsageError with one line naming what is wrong. */
export function parseVoprReplayArguments(options: VoprCommandOptions): ParsedVoprReplayArguments {
  const path = options.replay!;
  const conflicting = (["seed", "seeds", "budget", "workload", "plant"] as const).filter((flag) => options[flag] !== undefined);
  if (conflicting.length > 0) throw new UsageError(`--replay: the run file holds the whole run; drop --${conflicting[0]}`);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(`--replay: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  const run = decodeRunFile(text);
  if ("error" in run) throw new UsageError(`--replay: ${path} is not a run file: ${run.error}`);
  if (options.timeline !== undefined && options.timeline.trim() === "") throw new UsageError("--timeline: empty file name");
  return { path, run, timeline: options.timeline };
}

/** Replays the file's run and prints its outcome; returns the exit code (1 when it fails, 0 when clean). */
export function runVoprReplay(parsed: ParsedVoprReplayArguments, write: (text: string) => void): number {
  const { options, property } = parsed.run;
  const timeline = parsed.timeline === undefined ? undefined : recordTimeline(options);
  const result = timeline?.result ?? runSimulation(options);
  write(`replay  ${parsed.path}  ${formatRunSize(runSize(options, result))}  hash ${result.traceHash}\n`);
  if (parsed.run.note !== "") write(`  from  ${parsed.run.note}\n`);
  if (timeline !== undefined) {
    writeFileSync(parsed.timeline!, timeline.html);
    write(`  timeline  ${parsed.timeline}\n`);
  }
  const failure = result.failure;
  const expected = property === undefined ? "" : failure?.property === property ? `  (reproduces: the file's property ${property})` : `  (does NOT reproduce the file's property ${property})`;
  if (failure === undefined) {
    write(`result  PASS: no property failed${expected}\n`);
    return 0;
  }
  write(`FAILURE  ${failure.property}: ${failure.message} (at ${(failure.simulatedTimeUs / 1e6).toFixed(6)} s simulated)${expected}\n`);
  return 1;
}

/** Writes a shrunk run's file under `dir` and returns the lines that report it. */
export function saveShrunkRun(dir: string, seed: string, shrunk: VoprShrunkRun): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `seed-${seed}-shrunk.json`);
  writeFileSync(path, shrunk.runFile);
  return (
    `  shrunk     ${shrunk.property} still fails with ${formatRunSize(shrunk.shrunkSize)} (was ${formatRunSize(shrunk.originalSize)}; ${shrunk.attempts} runs, ${shrunk.stopped === "minimal" ? "nothing smaller failed" : `stopped by the ${shrunk.stopped} budget`})\n` +
    `  reproduce  npx blixard vopr --replay ${path}\n`
  );
}
