// `blixard up` as the e2e tests run it: the real command in a child process, in a temporary data
// directory with its own context file and free ports, and cleanup that stops it, then kills
// whatever it left (a SIGSTOPped node, guards, VMs), even when a test fails. Every wait has a
// deadline.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "./process-cluster.ts";
import { portFree } from "../support/free-port.ts";
import { BLIXARD_BIN, runCli, type CliRun } from "../support/run-cli.ts";

const UP_READY_MS = 120_000;
const UP_STOP_MS = 60_000;

export type CliResult = CliRun;

export interface LocalUpOptions {
  readonly nodes: number;
  readonly backend: "qemu" | "process";
  readonly leaseMs: number;
  /** The default image's directory (qemu). */
  readonly imageDir?: string;
}

/**
 * A base port for up's layout (API on base+i, peers on base+50+i) whose every port is free, below
 * Linux's ephemeral range (32768 and up), where outgoing connections never take a port from under us.
 */
async function freeBasePort(nodes: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 10_000 + Math.floor(Math.random() * 22_000);
    const ports = Array.from({ length: nodes }, (_, i) => [base + 1 + i, base + 51 + i]).flat();
    if ((await Promise.all(ports.map(portFree))).every(Boolean)) return base;
  }
  throw new Error("no free base port for blixard up after 50 tries");
}

function killQuietly(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
}

export class LocalUp {
  readonly output: string[] = [];
  private exited = false;
  private exitCode: number | null = null;

  private constructor(
    readonly dir: string,
    readonly contextFile: string,
    readonly basePort: number,
    readonly options: LocalUpOptions,
    private readonly child: ChildProcess,
  ) {
    child.once("exit", (code) => {
      this.exited = true;
      this.exitCode = code;
    });
    let partial = "";
    const take = (chunk: Buffer): void => {
      partial += chunk.toString();
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      this.output.push(...lines);
    };
    child.stdout?.on("data", take);
    child.stderr?.on("data", take);
  }

  static async start(options: LocalUpOptions): Promise<LocalUp> {
    const dir = mkdtempSync(join(tmpdir(), "blixard-up-"));
    const basePort = await freeBasePort(options.nodes);
    const contextFile = join(dir, "context.yaml");
    const args = [BLIXARD_BIN, "up", "--nodes", String(options.nodes), "--data-dir", join(dir, "cluster"), "--backend", options.backend, "--base-port", String(basePort), "--lease-ms", String(options.leaseMs)];
    if (options.imageDir !== undefined) args.push("--image-dir", options.imageDir);
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, BLIXARD_CONTEXT: contextFile }, detached: true });
    const up = new LocalUp(dir, contextFile, basePort, options, child);
    try {
      // waitFor retries a probe that throws: an exited up is reported after the wait, at once.
      const outcome = await waitFor("blixard up to say the cluster is up", UP_READY_MS, () => (up.exited ? "exited" : up.output.some((line) => line.startsWith("Blixard is up")) ? "up" : undefined));
      if (outcome === "exited") throw new Error(`blixard up exited with ${up.exitCode}: ${up.output.slice(-5).join(" | ")}`);
    } catch (error) {
      await up.stop();
      throw error;
    }
    return up;
  }

  get clusterDir(): string {
    return join(this.dir, "cluster");
  }

  nodeDir(id: number): string {
    return join(this.clusterDir, `node-${id}`);
  }

  nodePid(id: number): number {
    return Number(readFileSync(join(this.nodeDir(id), "node.pid"), "utf8").trim());
  }

  /** A VM's console log on one node ("" when that node has none). */
  console(nodeId: number, vmId: number): string {
    const path = join(this.nodeDir(nodeId), "vms", String(vmId), "console.log");
    return existsSync(path) ? readFileSync(path, "utf8") : "";
  }

  /** Runs the CLI with this cluster's context file (no flags needed, as after a real `up`). */
  cli(...args: string[]): Promise<CliResult> {
    return runCli(args, { env: { BLIXARD_CONTEXT: this.contextFile, BLIXARD_TOKEN: "" } });
  }

  async cliOk(...args: string[]): Promise<string> {
    const result = await this.cli(...args);
    if (result.code !== 0) throw new Error(`blixard ${args.join(" ")} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
    return result.stdout;
  }

  /** Ctrl-C to up (every node continued first, in case a test left one stopped), then whatever is left is killed and the directory removed. */
  async stop(): Promise<number | null> {
    for (let id = 1; id <= this.options.nodes; id++) {
      if (existsSync(join(this.nodeDir(id), "node.pid"))) killQuietly(this.nodePid(id), "SIGCONT");
    }
    if (!this.exited) {
      killQuietly(this.child.pid!, "SIGINT");
      try {
        await waitFor("blixard up to stop", UP_STOP_MS, () => (this.exited ? true : undefined));
      } catch {
        killQuietly(-this.child.pid!, "SIGKILL");
      }
    }
    const code = this.exitCode;
    this.killLeftovers();
    rmSync(this.dir, { recursive: true, force: true });
    return code;
  }

  /** Every process the cluster started that may still run: nodes, guards, VMs (by their pid and state files). */
  leftoverPids(): number[] {
    const pids: number[] = [];
    for (let id = 1; id <= this.options.nodes; id++) {
      const dir = this.nodeDir(id);
      if (existsSync(join(dir, "node.pid")) && isOurs(this.nodePid(id))) pids.push(this.nodePid(id));
      pids.push(...vmProcessPids(dir));
    }
    return pids;
  }

  private killLeftovers(): void {
    for (const pid of this.leftoverPids()) killQuietly(pid, "SIGKILL");
  }
}

/** Only processes that are still ours: a pid from a file may since belong to someone else. */
function isOurs(pid: number): boolean {
  try {
    return /qemu-system|blixard|vm-guard|process-guest/.test(readFileSync(`/proc/${pid}/cmdline`, "utf8"));
  } catch {
    return false;
  }
}

/** The guards and VM processes named in a node data directory's VM state files that still run. */
export function vmProcessPids(dataDir: string): number[] {
  const vms = join(dataDir, "vms");
  if (!existsSync(vms)) return [];
  const pids: number[] = [];
  for (const entry of readdirSync(vms)) {
    const state = join(vms, entry, "state.json");
    if (!existsSync(state)) continue;
    try {
      const parsed = JSON.parse(readFileSync(state, "utf8")) as { guardPid?: number; childPid?: number };
      for (const pid of [parsed.guardPid, parsed.childPid]) if (typeof pid === "number" && pid > 0) pids.push(pid);
    } catch {
      // half-written: its guard is gone or will rewrite it
    }
  }
  return pids.filter(isOurs);
}
