// Benchmark of the Elle-style list-append checker (npm run bench:elle): wall time to check a
// history of concurrent transactions (100,000 by default), clean and with one planted stale read.
// Not a test: it prints figures with the machine's load.
//   node --import tsx bench/elle.bench.ts [--txns N] [--runs R]
import os from "node:os";
import { performance } from "node:perf_hooks";
import { buildHistory, type OpEvent } from "../src/core/check/index.ts";
import { checkListAppend } from "../src/core/check/elle/list-append.ts";
import { keyword } from "../src/core/check/value.ts";

const argument = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
};
const TXNS = argument("--txns", 100_000);
const RUNS = argument("--runs", 3);
const PROCESSES = 16;
const ACTIVE_KEYS = 64;
/** A key is retired after this many appends (Elle's list-append workload does the same), so reads stay short. */
const APPENDS_PER_KEY = 32;

/** A small deterministic PRNG (xorshift32), so every run checks the same history. */
function prng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

/**
 * Transactions take effect in invocation order, each completing 0-15 steps later, so windows
 * overlap while every real-time order is kept: a strictly serializable history.
 */
function history(txns: number): OpEvent[] {
  const random = prng(42);
  const lists = new Map<number, number[]>();
  const appends = new Map<number, number>();
  let nextKey = ACTIVE_KEYS;
  const active = Array.from({ length: ACTIVE_KEYS }, (_, i) => i);
  let nextValue = 1;
  const events: Array<{ at: number; seq: number; event: OpEvent }> = [];
  const busyUntil = new Array<number>(PROCESSES).fill(-1);
  let seq = 0;
  for (let i = 0; i < txns; i++) {
    let process = 0;
    while (process < PROCESSES && busyUntil[process]! >= i) process++;
    if (process === PROCESSES) process = busyUntil.indexOf(Math.min(...busyUntil));
    const invoke: unknown[] = [];
    const done: unknown[] = [];
    const micros = 1 + Math.floor(random() * 4);
    for (let m = 0; m < micros; m++) {
      const slot = Math.floor(random() * ACTIVE_KEYS);
      const key = active[slot]!;
      const list = lists.get(key) ?? [];
      lists.set(key, list);
      if (random() < 0.5) {
        const value = nextValue++;
        list.push(value);
        invoke.push([keyword("append"), key, value]);
        done.push([keyword("append"), key, value]);
        const count = (appends.get(key) ?? 0) + 1;
        appends.set(key, count);
        if (count >= APPENDS_PER_KEY) active[slot] = nextKey++;
      } else {
        invoke.push([keyword("r"), key, null]);
        done.push([keyword("r"), key, [...list]]);
      }
    }
    const end = i + Math.floor(random() * 16);
    busyUntil[process] = end;
    events.push({ at: i * 2, seq: seq++, event: { process, type: "invoke", f: "txn", value: invoke as never } });
    events.push({ at: end * 2 + 1, seq: seq++, event: { process, type: "ok", f: "txn", value: done as never } });
  }
  return events.sort((a, b) => a.at - b.at || a.seq - b.seq).map((e) => e.event);
}

/** The same history with one read, late in it, missing its last element. */
function withStaleRead(events: OpEvent[]): OpEvent[] {
  for (let i = Math.floor(events.length * 0.9); i < events.length; i++) {
    const event = events[i]!;
    if (event.type !== "ok") continue;
    const micros = (event.value as unknown as unknown[][]).map((m) => [...m]);
    const read = micros.find((m) => (m[0] as { name: string }).name === "r" && (m[2] as number[]).length > 1);
    if (read === undefined) continue;
    read[2] = (read[2] as number[]).slice(0, -1);
    const copy = [...events];
    copy[i] = { ...event, value: micros as never };
    return copy;
  }
  throw new Error("no read to plant a stale read in");
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const load = (): string => os.loadavg().map((l) => l.toFixed(2)).join(" ");
console.log(`elle list-append benchmark: ${TXNS} transactions, ${RUNS} runs; ${os.cpus().length} cores, load average ${load()}`);
const clean = history(TXNS);
const stale = withStaleRead(clean);
for (const [name, events] of [
  ["clean (strict serializable)", clean],
  ["one stale read planted", stale],
] as const) {
  const times: number[] = [];
  let summary = "";
  for (let run = 0; run < RUNS; run++) {
    const started = performance.now();
    const result = checkListAppend(buildHistory(events, { failSemantics: "no-effect" }));
    times.push(performance.now() - started);
    summary = `${result.strongestModel}; anomalies ${JSON.stringify(result.counts)}`;
  }
  console.log(`  ${name.padEnd(30)} median ${(median(times) / 1000).toFixed(2)} s (runs ${times.map((t) => (t / 1000).toFixed(2)).join(", ")} s): ${summary}`);
}
console.log(`load average after: ${load()}`);
