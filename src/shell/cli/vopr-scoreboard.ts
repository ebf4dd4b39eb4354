// The planted-bug scoreboard (`npm run vopr:scoreboard`, docs/SCOREBOARD.md): the VOPR run against
// each planted bug --plant knows, with a fixed budget per bug. Seeds 1, 2, ... run in order (the
// swarm draws each seed's run, as `blixard vopr --plant NAME` does) until one fails; that seed is
// run again with the bug off (it must pass: the failure is the bug's), and its failure is shrunk
// with a fixed number of attempts. Everything in a row but its wall time is a function of the bug
// and the budget, so the table is the same on every run; only a bug that hits its wall-time cap
// (stated in the row) can differ. Bugs the simulator cannot reach by design are listed with the
// test that catches them (scoreboard-static.ts).

import { join } from "node:path";
import { assert } from "../../core/assert.ts";
import type { RunSize } from "../../core/sim/shrink.ts";
import { saveShrunkRun } from "./vopr-replay.ts";
import { formatRunSize, plantFamily, runVoprJobReported, type VoprJob, type VoprMode } from "./vopr-worker.ts";

export interface ScoreboardBudget {
  /** Seeds tried per bug, 1..seedsMax, stopping at the first that fails. */
  readonly seedsMax: number;
  /** Wall time per bug after which no new seed starts (a guard: a row cut by it says so). */
  readonly wallMsPerBug: number;
  /** Runs the catching seed's shrinking may spend. */
  readonly shrinkAttempts: number;
  readonly mode: VoprMode;
}

/** The budget `npm run vopr:scoreboard` uses (docs/SCOREBOARD.md states it). */
export const SCOREBOARD_BUDGET: ScoreboardBudget = { seedsMax: 64, wallMsPerBug: 240_000, shrinkAttempts: 16, mode: "both" };
export const SCOREBOARD_SEEDS_MAX = 10_000;

export interface ScoreboardCatch {
  readonly seed: string;
  readonly property: string;
  readonly message: string;
  /** Simulated seconds into the run at detection. */
  readonly atS: number;
  /** Whether the same seed passes with the bug off (companions kept): always, since a seed failing both ways is passed over. */
  readonly bugOffPasses: boolean;
  readonly reproduce: string;
  readonly original: RunSize | undefined;
  readonly shrunk: RunSize | undefined;
  /** How the shrinking ended: minimal, the attempts budget, or not shrunk (and why). */
  readonly shrinkNote: string;
  /** The shrunk run's file, when there is one (under the runs directory; git ignores it). */
  readonly shrunkFile: string | undefined;
}

export interface ScoreboardRow {
  readonly bug: string;
  readonly family: string;
  readonly seedsTried: number;
  readonly caught: ScoreboardCatch | undefined;
  /** Why the search stopped: a catch, the seed budget, or the wall-time guard. */
  readonly stoppedBy: "caught" | "seeds" | "wall";
  /** Seeds that failed with the bug on and off alike (not the bug's catch: the search went on), with the bug-off failure. */
  readonly failingBothWays: ReadonlyArray<{ readonly seed: string; readonly property: string; readonly message: string }>;
  readonly wallMs: number;
}

