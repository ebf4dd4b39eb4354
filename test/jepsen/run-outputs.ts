// What a run leaves in its directory: the history as EDN (everything, nemesis included, Jepsen's
// shape) and JSON lines (the register operations, Blixard's checker format), the transactions as
// EDN (for Elle here or elsewhere), the checkers' results as JSON, a self-contained HTML report
// (operations over time, nemesis intervals drawn over them) and the one-line verdict.
import { closeSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { writeJsonl } from "../../src/core/check/formats/jsonl.ts";
import { writeEdnHistory } from "../../src/core/check/formats/jepsen-edn.ts";
import type { OpEvent } from "../../src/core/check/history.ts";
import { showValue } from "../../src/core/check/value.ts";
import { registerEvents, transactionEvents, type RunChecks } from "./checks.ts";
import { NEMESIS } from "./history-recorder.ts";

export const OUTPUT_FILES = { history: "history.edn", registers: "registers.jsonl", txns: "txns.edn", results: "results.json", report: "report.html", verdict: "verdict.txt" } as const;
/** Operations drawn in the report; beyond it the report says how many it left out. */
const REPORT_OPERATIONS_MAX = 20_000;

export interface RunSummary {
  /** Cycles run (fewer than asked when the history's bound ended the run). */
  readonly cycles: number;
  readonly cyclesAsked: number;
  readonly operations: number;
  readonly faults: Readonly<Record<string, number>>;
  readonly disabledFaults: readonly string[];
  readonly network: string;
  readonly recoveryP50Ms: number | undefined;
  readonly recoveryMaxMs: number | undefined;
  readonly wallSeconds: number;
}

export function verdictLine(checks: RunChecks, summary: RunSummary): string {
  const faults = Object.entries(summary.faults).map(([k, v]) => `${k}=${v}`).join(",");
  const status = checks.exitCode === 0 ? "PASS" : checks.exitCode === 2 ? "UNKNOWN" : "FAIL";
  const anomalies = Object.values(checks.transactions.counts).reduce((a, b) => a + (b ?? 0), 0) + (checks.registers.verdict === "illegal" ? 1 : 0);
  return `jepsen: ${status} cycles=${summary.cycles}${summary.cycles < summary.cyclesAsked ? `/${summary.cyclesAsked}` : ""} ops=${summary.operations} faults=${faults || "none"} registers=${checks.registers.verdict} txns=${checks.transactions.strongestModel} anomalies=${anomalies} lost-writes=${checks.lostWrites.length} crashes=${checks.crashes.length} recovery-p50=${summary.recoveryP50Ms ?? "-"}ms recovery-max=${summary.recoveryMaxMs ?? "-"}ms network=${summary.network}`;
}

/** Events written per chunk: a long run's history as one string would pass V8's string length limit. */
const WRITE_CHUNK_EVENTS = 20_000;

function writeChunked<E>(path: string, events: readonly E[], write: (chunk: readonly E[]) => string): void {
  const fd = openSync(path, "w");
  try {
    for (let from = 0; from < events.length; from += WRITE_CHUNK_EVENTS) writeSync(fd, write(events.slice(from, from + WRITE_CHUNK_EVENTS)));
  } finally {
    closeSync(fd);
  }
}

export function writeOutputs(dir: string, events: readonly OpEvent[], checks: RunChecks, summary: RunSummary): string {
  const line = verdictLine(checks, summary);
  writeChunked(join(dir, OUTPUT_FILES.history), events, writeEdnHistory);
  writeChunked(join(dir, OUTPUT_FILES.registers), registerEvents(events), writeJsonl);
  writeChunked(join(dir, OUTPUT_FILES.txns), transactionEvents(events), writeEdnHistory);
  const results = {
    verdict: line,
    exitCode: checks.exitCode,
    problems: checks.problems,
    summary,
    registers: { verdict: checks.registers.verdict, illegalPartition: checks.registers.illegalPartition, reason: checks.registers.reason, operations: checks.registers.operationCount, dropped: checks.registers.droppedCount, elapsedMs: checks.registers.elapsedMs },
    transactions: { count: checks.transactions.transactions, strongestModel: checks.transactions.strongestModel, counts: checks.transactions.counts, anomalies: checks.transactions.anomalies },
    lostWrites: checks.lostWrites,
    crashes: checks.crashes,
  };
  writeFileSync(join(dir, OUTPUT_FILES.results), JSON.stringify(results, null, 2) + "\n");
  writeFileSync(join(dir, OUTPUT_FILES.report), renderRunReport(events, checks, line));
  writeFileSync(join(dir, OUTPUT_FILES.verdict), line + "\n");
  return line;
}

const escape = (text: string): string => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

interface Interval {
  readonly label: string;
  readonly startUs: number;
  readonly endUs: number;
}

/** Nemesis intervals: from a :start-KIND's first event to the next :stop-KIND's last. */
export function nemesisIntervals(events: readonly OpEvent[]): Interval[] {
  const open = new Map<string, { label: string; startUs: number }>();
  const out: Interval[] = [];
  let lastUs = 0;
  for (const e of events) {
    lastUs = Math.max(lastUs, e.time ?? 0);
    if (e.process !== NEMESIS) continue;
    const [phase, ...rest] = e.f.split("-");
    const kind = rest.join("-");
    if (phase === "start") {
      const label = typeof e.value === "string" ? e.value : `${kind} ${showValue(e.value)}`;
      const current = open.get(kind);
      open.set(kind, { label: current === undefined ? label : `${kind}: ${label}`, startUs: current?.startUs ?? e.time ?? 0 });
    } else if (phase === "stop" && e.value !== null) {
      const started = open.get(kind);
      if (started !== undefined) out.push({ label: started.label, startUs: started.startUs, endUs: e.time ?? 0 });
      open.delete(kind);
    }
  }
  for (const started of open.values()) out.push({ label: started.label, startUs: started.startUs, endUs: lastUs });
  return out;
}

function renderRunReport(events: readonly OpEvent[], checks: RunChecks, verdict: string): string {
  const clientOps: Array<{ process: number; f: string; startUs: number; endUs: number; type: string; text: string }> = [];
  const openOps = new Map<number, OpEvent>();
  let endUs = 1;
  for (const e of events) {
    endUs = Math.max(endUs, e.time ?? 0);
    if (typeof e.process !== "number") continue;
    if (e.type === "invoke") openOps.set(e.process, e);
    else {
      const start = openOps.get(e.process);
      openOps.delete(e.process);
      if (start !== undefined) clientOps.push({ process: e.process, f: e.f, startUs: start.time ?? 0, endUs: e.time ?? 0, type: e.type, text: `${e.f} ${e.key ?? ""} ${showValue(e.value)}`.slice(0, 200) });
    }
  }
  const processes = [...new Set(clientOps.map((o) => o.process))].sort((a, b) => a - b);
  const lane = new Map(processes.map((p, i) => [p, i]));
  const width = 1600;
  const laneHeight = 14;
  const top = 30;
  const height = top + laneHeight * Math.max(1, processes.length) + 20;
  const x = (us: number): number => Math.round((us / endUs) * (width - 20)) + 10;
  const colour: Record<string, string> = { ok: "#2a9d4b", fail: "#d1495b", info: "#f0a202" };
  const shown = clientOps.slice(0, REPORT_OPERATIONS_MAX);
  const bands = nemesisIntervals(events)
    .map((iv) => `<rect x="${x(iv.startUs)}" y="${top - 10}" width="${Math.max(2, x(iv.endUs) - x(iv.startUs))}" height="${height - top}" fill="#5560ff" opacity="0.15"><title>${escape(iv.label)}</title></rect><text x="${x(iv.startUs) + 2}" y="${top - 14}" font-size="9">${escape(iv.label.slice(0, 24))}</text>`)
    .join("\n");
  const ops = shown
    .map((o) => `<rect x="${x(o.startUs)}" y="${top + lane.get(o.process)! * laneHeight}" width="${Math.max(1, x(o.endUs) - x(o.startUs))}" height="${laneHeight - 3}" fill="${colour[o.type] ?? "#888"}"><title>${escape(`process ${o.process}: ${o.type} ${o.text} (${(o.startUs / 1e6).toFixed(3)}s to ${(o.endUs / 1e6).toFixed(3)}s)`)}</title></rect>`)
    .join("\n");
  const labels = processes.map((p) => `<text x="0" y="${top + lane.get(p)! * laneHeight + 10}" font-size="9">${p}</text>`).join("");
  const problems = checks.problems.length === 0 ? "<p>No anomaly.</p>" : `<pre>${escape(checks.problems.join("\n"))}</pre>`;
  const omitted = clientOps.length > shown.length ? `<p>${clientOps.length - shown.length} later operations not drawn.</p>` : "";
  return `<!doctype html><html><head><meta charset="utf-8"><title>Blixard Jepsen run</title><style>body{font-family:sans-serif;margin:1em}pre{background:#f4f4f4;padding:.5em;white-space:pre-wrap}</style></head><body>
<h1>Blixard Jepsen run</h1><p><code>${escape(verdict)}</code></p>${problems}
<p>One lane per client process; each bar an operation from invocation to completion (green ok, red fail = certainly not applied, orange info = unknown). Blue bands: nemesis faults (hover for what they did).</p>${omitted}
<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${bands}\n${labels}\n${ops}</svg>
</body></html>
`;
}
