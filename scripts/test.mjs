#!/usr/bin/env node
// Runs the fast suite: every test/**/*.test.ts through node:test with tsx.
// Node 20's --test does not expand globs, so the files are listed here; a run that
// executes zero tests fails, because a suite that checks nothing must not look green.
// It first brings dist/ up to date (npm run build, under a second; nothing when current), so the
// CLIs and nodes the tests spawn through bin/blixard.js run compiled, not through tsx at every spawn.
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { distIsCurrent } from "./dist-stamp.mjs";

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...collect(path));
    else if (name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = collect("test").filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}

if (process.env.BLIXARD_RUN_FROM !== "src" && !distIsCurrent(process.cwd())) {
  const build = spawnSync(process.execPath, ["scripts/build.mjs"], { stdio: "inherit" });
  // A failed build leaves the old dist/, stale: the spawned CLIs run src/ through tsx, slower but current.
  if (build.status !== 0) console.error("test: npm run build failed; the tests' CLIs run src/ through tsx");
}

const child = spawn(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", ...files], {
  stdio: ["ignore", "pipe", "inherit"],
});
let tail = "";
child.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  tail = (tail + chunk.toString()).slice(-4096);
});
child.on("close", (code) => {
  const tests = /tests (\d+)/.exec(tail);
  if (code === 0 && (!tests || Number(tests[1]) === 0)) {
    console.error("the test run executed zero tests");
    process.exit(1);
  }
  process.exit(code ?? 1);
});
