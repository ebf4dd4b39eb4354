// `npm run jepsen -- [--cycles N] [--nodes N] ...`: the Jepsen-style nemesis harness on real
// `blixard node` processes (docs/JEPSEN.md). Starts a cluster in network namespaces (loopback
// ports where they are not available), runs concurrent clients while the nemesis injects faults
// on a schedule, heals, waits for recovery, makes final reads, checks the history and writes the
// run directory. Exit 0 pass, 1 anomaly, 2 inconclusive or harness failure, 130/143 on a signal.
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { CleanupRegistry } from "./cleanup-registry.ts";
import { checkRun, percentile, type RunChecks } from "./checks.ts";
import { HISTORY_EVENTS_LIMIT, HistoryRecorder } from "./history-recorder.ts";
import { FAULT_KINDS, Nemesis, availableFaults, type FaultKind } from "./nemesis.ts";
import { Network, probeNetwork, removeStale, type NetworkKind } from "./network.ts";
import { NodeProcesses } from "./node-processes.ts";
import { Random } from "./random.ts";
import { waitForRecovery } from "./recovery.ts";
import { writeOutputs, type RunSummary } from "./run-outputs.ts";
import { KV_TXN_READS_MAX } from "../../src/core/replica/kv-txn.ts";
import { HARNESS_PROCESS, KeySpace, REGISTER_KEYS, registerKey, runClient, txnOp, type MicroOp, type WorkloadContext } from "./workload.ts";

export interface HarnessOptions {
  readonly nodes: number;
  readonly cycles: number;
  readonly clients: number;
  readonly holdMs: number;
  readonly quietMs: number;
  readonly seed: number;
  readonly clientTimeoutMs: number;
  readonly recoveryBoundMs: number;
  readonly tickMs: number;
  readonly out: string | undefined;
  /** Force loopback ports even where namespaces work. */
  readonly loopback: boolean;
  /** Only these fault kinds (default: every available one). */
  readonly faults: readonly FaultKind[] | undefined;
  /** Bound on the recorded history's events (HISTORY_EVENTS_LIMIT unless lowered). */
  readonly historyEventsLimit: number;
  readonly log: (line: string) => void;
}

export const DEFAULT_OPTIONS: Omit<HarnessOptions, "log"> = { nodes: 5, cycles: 24, clients: 6, holdMs: 2_000, quietMs: 1_000, seed: 1, clientTimeoutMs: 2_000, recoveryBoundMs: 30_000, tickMs: 50, out: undefined, loopback: false, faults: undefined, historyEventsLimit: HISTORY_EVENTS_LIMIT };
/** Bounds on the options: one run never grows without limit. */
const LIMITS = { nodes: [1, 9], cycles: [0, 100_000], clients: [1, 64], holdMs: [0, 600_000], quietMs: [0, 600_000], historyEventsLimit: [1_000, HISTORY_EVENTS_LIMIT] } as const;

