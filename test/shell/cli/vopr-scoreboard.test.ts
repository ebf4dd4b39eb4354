// The scoreboard's machinery on a cheap budget (the full scoreboard is `npm run vopr:scoreboard`, not
// in the fast suite): a bug caught at an early seed gives a row with its property, a passing bug-off
// run, a shrunk run no larger than the original whose file replays the failure, and the same row on a
// rerun; a bug the budget cannot reach is a row that says "not caught"; the document holds both and
// the hand-written rows; the script refuses an unknown bug with one line and exit 2.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { decodeRunFile } from "../../../src/core/sim/run-file.ts";
import { runSimulation } from "../../../src/core/sim/simulation.ts";
import { smallerRun } from "../../../src/core/sim/shrink.ts";
import { renderScoreboardDocument } from "../../../src/shell/cli/scoreboard-document.ts";
import { scoreBug, type ScoreboardBudget } from "../../../src/shell/cli/vopr-scoreboard.ts";

const BUDGET: ScoreboardBudget = { seedsMax: 3, wallMsPerBug: 60_000, shrinkAttempts: 4, mode: "safety" };
const CHEAP_BUG = "vote-before-persist";

function runScript(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ["--import", "tsx", resolve(import.meta.dirname, "../../../scripts/vopr-scoreboard.ts"), ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("error", fail);
    child.once("exit", (code) => {
      clearTimeout(timer);
      done({ code: code ?? -1, stdout, stderr });
    });
  });
}

describe("the planted-bug scoreboard", { timeout: 120_000 }, () => {
  test("a caught bug: its property, the bug off passing, a shrunk run that replays, the same row on a rerun", (context) => {
    const dir = mkdtempSync(join(tmpdir(), "blixard-scoreboard-"));
    context.after(() => rmSync(dir, { recursive: true, force: true }));
    const row = scoreBug(CHEAP_BUG, BUDGET, dir, () => performance.now());
    assert.equal(row.stoppedBy, "caught", JSON.stringify(row));
    const caught = row.caught!;
    assert.equal(caught.property, "Commit Is Replicated");
    assert.equal(caught.bugOffPasses, true);
    assert.equal(row.seedsTried, Number(caught.seed), "seeds 1, 2, ... in order, stopping at the first catch");
    assert.match(caught.reproduce, new RegExp(`--seed ${caught.seed} .*--plant ${CHEAP_BUG}`));
    assert.ok(caught.original !== undefined && caught.shrunk !== undefined, caught.shrinkNote);
    assert.ok(smallerRun(caught.shrunk, caught.original) || JSON.stringify(caught.shrunk) === JSON.stringify(caught.original), "the shrunk run is no larger");
    assert.ok(caught.shrunkFile !== undefined && existsSync(caught.shrunkFile));
    const file = decodeRunFile(readFileSync(caught.shrunkFile, "utf8"));
    assert.ok(!("error" in file));
    assert.equal(runSimulation(file.options).failure?.property, "Commit Is Replicated", "the shrunk run's file replays the failure");
    const again = scoreBug(CHEAP_BUG, BUDGET, dir, () => performance.now());
    assert.deepEqual({ ...again, wallMs: 0 }, { ...row, wallMs: 0 }, "the same row on a rerun, wall time apart");

    const missed = scoreBug("spread-within-candidates", { ...BUDGET, seedsMax: 1 }, dir, () => performance.now());
    assert.equal(missed.caught, undefined);
    assert.equal(missed.stoppedBy, "seeds");
    const document = renderScoreboardDocument([row, missed], BUDGET);
    assert.match(document, new RegExp(`^\\| \`${CHEAP_BUG}\` \\| raft \\| Commit Is Replicated \\| ${row.seedsTried} \\(seed ${caught.seed}\\) \\|`, "m"));
    assert.match(document, /^\| `spread-within-candidates` \| scheduler \| \*\*not caught\*\* in seeds 1-3 \|/m);
    assert.match(document, /^\*\*1 of 2\*\* simulated bugs caught/m);
    assert.match(document, /^\| `authenticate-without-authorize` \| API gatekeeper \|/m, "the bugs outside the simulator are listed");
    assert.match(document, /^\| Commit Is Replicated \| .* \| `vote-before-persist` \|$/m, "a property with the bug that made it fire");
    assert.match(document, /^\| Lease Held \| .* \| \*\*none in this scoreboard\*\* \|$/m, "a property no bug of these rows made fire says so");
  });

  test("an unknown bug name is one line and exit 2", async () => {
    const run = await runScript(["--bugs", "no-such-bug"]);
    assert.equal(run.code, 2, run.stdout + run.stderr);
    assert.match(run.stderr, /^vopr-scoreboard: unknown planted bug "no-such-bug" \(one of: .*\)\n$/);
    const flag = await runScript(["--seeds", "0"]);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /^vopr-scoreboard: --seeds: "0" is not an integer in 1\.\.10000\n$/);
  });
});
