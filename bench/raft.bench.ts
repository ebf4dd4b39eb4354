// Three-node write throughput on loopback, Blixard beside etcd, with the same load
// generator: N concurrent clients, each with one request in flight at a time, sending
// puts as JSON over HTTP/1.1 keep-alive connections to the leader (Blixard: the Connect
// protocol, POST /blixard.v1.KvService/Put; etcd: its v3 JSON gateway, POST /v3/kv/put).
// Both fsync before acknowledging (Blixard: one fdatasync per Ready, its default --sync-points riding on every node; etcd: its WAL default).
// Both clusters run side by side and the points interleave (at each concurrency level:
// Blixard, etcd, Blixard, etcd, ... for --rounds pairs), so drift in the machine's load
// favours neither. A benchmark, not a test: it prints figures and asserts nothing about speed.
//
//   npm run bench:raft [-- --clients 1,16,64 --seconds 5 --warmup-seconds 3 --rounds 2 --value-bytes 100]
//
// Each point first runs the same load, unmeasured, for --warmup-seconds (the same for both
// systems): a freshly started Node.js process needs a few seconds and some thousands of
// requests before V8 has optimised the hot path (measured: 358 writes/s in the first second,
// about 1,100 from the fifth on), and a point that included those seconds would measure
// the compiler, not the system. Go needs no such time; the warm-up costs etcd nothing.
//
// etcd comes from the Debian package etcd-server; when `etcd` is not on PATH that half
// is skipped with the command that installs it. This script installs nothing.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { ADMIN_HEADERS } from "../test/support/admin-token.ts";
import { mkdtempSync, rmSync, openSync, closeSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { ProcessCluster, freePort, sleep, waitFor } from "../test/e2e/process-cluster.ts";

interface Options {
  readonly clients: readonly number[];
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly rounds: number;
  readonly valueBytes: number;
}

function parseOptions(argv: readonly string[]): Options {
  const get = (flag: string): string | undefined => {
    const at = argv.indexOf(flag);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const clients = (get("--clients") ?? "1,16,64").split(",").map(Number);
  const seconds = Number(get("--seconds") ?? "5");
  const warmupSeconds = Number(get("--warmup-seconds") ?? "3");
  const rounds = Number(get("--rounds") ?? "2");
  const valueBytes = Number(get("--value-bytes") ?? "100");
  if (clients.some((n) => !Number.isInteger(n) || n < 1) || !(seconds > 0) || !(warmupSeconds >= 0 && warmupSeconds <= 60) || !(Number.isInteger(rounds) && rounds >= 1 && rounds <= 20) || !(valueBytes >= 0)) {
    process.stderr.write("usage: raft.bench.ts [--clients 1,16,64] [--seconds 5] [--warmup-seconds 3 (0..60)] [--rounds 2 (1..20)] [--value-bytes 100]\n");
    process.exit(2);
  }
  return { clients, seconds, warmupSeconds, rounds, valueBytes };
}

interface Result {
  readonly clients: number;
  readonly writes: number;
  readonly errors: number;
  /** The first failed request's status and body (or transport error), so a broken setup is named, not averaged. */
  readonly firstError?: string | undefined;
  readonly elapsedSeconds: number;
  readonly writesPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Sorted. */
  readonly latenciesMs: readonly number[];
}

/** Several points of one system at one level as one: writes over total time, percentiles over all latencies. */
function combine(points: readonly Result[]): Result {
  const latenciesMs = points.flatMap((p) => p.latenciesMs).sort((a, b) => a - b);
  const writes = points.reduce((sum, p) => sum + p.writes, 0);
  const elapsedSeconds = points.reduce((sum, p) => sum + p.elapsedSeconds, 0);
  return {
    clients: points[0]!.clients,
    writes,
    errors: points.reduce((sum, p) => sum + p.errors, 0),
    elapsedSeconds,
    writesPerSecond: writes / elapsedSeconds,
    p50Ms: percentile(latenciesMs, 50),
    p99Ms: percentile(latenciesMs, 99),
    latenciesMs,
  };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** One POST with a JSON body; resolves with the status code and, for a status other than 200, the start of the body. */
function post(agent: http.Agent, address: string, path: string, body: string): Promise<{ status: number; body: string }> {
  const [host, port] = address.split(":");
  return new Promise((resolve, reject) => {
    const request = http.request(
      // Blixard's API wants the harness's admin token (etcd runs without auth and gets none).
      { agent, host, port: Number(port), path, method: "POST", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...(path.startsWith("/blixard.") ? ADMIN_HEADERS : {}) } },
      (response) => {
        let text = "";
        response.on("data", (chunk: Buffer) => {
          if (response.statusCode !== 200 && text.length < 200) text += chunk.toString("utf8");
        });
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body: text.slice(0, 200) }));
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

const KEYS_PER_CLIENT = 256;

type MakeBody = (key: string, value: string) => string;

async function load(address: string, path: string, makeBody: MakeBody, clients: number, seconds: number, warmupSeconds: number, valueBytes: number): Promise<Result> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const value = "v".repeat(valueBytes);
  // Warm-up: connections open, then the same load unmeasured, so the JIT has done its work.
  await Promise.all(Array.from({ length: clients }, (_, c) => post(agent, address, path, makeBody(`warm-${c}`, value)).catch(() => 0)));
  if (warmupSeconds > 0) await drive(agent, address, path, makeBody, clients, warmupSeconds, value);
  const result = await drive(agent, address, path, makeBody, clients, seconds, value);
  agent.destroy();
  return result;
}

/** N clients, one request in flight each, for `seconds`; what they saw. */
async function drive(agent: http.Agent, address: string, path: string, makeBody: MakeBody, clients: number, seconds: number, value: string): Promise<Result> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let writes = 0;
  const start = performance.now();
  const end = start + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      let n = 0;
      while (performance.now() < end) {
        // Each client overwrites its own 256 keys in turn, so neither system's key space grows
        // without bound across points (Blixard's map holds at most 100,000 keys).
        const key = `k-${c}-${n++ % KEYS_PER_CLIENT}`;
        const t0 = performance.now();
        try {
          const answer = await post(agent, address, path, makeBody(key, value));
          if (answer.status === 200) {
            latencies.push(performance.now() - t0);
            writes += 1;
          } else {
            errors += 1;
            firstError ??= `HTTP ${answer.status}: ${answer.body}`;
          }
        } catch (error) {
          errors += 1;
          firstError ??= (error as Error).message;
        }
      }
    }),
  );
  const elapsedSeconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return { clients, writes, errors, firstError, elapsedSeconds, writesPerSecond: writes / elapsedSeconds, p50Ms: percentile(latencies, 50), p99Ms: percentile(latencies, 99), latenciesMs: latencies };
}

