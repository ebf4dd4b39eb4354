// The checker stage of a run: from the recorded history, the final reads, the nodes' crashes and
// the recoveries after each heal, the checks and the one-line verdict.
// - registers: linearizability per key (the kv model, JSON-lines semantics: a :fail cas failed
//   its compare; every key was put to "0" first, and the final reads are in the history, so a
//   lost acknowledged put shows as a read no linearization explains);
// - transactions: the Elle-style list-append checker, which must find strict serializability;
// - lost writes: every acknowledged append is in the final read of its key;
// - nodes: none crashed or failed to restart (with its log tail); every heal recovered in time.
import type { HistoryEvent } from "../../src/core/check/formats/jsonl.ts";
import { checkKvEvents } from "../../src/core/check/check-text.ts";
import type { CheckResult } from "../../src/core/check/checker.ts";
import { buildHistory, type OpEvent } from "../../src/core/check/history.ts";
import { checkListAppend, type ListAppendResult } from "../../src/core/check/elle/list-append.ts";
import { isKeyword, type Value } from "../../src/core/check/value.ts";
import { systemCheckResources } from "../../src/shell/os/check-resources.ts";
import type { NodeCrash } from "./node-processes.ts";

export const REGISTER_FUNCTIONS = ["get", "put", "cas"];
/** Time budget of the linearizability check; unknown after it (never a guess). */
export const CHECK_TIMEOUT_MS = 60_000;
/** Anomaly lines kept in the verdict's explanation (counts stay exact). */
const LINES_KEPT = 20;

export interface RunRecord {
  readonly events: readonly OpEvent[];
  /** Final read of every list key (key -> elements), or undefined when it could not be made. */
  readonly finalLists: ReadonlyMap<number, readonly number[]> | undefined;
  readonly crashes: readonly NodeCrash[];
  /** Milliseconds to recover after each heal; undefined where the bound passed. */
  readonly recoveriesMs: readonly (number | undefined)[];
  /** Set when the history's bound ended the run before the cycles asked for. */
  readonly historyFull?: { readonly limit: number; readonly cyclesRun: number; readonly cyclesAsked: number } | undefined;
  /** Final-read events the history could not record (past even its reserve). */
  readonly droppedEvents?: number;
}

export interface RunChecks {
  readonly registers: CheckResult;
  readonly transactions: ListAppendResult;
  readonly lostWrites: readonly string[];
  readonly crashes: readonly NodeCrash[];
  readonly unrecoveredHeals: number;
  readonly finalReadMissing: boolean;
  /** Every problem, one line each (empty: the run passed). */
  readonly problems: readonly string[];
  /** 0 pass, 1 anomaly, 2 inconclusive (a check's budget ran out, or the run was cut short). */
  readonly exitCode: 0 | 1 | 2;
}

export function registerEvents(events: readonly OpEvent[]): HistoryEvent[] {
  return events
    .filter((e) => typeof e.process === "number" && REGISTER_FUNCTIONS.includes(e.f))
    .map((e) => ({ process: e.process as number, type: e.type, f: e.f as HistoryEvent["f"], key: e.key!, value: e.value as HistoryEvent["value"], time: e.time ?? 0 }));
}

/** Transactions and the nemesis' events (which every checker skips), in history order. */
export function transactionEvents(events: readonly OpEvent[]): OpEvent[] {
  return events.filter((e) => typeof e.process !== "number" || e.f === "txn");
}

/** Acknowledged appends: [key, value] of every append in an ok transaction. */
export function acknowledgedAppends(events: readonly OpEvent[]): Array<readonly [number, number]> {
  const out: Array<readonly [number, number]> = [];
  for (const e of events) {
    if (e.f !== "txn" || e.type !== "ok" || !Array.isArray(e.value)) continue;
    for (const micro of e.value as readonly Value[]) {
      const [f, k, v] = micro as readonly Value[];
      if (isKeyword(f, "append")) out.push([k as number, v as number]);
    }
  }
  return out;
}

export function checkRun(record: RunRecord): RunChecks {
  const problems: string[] = [];
  // Problems that make the run inconclusive rather than failed: nothing wrong was seen, but less
  // was checked than asked.
  const inconclusive: string[] = [];
  if (record.historyFull !== undefined) {
    const { limit, cyclesRun, cyclesAsked } = record.historyFull;
    inconclusive.push(`history: its bound of ${limit} events was reached after ${cyclesRun} of ${cyclesAsked} cycles; the run ended there`);
  }
  if ((record.droppedEvents ?? 0) > 0) inconclusive.push(`history: ${record.droppedEvents} final-read events past the bound were not recorded`);
  const registers = checkKvEvents(registerEvents(record.events), { file: "registers.jsonl", timeoutMs: CHECK_TIMEOUT_MS, resources: systemCheckResources });
  if (registers.verdict === "illegal") problems.push(`registers: NOT linearizable (key ${registers.illegalPartition ?? "?"})`);
  if (registers.verdict === "unknown") inconclusive.push(`registers: linearizability unknown (${registers.reason ?? "budget"})`);
  const transactions = checkListAppend(buildHistory(transactionEvents(record.events), { file: "txns.edn", failSemantics: "no-effect" }));
  if (transactions.strongestModel !== "strict-serializable") {
    const counts = Object.entries(transactions.counts).map(([type, count]) => `${type} x${count}`).join(", ");
    problems.push(`transactions: ${transactions.strongestModel} only, not strict-serializable (${counts})`);
    for (const anomaly of transactions.anomalies.slice(0, LINES_KEPT)) problems.push(`  ${anomaly.type}: ${anomaly.explanation.join("; ")}`);
  }
  const lostWrites: string[] = [];
  if (record.finalLists === undefined) problems.push("final reads: could not read every list key after the heal");
  else {
    for (const [k, v] of acknowledgedAppends(record.events)) if (!(record.finalLists.get(k) ?? []).includes(v)) lostWrites.push(`append ${v} to key ${k} acknowledged, missing from the final read`);
    if (lostWrites.length > 0) problems.push(`lost writes: ${lostWrites.length} (${lostWrites.slice(0, 3).join("; ")})`);
  }
  for (const crash of record.crashes) problems.push(`node ${crash.id} crashed or failed to restart: ${crash.exit}; log tail:\n${crash.logTail.split("\n").map((l) => `    ${l}`).join("\n")}`);
  const unrecoveredHeals = record.recoveriesMs.filter((ms) => ms === undefined).length;
  if (unrecoveredHeals > 0) problems.push(`recovery: ${unrecoveredHeals} heal(s) not followed by a leader and caught-up nodes within the bound`);
  const exitCode = problems.length > 0 ? 1 : inconclusive.length > 0 ? 2 : 0;
  return { registers, transactions, lostWrites, crashes: record.crashes, unrecoveredHeals, finalReadMissing: record.finalLists === undefined, problems: [...problems, ...inconclusive], exitCode };
}

/** Percentile (nearest rank) of known values; undefined when there are none. */
export function percentile(values: readonly (number | undefined)[], p: number): number | undefined {
  const known = values.filter((v): v is number => v !== undefined).sort((a, b) => a - b);
  if (known.length === 0) return undefined;
  return known[Math.min(known.length - 1, Math.max(0, Math.ceil((p / 100) * known.length) - 1))];
}
