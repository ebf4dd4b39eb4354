// How fast `blixard` starts (issue #13, "Fast start"), through bin/blixard.js on both of its paths:
// compiled (dist/, BLIXARD_RUN_FROM=dist) and TypeScript through tsx (BLIXARD_RUN_FROM=src).
//   --version, help        no node needed;
//   kv get, cluster status against one running single-node insecure cluster (a token, loopback);
//   node listening         spawn of `blixard node` (a fresh data directory each time) until its API
//                          answers GET /healthz, polled every 2 ms;
//   npx blixard --version  the README's way in, for reference (npm's own start is most of it).
// Each figure is wall time from spawn() to exit (or to /healthz), median and p90 over RUNS runs,
// run one at a time, and the median CPU time (user + system, by GNU time when installed): on a busy
// machine wall time mostly measures the others, so the load average goes beside the figures.
//   npm run bench:startup [-- --runs 15]
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { newToken } from "../src/shell/auth/bearer-token.ts";
import { distIsCurrent } from "../scripts/dist-stamp.mjs";

const ROOT = resolve(import.meta.dirname, "..");
const BIN = join(ROOT, "bin/blixard.js");
const runsFlag = process.argv.indexOf("--runs");
const RUNS = runsFlag === -1 ? 15 : Number(process.argv[runsFlag + 1]);
if (!Number.isInteger(RUNS) || RUNS < 1 || RUNS > 1000) throw new Error("--runs: an integer from 1 to 1000");
/** A node that has not answered /healthz by then has failed to start; the bench stops. */
const LISTEN_DEADLINE_MS = 20_000;
const COMMAND_DEADLINE_MS = 20_000;
/** Puts tried, 100 ms apart, while the node elects itself. */
const LEADER_ATTEMPTS_MAX = 100;
const PATHS = ["dist", "src"] as const;
type RunFrom = (typeof PATHS)[number];

const scratch = mkdtempSync(join(tmpdir(), "blixard-startup-bench-"));
const token = newToken();
const load = (): string => loadavg().map((value) => value.toFixed(2)).join(" ");

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolvePort(address.port) : reject(new Error("no port"))));
    });
  });
}

