// `npm run vopr:scoreboard`: the planted-bug scoreboard (src/shell/cli/vopr-scoreboard.ts), one
// child process per bug, --jobs at a time (2 by default, the machine's cores), written to
// docs/SCOREBOARD.md in a fixed order (the bugs sorted by family, then name) whatever the children's
// timing. The rows are also kept as JSON (vopr-runs/scoreboard/rows.json) so that --render-only
// rewrites the document without rerunning. Bad flags: one line, exit 2.
//
//   node --import tsx scripts/vopr-scoreboard.ts [--bugs a,b] [--seeds N] [--shrink-attempts N]
//        [--wall-per-bug 90s] [--jobs N] [--out FILE] [--runs-dir DIR] [--render-only] [--merge]
//   --merge: with --bugs, the rows of those bugs replace theirs in rows.json (a rerun of a few rows).
//   node --import tsx scripts/vopr-scoreboard.ts --bug NAME ...   (one bug; its row as JSON on stdout)

import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import { renderScoreboardDocument } from "../src/shell/cli/scoreboard-document.ts";
import { SCOREBOARD_BUDGET, SCOREBOARD_SEEDS_MAX, scoreBug, type ScoreboardBudget, type ScoreboardRow } from "../src/shell/cli/vopr-scoreboard.ts";
import { parseDurationMs } from "../src/shell/cli/sim-command.ts";
import { plantFamily, VOPR_PLANT_FAMILIES, VOPR_PLANT_NAMES } from "../src/shell/cli/vopr-worker.ts";
import { SCOREBOARD_NO_SIMULATED_CHECK, SCOREBOARD_NOT_SIMULATED } from "../src/shell/cli/scoreboard-static.ts";

const JOBS_MAX = 16;

function usage(message: string): never {
  process.stderr.write(`vopr-scoreboard: ${message}\n`);
  process.exit(2);
}

function integer(flag: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) usage(`--${flag}: "${text}" is not an integer in ${min}..${max}`);
  return Number(text);
}

let parsed;
try {
  parsed = parseArgs({
    options: {
      bug: { type: "string" },
      bugs: { type: "string" },
      seeds: { type: "string" },
      "shrink-attempts": { type: "string" },
      "wall-per-bug": { type: "string" },
      jobs: { type: "string" },
      out: { type: "string", default: "docs/SCOREBOARD.md" },
      "runs-dir": { type: "string", default: "vopr-runs/scoreboard" },
      "render-only": { type: "boolean", default: false },
      merge: { type: "boolean", default: false },
    },
    strict: true,
  }).values;
} catch (error) {
  usage(error instanceof Error ? error.message.split("\n")[0]! : String(error));
}
const wallText = parsed["wall-per-bug"];
const wallMs = wallText === undefined ? SCOREBOARD_BUDGET.wallMsPerBug : parseDurationMs(wallText);
if (wallMs === undefined || wallMs <= 0) usage(`--wall-per-bug: "${wallText}" is not a positive duration (examples: 30s, 2m)`);
const budget: ScoreboardBudget = {
  ...SCOREBOARD_BUDGET,
  seedsMax: integer("seeds", parsed.seeds, SCOREBOARD_BUDGET.seedsMax, 1, SCOREBOARD_SEEDS_MAX),
  shrinkAttempts: integer("shrink-attempts", parsed["shrink-attempts"], SCOREBOARD_BUDGET.shrinkAttempts, 0, 1_000),
  wallMsPerBug: wallMs,
};
const runsDir = parsed["runs-dir"];
const unknown = (name: string): void => {
  if (!VOPR_PLANT_NAMES.includes(name)) usage(`unknown planted bug "${name}" (one of: ${VOPR_PLANT_NAMES.join(", ")})`);
};

if (parsed.bug !== undefined) {
  // A child: one bug, its row as one JSON line.
  unknown(parsed.bug);
  const row = scoreBug(parsed.bug, budget, runsDir, () => performance.now());
  process.stdout.write(`${JSON.stringify(row)}\n`);
  process.exit(0);
}

const familyOrder = Object.keys(VOPR_PLANT_FAMILIES);
const simulated = VOPR_PLANT_NAMES.filter((name) => !Object.hasOwn(SCOREBOARD_NOT_SIMULATED, name) && !Object.hasOwn(SCOREBOARD_NO_SIMULATED_CHECK, name));
const bugs = parsed.bugs === undefined ? simulated : parsed.bugs.split(",").map((name) => name.trim());
for (const name of bugs) unknown(name);
bugs.sort((a, b) => familyOrder.indexOf(plantFamily(a)) - familyOrder.indexOf(plantFamily(b)) || (a < b ? -1 : a > b ? 1 : 0));
const jobs = integer("jobs", parsed.jobs, 2, 1, JOBS_MAX);
const rowsFile = join(runsDir, "rows.json");

function runChild(bug: string): Promise<ScoreboardRow> {
  const args = ["--import", "tsx", import.meta.filename, "--bug", bug, "--seeds", String(budget.seedsMax), "--shrink-attempts", String(budget.shrinkAttempts), "--wall-per-bug", `${budget.wallMsPerBug}ms`, "--runs-dir", runsDir];
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.once("error", fail);
    child.once("exit", (code) => {
      if (code !== 0) return fail(new Error(`the scoreboard's child for ${bug} exited with ${code}`));
      done(JSON.parse(stdout.trim().split("\n").at(-1)!) as ScoreboardRow);
    });
  });
}

let rows: ScoreboardRow[];
if (parsed["render-only"]) {
  rows = JSON.parse(readFileSync(rowsFile, "utf8")) as ScoreboardRow[];
} else {
  const results = new Map<string, ScoreboardRow>();
  let next = 0;
  const startedMs = performance.now();
  const lane = async (): Promise<void> => {
    while (next < bugs.length) {
      const bug = bugs[next++]!;
      const row = await runChild(bug);
      results.set(bug, row);
      const outcome = row.caught === undefined ? `NOT CAUGHT (${row.seedsTried} seeds, stopped by ${row.stoppedBy})` : `${row.caught.property} at seed ${row.caught.seed} (${row.seedsTried} seeds)${row.caught.bugOffPasses ? "" : ", FAILS WITH THE BUG OFF TOO"}`;
      process.stdout.write(`${bug}  ${outcome}  ${(row.wallMs / 1000).toFixed(1)} s wall  [${results.size}/${bugs.length}, ${((performance.now() - startedMs) / 1000).toFixed(0)} s]\n`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(jobs, bugs.length) }, () => lane()));
  rows = bugs.map((bug) => results.get(bug)!);
  if (parsed.merge) {
    const kept = (JSON.parse(readFileSync(rowsFile, "utf8")) as ScoreboardRow[]).map((row) => results.get(row.bug) ?? row);
    rows = [...kept, ...rows.filter((row) => !kept.some((old) => old.bug === row.bug))];
  }
  mkdirSync(runsDir, { recursive: true });
  writeFileSync(rowsFile, `${JSON.stringify(rows, null, 1)}\n`);
}
mkdirSync(dirname(parsed.out), { recursive: true });
writeFileSync(parsed.out, renderScoreboardDocument(rows, budget));
const missed = rows.filter((row) => row.caught === undefined || !row.caught.bugOffPasses);
process.stdout.write(`scoreboard  ${rows.length - missed.length} of ${rows.length} bugs caught (bug off passing), written to ${parsed.out}\n`);
process.exitCode = missed.length === 0 ? 0 : 1;
