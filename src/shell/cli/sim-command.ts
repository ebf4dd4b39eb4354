// `blixard sim`: one deterministic simulation run, a short summary, and on a safety
// violation the seed, the simulated time, the property and the command that replays it
// (exit 1). Bad input is one line and exit 2 (UsageError). Wall-clock time is measured
// here, never in src/core/sim, which must stay deterministic.

import { closeSync, openSync, writeFileSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import type { Command } from "commander";
import { UsageError } from "./usage-error.ts";
import { assert } from "../../core/assert.ts";
import { renderHtmlReport, writeEdnHistory } from "../../core/check/index.ts";
import { checkLinearizability, LINEARIZABILITY_STEP_LIMIT_CLI, type LinearizabilitySummary } from "../../core/sim/linearizability-check.ts";
import { FAULT_PROFILES, FAULT_PROFILE_NAMES, faultProfile } from "../../core/sim/fault-profile.ts";
import { historyToJsonLines } from "../../core/sim/history.ts";
import type { TransactionSummary } from "../../core/sim/transaction-history.ts";
import { defaultWorkloadOptions, TRANSACTION_WORKLOAD_MIX } from "../../core/sim/workload.ts";
import { isSeed, parseSeed, seedFromBigInt, type Seed } from "../../core/sim/seed.ts";
import { DURATION_MS_MAX, NODE_COUNT_MAX, runSimulation, type OrchestratorRunSummary, type SimulationResult } from "../../core/sim/simulation.ts";

export interface SimCommandOptions {
  seed?: string;
  nodes: string;
  time: string;
  faults: string;
  trace?: string;
  history?: string;
  report?: string;
  workload?: string;
  vmHistory?: string;
  txnHistory?: string;
}

export const SIM_WORKLOADS = ["kv", "txn", "orchestrator"] as const;
export type SimWorkload = (typeof SIM_WORKLOADS)[number];

export interface ParsedSimArguments {
  readonly seed: Seed;
  readonly nodeCount: number;
  readonly durationMs: number;
  readonly profileName: string;
  /** kv: key-value clients only; orchestrator: the orchestrator (agents, controller, VM hosts, its users and checks) beside them. */
  readonly workload: SimWorkload;
}

/** "60s", "2m", "500ms", "1h" or plain milliseconds, as integer milliseconds; undefined when malformed. */
export function parseDurationMs(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (match === null) return undefined;
  const value = Number(match[1]);
  const unit = match[2] ?? "ms";
  const factor = unit === "ms" ? 1 : unit === "s" ? 1000 : unit === "m" ? 60_000 : 3_600_000;
  const ms = Math.round(value * factor);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** Validates the flags; throws UsageError with one line naming what is wrong. */
export function parseSimArguments(options: SimCommandOptions, randomSeed: () => Seed): ParsedSimArguments {
  let seed: Seed;
  if (options.seed === undefined) seed = randomSeed();
  else {
    const parsed = parseSeed(options.seed);
    if (!isSeed(parsed)) throw new UsageError(`--seed: ${parsed.error}`);
    seed = parsed;
  }
  if (!/^\d+$/.test(options.nodes.trim())) throw new UsageError(`--nodes: "${options.nodes}" is not a positive integer`);
  const nodeCount = Number(options.nodes);
  if (nodeCount < 1 || nodeCount > NODE_COUNT_MAX) throw new UsageError(`--nodes: ${options.nodes} is outside 1..${NODE_COUNT_MAX}`);
  const durationMs = parseDurationMs(options.time);
  if (durationMs === undefined) throw new UsageError(`--time: "${options.time}" is not a duration (examples: 60s, 2m, 500ms, 1500)`);
  if (durationMs <= 0) throw new UsageError(`--time: must be more than zero`);
  if (durationMs > DURATION_MS_MAX) throw new UsageError(`--time: ${options.time} exceeds the maximum of 7 days`);
  if (faultProfile(options.faults) === undefined) {
    throw new UsageError(`--faults: unknown profile "${options.faults}" (one of: ${FAULT_PROFILE_NAMES.join(", ")})`);
  }
  const workload = (options.workload ?? "kv").trim();
  if (!(SIM_WORKLOADS as readonly string[]).includes(workload)) throw new UsageError(`--workload: unknown workload "${options.workload}" (one of: ${SIM_WORKLOADS.join(", ")})`);
  return { seed, nodeCount, durationMs, profileName: options.faults, workload: workload as SimWorkload };
}

export function registerSimCommand(program: Command): void {
  program
    .command("sim")
    .description("run one deterministic simulation of a whole cluster under faults, checking Raft safety after every step")
    .option("--seed <seed>", "64-bit unsigned integer or 40-hex-digit commit hash (default: a random seed, printed)")
    .option("--nodes <n>", `cluster size, 1..${NODE_COUNT_MAX}`, "5")
    .option("--time <duration>", "simulated time: 60s, 2m, 500ms or plain milliseconds", "60s")
    .option("--faults <profile>", `fault profile: ${FAULT_PROFILE_NAMES.join(" | ")}`, "standard")
    .option(
      "--workload <name>",
      `what the clients do: ${SIM_WORKLOADS.join(" | ")} (txn: key-value clients that also run list-append transactions, checked for isolation anomalies; orchestrator: VMs on simulated hosts, with the orchestrator's properties checked)`,
      "kv",
    )
    .option("--trace <file>", "write one line per simulation event to this file")
    .option("--history <file>", "write the client history as JSON lines (the format `blixard check` reads)")
    .option("--report <file>", "write the linearizability check of the history as a self-contained HTML report")
    .option("--vm-history <file>", "with --workload orchestrator: write the users' VM history as JSON lines (blixard check FILE --model vm-registry)")
    .option("--txn-history <file>", "with --workload txn: write the transactions' history as Jepsen EDN (blixard check FILE --model list-append, or Elle itself)")
    .addHelpText(
      "after",
      "\nFault profiles:\n" + FAULT_PROFILE_NAMES.map((name) => `  ${name.padEnd(15)} ${FAULT_PROFILES[name]!.description}`).join("\n"),
    )
    .action((options: SimCommandOptions) => {
      const parsed = parseSimArguments(options, () => seedFromBigInt(randomBytes(8).readBigUInt64BE()));
      if (options.vmHistory !== undefined && parsed.workload !== "orchestrator") throw new UsageError("--vm-history: only the orchestrator workload has VM users (add --workload orchestrator)");
      if (options.txnHistory !== undefined && parsed.workload !== "txn") throw new UsageError("--txn-history: only the txn workload runs transactions (add --workload txn)");
      process.exitCode = runSimCommand(parsed, options.trace, options.history, options.report, options.vmHistory, options.txnHistory);
    });
}

/** Runs and prints; returns the exit code (0 clean, 1 violation). */
export function runSimCommand(
  parsed: ParsedSimArguments,
  traceFile: string | undefined,
  historyFile: string | undefined,
  reportFile: string | undefined = undefined,
  vmHistoryFile: string | undefined = undefined,
  txnHistoryFile: string | undefined = undefined,
): number {
  const profile = faultProfile(parsed.profileName)!;
  const trace = traceFile === undefined ? undefined : new LineFile(traceFile);
  const startedMs = performance.now();
  let result: SimulationResult;
  try {
    result = runSimulation({
      seed: parsed.seed,
      nodeCount: parsed.nodeCount,
      durationMs: parsed.durationMs,
      profile,
      trace: trace === undefined ? undefined : (line) => trace.write(line),
      linearizabilityStepLimit: LINEARIZABILITY_STEP_LIMIT_CLI,
      orchestrator: parsed.workload === "orchestrator" ? {} : undefined,
      workload: parsed.workload === "txn" ? { ...defaultWorkloadOptions, mix: TRANSACTION_WORKLOAD_MIX } : undefined,
    });
  } finally {
    trace?.close();
  }
  const wallMs = performance.now() - startedMs;
  if (historyFile !== undefined) {
    try {
      writeFileSync(historyFile, historyToJsonLines(result.history));
    } catch (error) {
      throw new UsageError(`--history: cannot write ${historyFile}: ${(error as Error).message}`);
    }
  }
  if (vmHistoryFile !== undefined && result.orchestrator !== undefined) {
    try {
      writeFileSync(vmHistoryFile, result.orchestrator.registryHistory.map((event) => JSON.stringify(event)).join("\n") + "\n");
    } catch (error) {
      throw new UsageError(`--vm-history: cannot write ${vmHistoryFile}: ${(error as Error).message}`);
    }
  }
  if (txnHistoryFile !== undefined && result.transactions !== undefined) {
    try {
      writeFileSync(txnHistoryFile, writeEdnHistory(result.transactions.history));
    } catch (error) {
      throw new UsageError(`--txn-history: cannot write ${txnHistoryFile}: ${(error as Error).message}`);
    }
  }
  process.stdout.write(formatSummary(result, wallMs));
  process.stdout.write(formatLinearizability(result.linearizability));
  if (result.transactions !== undefined) process.stdout.write(formatTransactions(result.transactions));
  if (reportFile !== undefined) {
    // The run checked its history already; the report needs the checker's full result, which the
    // same deterministic check rebuilds (same history, same step budget, same verdict).
    const check = checkLinearizability(result.history, result.linearizability.stepLimit);
    assert(check.summary.verdict === result.linearizability.verdict, "the report's check disagrees with the run's");
    if (check.detail !== undefined) {
      try {
        writeFileSync(reportFile, renderHtmlReport(check.detail.history, check.detail.model, check.detail.result, { title: `blixard sim --seed ${result.seed}: linearizability` }));
      } catch (error) {
        throw new UsageError(`--report: cannot write ${reportFile}: ${(error as Error).message}`);
      }
    }
  }
  if (result.failure !== undefined) {
    const failure = result.failure;
    const reproduce = failure.property === "Linearizability" ? `${failure.reproduce} --report report.html` : failure.reproduce;
    process.stdout.write(
      [
        `VIOLATION  ${failure.property}: ${failure.message}`,
        `  seed            ${failure.seed}`,
        `  simulated time  ${(failure.simulatedTimeUs / 1e6).toFixed(6)} s${failure.property === "Linearizability" ? " (end of run)" : ""}`,
        `  reproduce       ${reproduce}`,
        "",
      ].join("\n"),
    );
    return 1;
  }
  return 0;
}

export function formatSummary(result: SimulationResult, wallMs: number): string {
  const simulatedS = result.simulatedUs / 1e6;
  const wallS = Math.max(wallMs, 0.001) / 1000;
  const leaders = result.leaders;
  const shownLeaders = leaders.slice(-8).map((l) => `t${l.term}:n${l.leader}`).join(" ");
  const faults = Object.entries(result.faults)
    .map(([kind, count]) => `${kind} ${count}`)
    .join(", ");
  const ops = result.operations;
  const refused = result.refusedToStart;
  const quorum = Math.floor(result.nodeCount / 2) + 1;
  const refusedNote = refused.length === 0 ? "" : `; ${refused.length} of ${result.nodeCount} nodes refused to start on a corrupt store, so ${quorum} of the other ${result.nodeCount - refused.length} must be up for a quorum`;
  const liveness = result.failure !== undefined
    ? "not observed: the run stopped at the violation"
    : result.recovered
    ? `recovered: an operation succeeded ${result.recoveryMs} ms after the heal point`
    : `NOT recovered: no operation succeeded after the heal point (reported, not a failure)${refusedNote}`;
  const disk = result.disk;
  const storage = `corrupted reads ${disk.readCorruptions}, writes ${disk.writeCorruptions}, misdirected ${disk.misdirectedWrites} (on nodes ${result.corruptibleNodes.join(", ") || "none"}); refused to start: corrupt ${refused.length}${
    refused.length === 0 ? "" : ` (${refused.map((r) => `n${r.nodeId} at ${(r.simulatedTimeUs / 1e6).toFixed(3)} s`).join(", ")})`
  }; disk full: ${disk.noSpaceWrites} writes refused (ENOSPC)`;
  return [
    `blixard sim  seed ${result.seed}  ${result.nodeCount} nodes  faults ${result.profile}`,
    `  simulated   ${simulatedS.toFixed(3)} s in ${wallS.toFixed(3)} s wall: ${Math.round(simulatedS / wallS)}x acceleration`,
    `  events      ${result.events} (${Math.round(result.events / wallS)} per wall second)`,
    `  terms       max term ${result.maxTerm}, ${leaders.length} leaders elected${leaders.length > 0 ? `; last: ${shownLeaders}` : ""}`,
    `  operations  ${ops.invoked} invoked: ${ops.ok} ok, ${ops.fail} fail, ${ops.info} info; ${result.readsChecked} reads checked; commit index ${result.committedIndex}`,
    `  faults      ${faults}; messages lost ${result.network.lost + result.network.droppedByPartition}, duplicated ${result.network.duplicated}; disk writes lost ${result.disk.lostWrites}, torn ${result.disk.tornWrites}`,
    `  crashes     ${result.crashes}: ${result.crashKinds["process-kill"]} process kills (every write kept), ${result.crashKinds["host-crash"]} host crashes (unsynced writes lost or torn)`,
    `  network     ${result.network.sent} messages, ${result.network.bytesSent} bytes sent, ${result.network.bytesDelivered} delivered; over the frame limit ${result.network.droppedByFrameLimit}, queue full ${result.network.droppedByOverflow}`,
    `  failpoints  ${result.failpoints.map((point) => `${point.name} fired ${point.fired} of ${point.evaluated}`).join(", ")}`,
    ...(result.admin === undefined
      ? []
      : [
          `  operator    ${result.admin.sent} requests (${result.admin.ok} ok, ${result.admin.notApplied} not applied, ${result.admin.unknown} unknown, ${result.admin.unanswered} unanswered): ${result.admin.transfers} leader transfers, ${result.admin.removes} voters removed (${result.admin.removesOfLeader} the leader), ${result.admin.learnersAdded} learners added, ${result.admin.promotions} promoted`,
        ]),
    ...(result.orchestrator === undefined ? [] : formatOrchestrator(result.orchestrator)),
    `  storage     ${storage}`,
    `  liveness    ${liveness}`,
    `  trace hash  ${result.traceHash}`,
    "",
  ].join("\n");
}

function formatOrchestrator(run: OrchestratorRunSummary): string[] {
  const phases = Object.entries(run.vmsByPhase)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([phase, count]) => `${count} ${phase}`)
    .join(", ");
  const users = run.workload;
  return [
    `  vms         ${phases || "none"} at the end; ${run.instancesStarted} instances started, ${run.instancesStopped} stopped, ${run.instancesRunning} running; ${run.nodesDown} nodes down`,
    `  users       ${users.requests} requests: ${users.applied} applied, ${users.rejected} refused by the state machine, ${users.notApplied} not applied, ${users.unknown} unknown`,
    `  vm checks   at most once, capacity, anti-affinity, fresh tokens on every start; ${run.auditsRun} state audits, ${run.agreementChecks} agreement checks; liveness ${
      run.livenessChecked ? `checked (${run.livenessBoundMs} ms after the faults stopped)` : "not checked (the faults did not stop long enough before the end)"
    }`,
    `  vm registry${formatLinearizability(run.registry).trimEnd().replace(/^ {2}/, " ").replace(/ keys,/, " VMs,")}`,
  ];
}

function formatLinearizability(check: LinearizabilitySummary): string {
  const detail = `${check.operations} operations, ${check.keys} keys, ${check.steps} search steps`;
  const verdict =
    check.verdict === "ok" ? "yes" : check.verdict === "illegal" ? "NO" : `unknown (${check.reason ?? `step budget of ${check.stepLimit} exhausted`}; reported, not a pass)`;
  return `  linearizable ${verdict} (${detail})\n`;
}

function formatTransactions(check: TransactionSummary): string {
  const counts = Object.entries(check.counts).map(([type, count]) => `${type} x${count}`);
  const verdict = check.strongestModel === "strict-serializable" ? "yes" : `NO (${check.strongestModel} at best: ${counts.join(", ")})`;
  return `  strict serializable ${verdict} (${check.transactions} transactions)\n`;
}

/** Buffered line writer for --trace (a run can emit millions of lines). */
class LineFile {
  private readonly fd: number;
  private buffer = "";

  constructor(path: string) {
    try {
      this.fd = openSync(path, "w");
    } catch (error) {
      throw new UsageError(`--trace: cannot write ${path}: ${(error as Error).message}`);
    }
  }

  write(line: string): void {
    this.buffer += line + "\n";
    if (this.buffer.length >= 1 << 16) this.flush();
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }

  private flush(): void {
    if (this.buffer.length === 0) return;
    writeSync(this.fd, this.buffer);
    this.buffer = "";
  }
}
