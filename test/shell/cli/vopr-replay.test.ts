// `blixard vopr` shrinking a failure and `--replay FILE` as a user runs them (child processes): a
// planted bug's failing seed is shrunk, its run file written and its reproduction printed with both
// sizes; the printed command reproduces the property; --timeline writes one self-contained HTML file;
// bad input is one line and exit 2.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expectUsageError, runCli } from "../../support/run-cli.ts";

describe("blixard vopr shrinking and --replay", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-vopr-replay-"));
  test.after(() => rmSync(dir, { recursive: true, force: true }));

  test("a failing seed shrinks to a run file whose printed replay reproduces it, with a timeline", async () => {
    const run = await runCli(["vopr", "--seed", "7", "--plant", "cas-without-compare", "--mode", "safety", "--shrink-attempts", "40", "--runs-dir", dir]);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const shrunk = /^ {2}shrunk {5}Linearizability still fails with (\d+) nodes, (\d+) clients, (\d+) ops, (\d+) faults, ([\d.]+) s \(was (\d+) nodes, (\d+) clients, (\d+) ops, (\d+) faults, ([\d.]+) s; \d+ runs, .*\)\n {2}reproduce {2}npx blixard (vopr --replay \S+)$/m.exec(run.stdout);
    assert.ok(shrunk !== null, run.stdout);
    const now = shrunk.slice(1, 6).map(Number);
    const was = shrunk.slice(6, 11).map(Number);
    assert.ok(now.every((value, i) => value <= was[i]!) && now.some((value, i) => value < was[i]!), `${now} is not smaller than ${was}`);
    const timeline = join(dir, "timeline.html");
    const replay = await runCli([...shrunk[11]!.split(" "), "--timeline", timeline]);
    assert.equal(replay.code, 1, replay.stdout + replay.stderr);
    assert.match(replay.stdout, /^FAILURE {2}Linearizability: .*\(reproduces: the file's property Linearizability\)$/m);
    const html = readFileSync(timeline, "utf8");
    assert.match(html, /^<!doctype html>/);
    assert.equal((html.match(/<svg /g) ?? []).length, 1);
    assert.equal(now[0], new Set([...html.matchAll(/<title>node (\d+): /g)].map((match) => match[1])).size, "a role row per node");
    assert.match(html, /class="op"><title>process \d+: (get|put|cas) /, "client operations");
    assert.match(html, /<g class="violation">.*Linearizability violated at /, "the point of violation");
    assert.doesNotMatch(html, /(src|href)=|<script|@import|url\(/, "self-contained: nothing fetched");
  });

  test("bad input is one line and exit 2", async () => {
    const notRun = join(dir, "not-a-run.json");
    writeFileSync(notRun, "{}");
    for (const [args, pattern] of [
      [["--replay", join(dir, "missing.json")], /^blixard: --replay: cannot read .*: ENOENT$/],
      [["--replay", notRun], /^blixard: --replay: .* is not a run file: format is undefined/],
      [["--replay", notRun, "--seed", "1"], /^blixard: --replay: the run file holds the whole run; drop --seed$/],
      [["--timeline", "t.html"], /^blixard: --timeline: only with --replay FILE$/],
      [["--shrink-attempts", "x"], /^blixard: --shrink-attempts: "x" is not an integer/],
    ] as const) {
      expectUsageError(await runCli(["vopr", ...args]), pattern, args.join(" "));
    }
  });
});