export interface HarnessResult {
  readonly dir: string;
  readonly verdict: string;
  readonly checks: RunChecks;
  readonly summary: RunSummary;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Makes a write or read through any running node until ok, within `boundMs`; recorded. */
async function untilOk(ctx: WorkloadContext, boundMs: number, attempt: (node: number) => Promise<boolean>): Promise<boolean> {
  const start = performance.now();
  for (let i = 0; performance.now() - start < boundMs; i += 1) {
    const targets = ctx.targets();
    if (targets.length > 0 && (await attempt(targets[i % targets.length]!))) return true;
    await sleep(100);
  }
  return false;
}

async function putRegister(ctx: WorkloadContext, node: number, key: string, value: string, f: "put" | "get"): Promise<boolean> {
  const kv = ctx.nodes.client(node, ctx.timeoutMs).kv;
  ctx.history.invoke(HARNESS_PROCESS, f, key, f === "put" ? value : null);
  try {
    if (f === "put") {
      await kv.put({ key, value });
      ctx.history.complete(HARNESS_PROCESS, "ok", f, key, value);
    } else {
      const response = await kv.get({ key });
      ctx.history.complete(HARNESS_PROCESS, "ok", f, key, response.found ? response.value : "");
    }
    return true;
  } catch (error) {
    // Unknown (info) keeps the operation open to the end, which the checker allows for.
    ctx.history.complete(HARNESS_PROCESS, "info", f, key, f === "put" ? value : null);
    void error;
    return false;
  }
}

export async function runHarness(options: HarnessOptions): Promise<HarnessResult> {
  for (const [name, [min, max]] of Object.entries(LIMITS)) {
    const value = options[name as keyof typeof LIMITS];
    if (!Number.isSafeInteger(value) || value < min || value > max) throw new HarnessInputError(`--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${value} is outside ${min}..${max}`);
  }
  const started = performance.now();
  const log = options.log;
  const probe = probeNetwork();
  const kind: NetworkKind = options.loopback ? "loopback" : probe.kind;
  const dir = options.out === undefined ? mkdtempSync(join(tmpdir(), "blixard-jepsen-")) : resolve(options.out);
  mkdirSync(dir, { recursive: true });
  const cleanup = new CleanupRegistry(join(dir, "reaper.log"));
  const ids = Array.from({ length: options.nodes }, (_, i) => i + 1);
  const history = new HistoryRecorder(options.historyEventsLimit);
  const random = new Random(options.seed);
  let nemesis: Nemesis | undefined;
  try {
    if (kind === "namespaces") {
      const stale = removeStale();
      if (stale.length > 0) log(`removed ${stale.length} stale namespaces/links of dead runs: ${stale.join(" ")}`);
    }
    log(`network: ${kind}${kind === "loopback" ? ` (${options.loopback ? "--loopback" : probe.reason})` : " (ip netns, veth, bridge; partitions by nftables)"}; run directory ${dir}`);
    const network = Network.create(kind, ids, cleanup);
    // Node data and certificates go when the run ends; the outputs and node logs stay.
    cleanup.add("node data", () => {
      for (const entry of readdirSync(dir)) if (entry === "ca" || /^node-\d+$/.test(entry)) rmSync(join(dir, entry), { recursive: true, force: true });
    });
    const nodes = new NodeProcesses(dir, network, cleanup, options.tickMs);
    await nodes.bootstrap(ids);
    const members = (): number[] => nodes.ids.filter((id) => nodes.isRunning(id));
    const keys = new KeySpace();
    const ctx: WorkloadContext = { history, keys, nodes, timeoutMs: options.clientTimeoutMs, targets: members };
    const first = await waitForRecovery(nodes, ids, options.recoveryBoundMs);
    if (first.ms === undefined) throw new Error(`the cluster elected no leader within ${options.recoveryBoundMs} ms: ${JSON.stringify(first.lastStatuses)}; node 1's log:\n${nodes.logTail(1)}`);
    // The first keys start at "0" (and the cluster has shown it takes writes); keys that replace
    // retired ones start absent, which the kv model reads as its initial "".
    for (let slot = 0; slot < REGISTER_KEYS; slot += 1) {
      const key = registerKey(keys.registers.peek(slot));
      if (!(await untilOk(ctx, options.recoveryBoundMs, (node) => putRegister(ctx, node, key, "0", "put")))) throw new Error(`could not initialise ${key}`);
    }
    const { kinds: available, disabled } = availableFaults(network, options.nodes);
    const kinds = options.faults === undefined ? available : options.faults.filter((k) => available.includes(k));
    for (const line of disabled) log(`fault disabled: ${line}`);
    log(`faults: ${kinds.join(", ") || "none"}; ${options.cycles} cycles, ${options.clients} clients, ${options.nodes} nodes`);
    nemesis = new Nemesis(history, network, nodes, random, () => nodes.ids, options.recoveryBoundMs);

    let stopping = false;
    const clients = Array.from({ length: options.clients }, (_, i) => runClient(ctx, i + 1, new Random(options.seed * 1000 + i + 1), () => stopping));
    const recoveriesMs: (number | undefined)[] = [];
    let cyclesRun = 0;
    try {
      for (let cycle = 0; cycle < options.cycles && kinds.length > 0; cycle += 1) {
        if (history.full) {
          // The clients stopped when the history filled; cycles without them would test nothing.
          log(`history full (${options.historyEventsLimit} events) after cycle ${cycle}: the nemesis stops here, ${options.cycles - cycle} cycles short`);
          break;
        }
        await sleep(options.quietMs);
        const fault = kinds[cycle % kinds.length]!;
        await nemesis.start(fault);
        await sleep(options.holdMs);
        await nemesis.stop(fault);
        const recovery = await waitForRecovery(nodes, nodes.ids, options.recoveryBoundMs);
        recoveriesMs.push(recovery.ms);
        cyclesRun = cycle + 1;
        log(`cycle ${cycle + 1}/${options.cycles}: ${fault}, recovered ${recovery.ms === undefined ? `NOT within ${options.recoveryBoundMs} ms` : `in ${recovery.ms} ms`}, ${history.events.length} events`);
      }
      if (options.cycles === 0) await sleep(options.quietMs);
    } finally {
      stopping = true;
      await Promise.all(clients);
    }
    await nemesis.healAll();
    const final = await waitForRecovery(nodes, nodes.ids, options.recoveryBoundMs);
    if (final.ms === undefined) recoveriesMs.push(undefined);
    // Final reads: every register (through the history, so linearizability judges them) and
    // every list in one transaction (for the lost-write check).
    // every list in transactions of at most KV_TXN_READS_MAX reads (for the lost-write check).
    // The final reads are recorded even when the history is full: they are what the checks need.
    history.beginFinalReads();
    for (const id of keys.registers.used) await untilOk(ctx, options.recoveryBoundMs, (node) => putRegister(ctx, node, registerKey(id), "", "get"));
    let finalLists: Map<number, number[]> | undefined = new Map();
    const listIds = keys.lists.used;
    for (let from = 0; from < listIds.length && finalLists !== undefined; from += KV_TXN_READS_MAX) {
      const reads: MicroOp[] = listIds.slice(from, from + KV_TXN_READS_MAX).map((k) => ["r", k, null] as const);
      const read = await untilOk(ctx, options.recoveryBoundMs, async (node) => {
        const done = await txnOp(ctx, HARNESS_PROCESS, node, reads);
        for (const op of done ?? []) finalLists!.set(op[1], [...((op[2] as readonly number[] | null) ?? [])]);
        return done !== undefined;
      });
      if (!read) finalLists = undefined;
    }
    const historyFull = cyclesRun < options.cycles && kinds.length > 0 ? { limit: options.historyEventsLimit, cyclesRun, cyclesAsked: options.cycles } : undefined;
    const checks = checkRun({ events: history.events, finalLists, crashes: nodes.crashes, recoveriesMs, historyFull, droppedEvents: history.dropped });
    const faults: Record<string, number> = {};
    for (const [k, v] of nemesis.counts) faults[k] = v;
    const summary: RunSummary = {
      cycles: cyclesRun,
      cyclesAsked: options.cycles,
      operations: history.events.filter((e) => typeof e.process === "number" && e.type === "invoke").length,
      faults,
      disabledFaults: disabled,
      network: kind,
      recoveryP50Ms: percentile(recoveriesMs, 50),
      recoveryMaxMs: recoveriesMs.includes(undefined) ? undefined : percentile(recoveriesMs, 100),
      wallSeconds: Math.round((performance.now() - started) / 1000),
    };
    const verdict = writeOutputs(dir, history.events, checks, summary);
    return { dir, verdict, checks, summary };
  } finally {
    try {
      await nemesis?.healAll();
    } catch {
      // the registry removes the namespaces and rules anyway
    }
    const failures = await cleanup.runAll();
    for (const failure of failures) log(`cleanup: ${failure}`);
  }
}

export class HarnessInputError extends Error {}

function parseOptions(argv: readonly string[]): HarnessOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      nodes: { type: "string" }, cycles: { type: "string" }, clients: { type: "string" }, "hold-ms": { type: "string" }, "quiet-ms": { type: "string" },
      seed: { type: "string" }, "history-events-limit": { type: "string" }, out: { type: "string" }, loopback: { type: "boolean" }, faults: { type: "string" }, help: { type: "boolean" },
    },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write("usage: npm run jepsen -- [--cycles 24] [--nodes 5] [--clients 6] [--hold-ms 2000] [--quiet-ms 1000] [--seed 1] [--history-events-limit 4000000] [--out DIR] [--loopback] [--faults kill,pause,...]\n");
    process.exit(0);
  }
  const int = (name: string, text: string | undefined, fallback: number): number => {
    if (text === undefined) return fallback;
    if (!/^\d+$/.test(text)) throw new HarnessInputError(`--${name}: "${text.slice(0, 40)}" is not a non-negative integer`);
    return Number(text);
  };
  let faults: FaultKind[] | undefined;
  if (values.faults !== undefined) {
    faults = values.faults.split(",").map((k) => {
      if (!(FAULT_KINDS as readonly string[]).includes(k)) throw new HarnessInputError(`--faults: unknown fault "${k.slice(0, 40)}" (known: ${FAULT_KINDS.join(", ")})`);
      return k as FaultKind;
    });
  }
  return {
    nodes: int("nodes", values.nodes, DEFAULT_OPTIONS.nodes),
    cycles: int("cycles", values.cycles, DEFAULT_OPTIONS.cycles),
    clients: int("clients", values.clients, DEFAULT_OPTIONS.clients),
    holdMs: int("hold-ms", values["hold-ms"], DEFAULT_OPTIONS.holdMs),
    quietMs: int("quiet-ms", values["quiet-ms"], DEFAULT_OPTIONS.quietMs),
    seed: int("seed", values.seed, DEFAULT_OPTIONS.seed),
    historyEventsLimit: int("history-events-limit", values["history-events-limit"], DEFAULT_OPTIONS.historyEventsLimit),
    clientTimeoutMs: DEFAULT_OPTIONS.clientTimeoutMs,
    recoveryBoundMs: DEFAULT_OPTIONS.recoveryBoundMs,
    tickMs: DEFAULT_OPTIONS.tickMs,
    out: values.out,
    loopback: values.loopback === true,
    faults,
    log: (line) => process.stderr.write(`jepsen: ${line}\n`),
  };
}

async function main(): Promise<void> {
  let options: HarnessOptions;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`jepsen: ${(error as Error).message}\n`);
    process.exit(2);
  }
  try {
    const result = await runHarness(options);
    process.stdout.write(`${result.verdict}\n`);
    for (const problem of result.checks.problems) process.stdout.write(`  ${problem}\n`);
    process.stdout.write(`run directory: ${result.dir} (history.edn, registers.jsonl, txns.edn, results.json, report.html)\n`);
    process.exitCode = result.checks.exitCode;
  } catch (error) {
    // Bad input is named as such; anything else is the harness's own failure.
    process.stderr.write(error instanceof HarnessInputError ? `jepsen: ${error.message}\n` : `jepsen: harness failed: ${(error as Error).message}\n`);
    process.exitCode = 2;
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) void main();