/** A running cluster: where to send puts, how to shape them, how to stop it. */
interface Target {
  readonly name: string;
  readonly address: string;
  readonly path: string;
  readonly makeBody: MakeBody;
  readonly stop: () => Promise<void>;
}

async function startBlixard(): Promise<Target> {
  const cluster = new ProcessCluster("bench", 100, 10, "info", { insecure: true });
  // The harness mixes sync point modes (even ids strict) so every real-process test runs both;
  // the benchmark measures what an operator gets, the default on every node (the last flag wins).
  cluster.extraNodeArgs = ["--sync-points", "riding"];
  try {
    await cluster.bootstrap([1, 2, 3]);
    const leader = await cluster.waitForLeader([1, 2, 3], 30_000);
    const address = cluster.nodes.get(leader)!.api;
    return { name: "blixard", address, path: "/blixard.v1.KvService/Put", makeBody: (key, value) => JSON.stringify({ key, value }), stop: () => cluster.cleanup() };
  } catch (error) {
    await cluster.cleanup();
    throw error;
  }
}

async function startEtcd(): Promise<Target | undefined> {
  if (spawnSync("etcd", ["--version"]).error !== undefined) {
    process.stdout.write("etcd: not on PATH, skipped. Install it with: sudo apt-get install -y --no-install-recommends etcd-server\n");
    return undefined;
  }
  const dir = mkdtempSync(join(os.tmpdir(), "blixard-bench-etcd-"));
  const children: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const child of children) child.kill("SIGKILL");
    await sleep(300);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const members = await Promise.all(
      [1, 2, 3].map(async (i) => ({ name: `e${i}`, client: `127.0.0.1:${await freePort()}`, peer: `127.0.0.1:${await freePort()}` })),
    );
    const initialCluster = members.map((m) => `${m.name}=http://${m.peer}`).join(",");
    for (const m of members) {
      const log = openSync(join(dir, `${m.name}.log`), "a");
      const child = spawn(
        "etcd",
        [
          "--name", m.name,
          "--data-dir", join(dir, m.name),
          "--listen-client-urls", `http://${m.client}`,
          "--advertise-client-urls", `http://${m.client}`,
          "--listen-peer-urls", `http://${m.peer}`,
          "--initial-advertise-peer-urls", `http://${m.peer}`,
          "--initial-cluster", initialCluster,
          "--initial-cluster-state", "new",
          "--initial-cluster-token", "blixard-bench",
        ],
        { stdio: ["ignore", log, log] },
      );
      closeSync(log);
      children.push(child);
    }
    const agent = new http.Agent({ keepAlive: true });
    // The leader: the member whose status says it is its own leader.
    const leader = await waitFor("an etcd leader", 30_000, async () => {
      for (const m of members) {
        const status = await new Promise<{ leader?: string; header?: { member_id?: string } }>((resolve, reject) => {
          const request = http.request({ agent, host: "127.0.0.1", port: Number(m.client.split(":")[1]), path: "/v3/maintenance/status", method: "POST", headers: { "content-type": "application/json" } }, (response) => {
            let text = "";
            response.on("data", (chunk: Buffer) => (text += chunk.toString()));
            response.on("end", () => {
              try {
                resolve(JSON.parse(text) as { leader?: string; header?: { member_id?: string } });
              } catch (error) {
                reject(error as Error);
              }
            });
          });
          request.on("error", reject);
          request.end("{}");
        });
        if (status.leader !== undefined && status.leader !== "0" && status.leader === status.header?.member_id) return m;
      }
      return undefined;
    });
    agent.destroy();
    const b64 = (text: string): string => Buffer.from(text).toString("base64");
    return { name: "etcd", address: leader.client, path: "/v3/kv/put", makeBody: (key, value) => JSON.stringify({ key: b64(key), value: b64(value) }), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

function row(name: string, r: Result): string {
  return `${name.padEnd(8)} ${String(r.clients).padStart(7)} ${r.writesPerSecond.toFixed(0).padStart(9)} ${r.p50Ms.toFixed(2).padStart(8)} ${r.p99Ms.toFixed(2).padStart(8)} ${String(r.errors).padStart(6)}`;
}

const HEADER = `${"system".padEnd(8)} ${"clients".padStart(7)} ${"writes/s".padStart(9)} ${"p50 ms".padStart(8)} ${"p99 ms".padStart(8)} ${"errors".padStart(6)}`;

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const cpu = os.cpus()[0]?.model ?? "unknown CPU";
  const load1 = (): string => os.loadavg()[0]!.toFixed(2);
  process.stdout.write(`machine: ${os.cpus().length} x ${cpu}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, ${os.type()} ${os.release()}, node ${process.version}, load average ${load1()}\n`);
  process.stdout.write(`three members each on loopback, fsync on, ${options.seconds} s per point after ${options.warmupSeconds} s of unmeasured warm-up, ${options.rounds} interleaved round(s) per level, ${options.valueBytes}-byte values, puts to the leader\n\n`);
  const targets: Target[] = [await startBlixard()];
  try {
    const etcd = await startEtcd();
    if (etcd !== undefined) targets.push(etcd);
    const points = new Map<string, Result[]>(); // `${name}/${clients}` -> its points, in run order
    process.stdout.write(`points in run order (load average at each):\n${HEADER}\n`);
    for (const clients of options.clients) {
      for (let round = 0; round < options.rounds; round++) {
        for (const target of targets) {
          const result = await load(target.address, target.path, target.makeBody, clients, options.seconds, options.warmupSeconds, options.valueBytes);
          const key = `${target.name}/${clients}`;
          points.set(key, [...(points.get(key) ?? []), result]);
          process.stdout.write(`${row(target.name, result)}   load ${load1()}\n`);
          if (result.firstError !== undefined) process.stdout.write(`         first error: ${result.firstError}\n`);
          // A point where more than 1% of requests failed measures the failure, not the system: stop rather than print a ratio.
          if (result.errors * 100 > result.writes + result.errors) throw new Error(`${target.name} at ${clients} clients: ${result.errors} of ${result.writes + result.errors} requests failed (first: ${result.firstError}); no figures`);
        }
      }
    }
    process.stdout.write(`\nper level, all rounds together (writes over total time; percentiles over all latencies):\n${HEADER}${targets.length > 1 ? "   blixard / etcd writes/s" : ""}\n`);
    for (const clients of options.clients) {
      const blixard = combine(points.get(`blixard/${clients}`)!);
      process.stdout.write(`${row("blixard", blixard)}\n`);
      if (targets.length < 2) continue;
      const etcd = combine(points.get(`etcd/${clients}`)!);
      process.stdout.write(`${row("etcd", etcd)}   ${(blixard.writesPerSecond / etcd.writesPerSecond).toFixed(2)}x\n`);
    }
  } finally {
    for (const target of targets) await target.stop();
  }
}

await main();
