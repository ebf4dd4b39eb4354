#!/usr/bin/env node
// Runs the fast suite: every test/**/*.test.ts through node:test with tsx.
// Node 20's --test does not expand globs, so the files are listed here; a run that
// executes zero tests fails, because a suite that checks nothing must not look green.
import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";

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