function healthy(port: number): Promise<boolean> {
  return new Promise((resolveHealthy) => {
    const req = request({ host: "127.0.0.1", port, path: "/healthz", timeout: 1000 }, (res) => {
      res.resume();
      resolveHealthy(res.statusCode === 200);
    });
    req.on("error", () => resolveHealthy(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

/** GNU time, when installed, reports the CPU time a command used: on a busy machine, the steadier figure. */
const GNU_TIME = "/usr/bin/time";
const HAVE_GNU_TIME = spawnSync(GNU_TIME, ["-f", "%U", "true"]).status === 0;
const CPU_LINE = /^blixard-bench-cpu (\d+\.\d+) (\d+\.\d+)$/m;

interface Sample {
  readonly wallMs: number;
  /** User plus system CPU time, when GNU time measured it. */
  readonly cpuMs: number | undefined;
}

/** Wall (and CPU) milliseconds from spawn to exit of `blixard ...args`, which must exit 0. */
function timeCommand(runFrom: RunFrom, args: readonly string[], env: NodeJS.ProcessEnv, viaNpx = false): Promise<Sample> {
  return new Promise((resolveMs, reject) => {
    const startedNs = process.hrtime.bigint();
    const [program, programArgs] = viaNpx ? ["npx", ["--no-install", "blixard", ...args]] : [process.execPath, [BIN, ...args]];
    const [command, argv] = HAVE_GNU_TIME ? [GNU_TIME, ["-f", "blixard-bench-cpu %U %S", program, ...programArgs]] : [program, programArgs];
    const child = spawn(command, argv, { cwd: ROOT, env: { ...process.env, ...env, BLIXARD_RUN_FROM: runFrom }, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const deadline = setTimeout(() => child.kill("SIGKILL"), COMMAND_DEADLINE_MS);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(deadline);
      const wallMs = Number(process.hrtime.bigint() - startedNs) / 1e6;
      const cpu = CPU_LINE.exec(stderr);
      const cpuMs = cpu === null ? undefined : (Number(cpu[1]) + Number(cpu[2])) * 1000;
      if (code === 0) resolveMs({ wallMs, cpuMs });
      else reject(new Error(`blixard ${args.join(" ")} (${runFrom}) exited ${code}: ${stderr.trim()}`));
    });
  });
}

interface StartedNode {
  readonly apiPort: number;
  readonly listenMs: number;
  stop(): Promise<void>;
}

async function startNode(runFrom: RunFrom): Promise<StartedNode> {
  const [peerPort, apiPort] = [await freePort(), await freePort()];
  const dataDir = mkdtempSync(join(scratch, "node-"));
  const args = [
    BIN, "node", "--id", "1", "--insecure", "--peer-listen", `127.0.0.1:${peerPort}`, "--api-listen", `127.0.0.1:${apiPort}`,
    "--data-dir", dataDir, "--initial-cluster", `1=127.0.0.1:${peerPort}`, "--bootstrap-token-hash", `${token.id}:${token.hashHex}`, "--log-level", "warn",
  ];
  const startedNs = process.hrtime.bigint();
  // Its own process group, so a stop reaches whatever it started.
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, BLIXARD_RUN_FROM: runFrom }, stdio: "ignore", detached: true });
  const exited = new Promise<void>((resolveExit) => child.once("exit", () => resolveExit()));
  const stop = async (): Promise<void> => {
    try {
      process.kill(-child.pid!, "SIGTERM");
    } catch {
      return;
    }
    const killer = setTimeout(() => process.kill(-child.pid!, "SIGKILL"), 5000);
    await exited;
    clearTimeout(killer);
    rmSync(dataDir, { recursive: true, force: true });
  };
  for (;;) {
    if (await healthy(apiPort)) return { apiPort, listenMs: Number(process.hrtime.bigint() - startedNs) / 1e6, stop };
    if (child.exitCode !== null || Number(process.hrtime.bigint() - startedNs) / 1e6 > LISTEN_DEADLINE_MS) {
      await stop();
      throw new Error(`blixard node (${runFrom}) did not answer /healthz within ${LISTEN_DEADLINE_MS} ms`);
    }
    await new Promise((wake) => setTimeout(wake, 2));
  }
}

function quantile(sortedMs: readonly number[], q: number): number {
  return sortedMs[Math.min(sortedMs.length - 1, Math.ceil(q * sortedMs.length) - 1)]!;
}

const rows: string[] = [];
function report(what: string, runFrom: RunFrom, samples: readonly Sample[]): void {
  const sorted = samples.map((sample) => sample.wallMs).sort((a, b) => a - b);
  const cpu = samples.every((sample) => sample.cpuMs !== undefined) ? samples.map((sample) => sample.cpuMs!).sort((a, b) => a - b) : [];
  const cpuMedian = cpu.length === 0 ? "-" : quantile(cpu, 0.5).toFixed(0);
  const row = `${what.padEnd(24)} ${(runFrom === "dist" ? "compiled" : "tsx").padEnd(9)} ${quantile(sorted, 0.5).toFixed(0).padStart(7)} ${quantile(sorted, 0.9).toFixed(0).padStart(7)} ${cpuMedian.padStart(9)}   (${samples.length} runs)`;
  rows.push(row);
  console.log(row);
}

async function main(): Promise<void> {
  if (!distIsCurrent(ROOT)) {
    console.log("dist/ is not current: npm run build");
    const build = spawnSync(process.execPath, [join(ROOT, "scripts/build.mjs")], { stdio: "inherit" });
    if (build.status !== 0) throw new Error("npm run build failed");
  }
  const loadBefore = load();
  console.log(`blixard start-up, ${RUNS} runs each; load average before: ${loadBefore}`);
  console.log(`${"what".padEnd(24)} ${"path".padEnd(9)} ${"median".padStart(7)} ${"p90".padStart(7)} ${"cpu p50".padStart(9)}   (ms; wall from spawn to exit, cpu: user+sys)`);
  const server = await startNode("dist");
  try {
    const env = { BLIXARD_ENDPOINT: `http://127.0.0.1:${server.apiPort}`, BLIXARD_TOKEN: token.text, HOME: scratch };
    // Listening comes before leading: the put is retried until the node leads; the reads then find a key.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await timeCommand("dist", ["kv", "put", "startup-bench", "value"], env);
        break;
      } catch (error) {
        if (attempt === LEADER_ATTEMPTS_MAX) throw error;
        await new Promise((wake) => setTimeout(wake, 100));
      }
    }
    const commands: [string, string[]][] = [["--version", ["--version"]], ["help", ["help"]], ["kv get", ["kv", "get", "startup-bench"]], ["cluster status", ["cluster", "status"]]];
    for (const [what, args] of commands) {
      for (const runFrom of PATHS) {
        const samples: Sample[] = [];
        for (let run = 0; run < RUNS; run += 1) samples.push(await timeCommand(runFrom, args, env));
        report(what, runFrom, samples);
      }
    }
    const npxSamples: Sample[] = [];
    for (let run = 0; run < Math.min(RUNS, 5); run += 1) npxSamples.push(await timeCommand("dist", ["--version"], env, true));
    report("npx blixard --version", "dist", npxSamples);
  } finally {
    await server.stop();
  }
  for (const runFrom of PATHS) {
    const samples: Sample[] = [];
    for (let run = 0; run < RUNS; run += 1) {
      const node = await startNode(runFrom);
      samples.push({ wallMs: node.listenMs, cpuMs: undefined });
      await node.stop();
    }
    report("node listening", runFrom, samples);
  }
  console.log(`load average before: ${loadBefore}; after: ${load()} (1, 5, 15 min; ${process.platform}, Node.js ${process.version})`);
}

try {
  await main();
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
