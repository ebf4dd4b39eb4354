// Benchmark of the history checker (npm run bench:check): wall time per vector set, and
// for Porcupine's key-value files both per key and as a whole map, beside Porcupine's own
// figures measured on the same machine. Not a test: it prints figures.
//   node --import tsx bench/check.bench.ts [--runs N]
import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { buildHistory, checkHistory, createModel, DEFAULT_FAIL_SEMANTICS, parseEdnHistory } from "../src/core/check/index.ts";
import type { History, ModelName } from "../src/core/check/index.ts";
import { systemCheckResources } from "../src/shell/os/check-resources.ts";

const HISTORIES = path.resolve(import.meta.dirname, "../../shared/histories");
const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg >= 0 ? Number(process.argv[runsArg + 1]) : 7;
const TIMEOUT_MS = 60_000;

/** Porcupine's wall times in seconds on this machine (from issue #3). */
const PORCUPINE_S: Record<string, number> = {
  "porcupine-kv c50-ok per key": 0.27,
  "porcupine-kv c50-bad per key": 0.045,
  "porcupine-kv c10-ok whole map": 2.8,
  "porcupine-kv c10-bad whole map": 3.6,
};

interface Case {
  readonly name: string;
  readonly files: readonly string[];
  readonly model: ModelName;
  readonly partition: boolean;
  readonly expected: "ok" | "illegal";
}

function ednFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".edn"))
    .sort()
    .map((f) => path.join(dir, f));
}

const cases: Case[] = [
  { name: "knossos cas-register good (113 files)", files: ednFiles(path.join(HISTORIES, "knossos/cas-register/good")), model: "cas-register", partition: true, expected: "ok" },
  { name: "knossos cas-register bad (7 files)", files: ednFiles(path.join(HISTORIES, "knossos/cas-register/bad")), model: "cas-register", partition: true, expected: "illegal" },
  { name: "knossos multi-register", files: [path.join(HISTORIES, "knossos/multi-register/good/multi-register.edn")], model: "multi-register", partition: true, expected: "ok" },
];
for (const partition of [true, false]) {
  for (const clients of ["c01", "c10", "c50"]) {
    for (const outcome of ["ok", "bad"] as const) {
      if (!partition && clients === "c50") continue; // whole-map c50 is beyond any budget (Porcupine too)
      cases.push({
        name: `porcupine-kv ${clients}-${outcome} ${partition ? "per key" : "whole map"}`,
        files: [path.join(HISTORIES, `porcupine-kv/${clients}-${outcome}.txt`)],
        model: "kv",
        partition,
        expected: outcome === "ok" ? "ok" : "illegal",
      });
    }
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

function load(file: string): { text: string; history: History } {
  const text = readFileSync(file, "utf8");
  return { text, history: buildHistory(parseEdnHistory(text, file), { file, failSemantics: DEFAULT_FAIL_SEMANTICS.edn }) };
}

console.log(`blixard check benchmark: node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? "cpu"}, ${RUNS} runs per case (median; min in brackets)`);
console.log("first = the first (cold, not yet JIT-compiled) check; check = check only; +parse = reading and parsing the files as well\n");
const header = ["case", "verdict", "steps", "first ms", "check ms", "+parse ms", "Porcupine ms", "ratio median", "ratio min"];
const rows: string[][] = [header];
for (const c of cases) {
  const loaded = c.files.map(load);
  const checkMs: number[] = [];
  const totalMs: number[] = [];
  let verdicts = "";
  let steps = 0;
  for (let run = 0; run < RUNS; run += 1) {
    const parseStart = performance.now();
    for (const file of c.files) buildHistory(parseEdnHistory(readFileSync(file, "utf8"), file), { file });
    const parseMs = performance.now() - parseStart;
    const start = performance.now();
    const seen = new Set<string>();
    steps = 0;
    for (const { history } of loaded) {
      const result = checkHistory(history, createModel(c.model), { partition: c.partition, timeoutMs: TIMEOUT_MS, resources: systemCheckResources });
      seen.add(result.verdict);
      steps += result.steps;
    }
    const ms = performance.now() - start;
    checkMs.push(ms);
    totalMs.push(ms + parseMs);
    verdicts = [...seen].join("/");
  }
  const anchor = PORCUPINE_S[c.name];
  const correct = verdicts === c.expected ? verdicts : `${verdicts} (EXPECTED ${c.expected})`;
  rows.push([
    c.name,
    correct,
    String(steps),
    checkMs[0].toFixed(1),
    `${median(checkMs).toFixed(1)} [${Math.min(...checkMs).toFixed(1)}]`,
    `${median(totalMs).toFixed(1)} [${Math.min(...totalMs).toFixed(1)}]`,
    anchor === undefined ? "" : String(anchor * 1000),
    anchor === undefined ? "" : `${(median(totalMs) / (anchor * 1000)).toPrecision(2)}x`,
    anchor === undefined ? "" : `${(Math.min(...totalMs) / (anchor * 1000)).toPrecision(2)}x`,
  ]);
}
const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i].length)));
for (const row of rows) console.log(row.map((cell, i) => cell.padEnd(widths[i])).join("  "));
console.log("\nratio = our (check + parse) time, median or minimum of the runs, over Porcupine's time; the goal is at most 0.5x.");
console.log("On a shared machine the minimum is the figure least disturbed by other processes.");