/** Runs one bug's search. `nowMs` is the wall clock (only the guard reads it). */
export function scoreBug(bug: string, budget: ScoreboardBudget, runsDir: string, nowMs: () => number): ScoreboardRow {
  assert(Number.isSafeInteger(budget.seedsMax) && budget.seedsMax >= 1 && budget.seedsMax <= SCOREBOARD_SEEDS_MAX, "a seed budget within its bound");
  assert(budget.wallMsPerBug > 0 && budget.shrinkAttempts >= 0, "a positive wall budget");
  const family = plantFamily(bug);
  const startedMs = nowMs();
  let seedsTried = 0;
  const failingBothWays: Array<{ seed: string; property: string; message: string }> = [];
  for (let seed = 1; seed <= budget.seedsMax; seed++) {
    if (nowMs() - startedMs >= budget.wallMsPerBug) return { bug, family, seedsTried, caught: undefined, stoppedBy: "wall", failingBothWays, wallMs: nowMs() - startedMs };
    const job: VoprJob = { seed: String(seed), mode: budget.mode, workload: undefined, plant: bug, shrinkAttempts: budget.shrinkAttempts };
    const report = runVoprJobReported(job);
    seedsTried += 1;
    const first = report.failures[0];
    if (first === undefined) continue;
    const off = runVoprJobReported({ ...job, plantOff: true, shrinkAttempts: 0 });
    if (off.failures.length > 0) {
      // Not the bug's doing: a failure of the run itself (reported, and found by `npm run vopr` with that draw).
      failingBothWays.push({ seed: report.seed, property: off.failures[0]!.property, message: off.failures[0]!.message });
      continue;
    }
    let shrunkFile: string | undefined;
    if (report.shrunk !== undefined) {
      const dir = join(runsDir, bug);
      saveShrunkRun(dir, report.seed, report.shrunk);
      shrunkFile = join(dir, `seed-${report.seed}-shrunk.json`);
    }
    const shrinkNote =
      report.shrunk === undefined
        ? budget.shrinkAttempts === 0
          ? "not shrunk (no attempts)"
          : `not shrunk: ${first.property} is judged on the whole run, not a property the shrinker can replay`
        : `${report.shrunk.attempts} runs, ${report.shrunk.stopped === "minimal" ? "nothing smaller failed" : `stopped by the ${report.shrunk.stopped} budget`}`;
    const caught: ScoreboardCatch = {
      seed: report.seed,
      property: first.property,
      message: first.message,
      atS: first.atS,
      bugOffPasses: true,
      reproduce: report.reproduce,
      original: report.shrunk?.originalSize,
      shrunk: report.shrunk?.shrunkSize,
      shrinkNote,
      shrunkFile,
    };
    return { bug, family, seedsTried, caught, stoppedBy: "caught", failingBothWays, wallMs: nowMs() - startedMs };
  }
  assert(seedsTried === budget.seedsMax, "every seed of the budget was tried");
  return { bug, family, seedsTried, caught: undefined, stoppedBy: "seeds", failingBothWays, wallMs: nowMs() - startedMs };
}

function cell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

/** The simulator's rows as a markdown table (the wall time in the last column, the only figure that varies). */
export function renderScoreboardTable(rows: readonly ScoreboardRow[], budget: ScoreboardBudget): string {
  const lines = [
    "| Bug | Family | Caught by | Seeds needed | Simulated time to detection | Original run | Shrunk run | Same seed, bug off | Reproduce | Wall s |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const row of rows) {
    const caught = row.caught;
    if (caught === undefined) {
      const why = row.stoppedBy === "wall" ? `**not caught**: the wall-time guard stopped it after ${row.seedsTried} seeds` : `**not caught** in seeds 1-${budget.seedsMax}`;
      lines.push(`| \`${row.bug}\` | ${row.family} | ${why} | - | - | - | - | - | \`npx blixard vopr --seeds ${budget.seedsMax} --mode ${budget.mode} --plant ${row.bug}\` | ${(row.wallMs / 1000).toFixed(0)} |`);
      continue;
    }
    const shrunk = caught.shrunk === undefined ? caught.shrinkNote : `${formatRunSize(caught.shrunk)} (${caught.shrinkNote})`;
    lines.push(
      `| \`${row.bug}\` | ${row.family} | ${cell(caught.property)} | ${row.seedsTried} (seed ${caught.seed}) | ${caught.atS.toFixed(3)} s | ${caught.original === undefined ? "-" : formatRunSize(caught.original)} | ${cell(shrunk)} | ${caught.bugOffPasses ? "passes" : "**fails too**"} | \`${caught.reproduce}\` | ${(row.wallMs / 1000).toFixed(0)} |`,
    );
  }
  return `${lines.join("\n")}\n`;
}

/** The properties that caught some bug in these rows, each with the bugs (sorted), for the property count. */
export function bugsByProperty(rows: readonly ScoreboardRow[]): ReadonlyMap<string, readonly string[]> {
  const map = new Map<string, string[]>();
  for (const row of rows) {
    if (row.caught === undefined) continue;
    const list = map.get(row.caught.property) ?? [];
    list.push(row.bug);
    map.set(row.caught.property, list);
  }
  for (const list of map.values()) list.sort();
  return map;
}
