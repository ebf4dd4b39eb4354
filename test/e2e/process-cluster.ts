// A cluster of real `blixard node` processes on loopback for the e2e tests: free ports,
// a temporary directory per cluster, logs in files, signals, and cleanup that kills
// every process and removes the directory even when a test fails. Every wait has a deadline.
// Security: by default the cluster gets a CA and a certificate per node (EC P-256, made in
// process in a few milliseconds), so every test runs over mutual TLS between nodes and TLS to
// the API; `insecure: true` runs the nodes with --insecure instead.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ConnectError } from "@connectrpc/connect";
import { createApiClients, type ApiClients, type ClientTls } from "../../src/shell/api/client.ts";
import { initCa, issueClient, issueNode } from "../../src/shell/cli/ca-command.ts";
import { ADMIN_TOKEN, BOOTSTRAP_TOKEN_FLAG } from "../support/admin-token.ts";

const BIN = resolve(import.meta.dirname, "../../bin/blixard.js");

/** A port that was free a moment ago (bind to 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen({ host: "127.0.0.1", port: 0 }, () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Polls `probe` until it returns a value other than undefined, or throws after `deadlineMs` naming `what`. */
export async function waitFor<T>(what: string, deadlineMs: number, probe: () => Promise<T | undefined> | T | undefined, intervalMs = 100): Promise<T> {
  const start = Date.now();
  let lastError = "";
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error instanceof ConnectError ? error.rawMessage : (error as Error).message;
    }
    if (Date.now() - start > deadlineMs) throw new Error(`timed out after ${deadlineMs} ms waiting for ${what}${lastError ? ` (last error: ${lastError})` : ""}`);
    await sleep(intervalMs);
  }
}

export interface NodeProcess {
  readonly id: number;
  readonly peer: string;
  readonly api: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** The node's --tls-dir (ca.pem, node.pem, node-key.pem), or undefined with --insecure. */
  readonly tlsDir: string | undefined;
  child: ChildProcess | undefined;
  exit: Promise<number | null> | undefined;
  joinVia: string | undefined;
}

export interface LocalStatus {
  readonly id: number;
  readonly role: string;
  readonly term: number;
  readonly leaderId: number;
  readonly commit: number;
  readonly applied: number;
}

export interface ProcessClusterOptions {
  /** Run the nodes with --insecure (plaintext) instead of mutual TLS. */
  readonly insecure?: boolean;
}

export class ProcessCluster {
  readonly dir: string;
  /** The CA's directory (ca.pem, ca-key.pem), undefined with --insecure. */
  readonly caDir: string | undefined;
  private clientTlsCache: ClientTls | undefined;
  readonly nodes = new Map<number, NodeProcess>();
  private readonly clients = new Map<number, ApiClients>();
  private initialCluster = "";
  /** Flags every node process gets after the cluster's own (e.g. a small --disk-reserve-bytes). */
  extraNodeArgs: readonly string[] = [];
  /** Environment variables every node process gets besides the harness's (e.g. BLIXARD_FAILPOINTS). */
  extraNodeEnv: Readonly<Record<string, string>> = {};

  constructor(
    readonly name: string,
    readonly tickMs = 50,
    readonly electionTicks = 10,
    readonly logLevel = "debug",
    readonly options: ProcessClusterOptions = {},
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `blixard-e2e-${name}-`));
    this.caDir = options.insecure === true ? undefined : join(this.dir, "ca");
    // Last resort when the test process ends without running its after hooks (a crash, a
    // runner timeout): no node process may outlive it, and its directory goes too.
    process.once("exit", () => {
      for (const node of this.nodes.values()) {
        if (node.child?.pid !== undefined) {
          try {
            process.kill(node.child.pid, "SIGKILL");
          } catch {
            // already gone
          }
        }
      }
      rmSync(this.dir, { recursive: true, force: true });
    });
  }

  /** Allocates ports for ids and starts them as the bootstrap members. */
  async bootstrap(ids: readonly number[]): Promise<void> {
    for (const id of ids) await this.allocate(id);
    this.initialCluster = ids.map((id) => `${id}=${this.nodes.get(id)!.peer}`).join(",");
    for (const id of ids) this.start(id);
  }

  /** The URL scheme of the nodes' APIs. */
  get scheme(): "http" | "https" {
    return this.caDir === undefined ? "http" : "https";
  }

  /** What a client of this cluster's API needs: the CA and a client certificate (undefined with --insecure). */
  async clientTls(): Promise<ClientTls | undefined> {
    if (this.caDir === undefined) return undefined;
    if (this.clientTlsCache === undefined) {
      await this.ensureCa();
      const out = await issueClient(this.caDir, "e2e");
      this.clientTlsCache = { caPem: readFileSync(join(out, "ca.pem"), "utf8"), certPem: readFileSync(join(out, "client.pem"), "utf8"), keyPem: readFileSync(join(out, "client-key.pem"), "utf8") };
    }
    return this.clientTlsCache;
  }

  private async ensureCa(): Promise<void> {
    if (this.caDir !== undefined && !existsSync(join(this.caDir, "ca.pem"))) await initCa(this.caDir);
  }

  private async allocate(id: number, joinVia?: string): Promise<NodeProcess> {
    let tlsDir: string | undefined;
    if (this.caDir !== undefined) {
      await this.ensureCa();
      tlsDir = await issueNode(this.caDir, id, ["127.0.0.1", "localhost"]);
    }
    // The API clients of the tests need the client certificate before the first call (client() is synchronous).
    await this.clientTls();
    const node: NodeProcess = {
      id,
      peer: `127.0.0.1:${await freePort()}`,
      api: `127.0.0.1:${await freePort()}`,
      dataDir: join(this.dir, `node-${id}`),
      logFile: join(this.dir, `node-${id}.log`),
      tlsDir,
      child: undefined,
      exit: undefined,
      joinVia,
    };
    this.nodes.set(id, node);
    return node;
  }

  /** Starts a new node that joins through `viaId`'s API. */
  async join(id: number, viaId: number): Promise<NodeProcess> {
    const node = await this.allocate(id, `${this.scheme}://${this.nodes.get(viaId)!.api}`);
    this.start(id);
    return node;
  }

  start(id: number): NodeProcess {
    const node = this.nodes.get(id)!;
    if (node.child !== undefined) throw new Error(`node ${id} is already running`);
    const membership = node.joinVia !== undefined ? ["--join", node.joinVia] : ["--initial-cluster", this.initialCluster];
    const args = [BIN, "node", "--id", String(id), "--peer-listen", node.peer, "--api-listen", node.api, "--data-dir", node.dataDir, ...membership];
    args.push(...(node.tlsDir === undefined ? ["--insecure"] : ["--tls-dir", node.tlsDir]));
    args.push("--tick-ms", String(this.tickMs), "--election-ticks", String(this.electionTicks), "--log-level", this.logLevel);
    // Both sync point modes run in every real-process test: even ids strict (two fdatasyncs per write), odd ids riding (the default).
    args.push("--sync-points", id % 2 === 0 ? "strict" : "riding");
    // Every node accepts the harness's admin token; a joining node shows it to the join endpoint (BLIXARD_TOKEN).
    args.push(...BOOTSTRAP_TOKEN_FLAG);
    args.push(...this.extraNodeArgs);
    const log = openSync(node.logFile, "a");
    // BLIXARD_NODE_ARGS: extra node flags for the node processes (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof").
    const nodeFlags = (process.env.BLIXARD_NODE_ARGS ?? "").split(" ").filter((flag) => flag !== "");
    const child = spawn(process.execPath, [...nodeFlags, ...args], { stdio: ["ignore", log, log], env: { ...process.env, BLIXARD_TOKEN: ADMIN_TOKEN.text, ...this.extraNodeEnv } });
    closeSync(log);
    node.child = child;
    node.exit = new Promise((resolveExit) => child.once("exit", (code, signal) => resolveExit(code ?? (signal === null ? null : -1))));
    void node.exit.then(() => {
      if (node.child === child) node.child = undefined;
    });
    return node;
  }

  isRunning(id: number): boolean {
    return this.nodes.get(id)?.child !== undefined;
  }

  signal(id: number, signal: NodeJS.Signals): void {
    const child = this.nodes.get(id)!.child;
    if (child?.pid === undefined) throw new Error(`node ${id} is not running`);
    process.kill(child.pid, signal);
  }

  /** Sends `signal` and waits (bounded) for the process to exit; returns the exit code. */
  async stop(id: number, signal: NodeJS.Signals = "SIGKILL", deadlineMs = 10_000): Promise<number | null> {
    const node = this.nodes.get(id)!;
    const exit = node.exit;
    if (node.child === undefined || exit === undefined) return null;
    this.signal(id, signal);
    const code = await Promise.race([exit, sleep(deadlineMs).then(() => "timeout" as const)]);
    if (code === "timeout") throw new Error(`node ${id} did not exit within ${deadlineMs} ms of ${signal}`);
    node.child = undefined;
    return code;
  }

  /** Waits for a process to exit on its own (e.g. refusing to start); returns its exit code. */
  async exited(id: number, deadlineMs: number): Promise<number | null> {
    const exit = this.nodes.get(id)!.exit!;
    const code = await Promise.race([exit, sleep(deadlineMs).then(() => "timeout" as const)]);
    if (code === "timeout") throw new Error(`node ${id} did not exit within ${deadlineMs} ms`);
    return code;
  }

  log(id: number): string {
    try {
      return readFileSync(this.nodes.get(id)!.logFile, "utf8");
    } catch {
      return "";
    }
  }

  client(id: number): ApiClients {
    let clients = this.clients.get(id);
    if (clients === undefined) {
      clients = createApiClients(this.nodes.get(id)!.api, { timeoutMs: 3_000, token: ADMIN_TOKEN.text, tls: this.clientTlsCache });
      this.clients.set(id, clients);
    }
    return clients;
  }

  runningIds(): number[] {
    return [...this.nodes.values()].filter((n) => n.child !== undefined).map((n) => n.id);
  }

  async localStatus(id: number, timeoutMs = 1_000): Promise<LocalStatus> {
    const response = await this.client(id).cluster.status({ localOnly: true }, { timeoutMs });
    const node = response.nodes[0]!;
    return { id, role: node.role, term: Number(node.term), leaderId: Number(node.leaderId), commit: Number(node.commit), applied: Number(node.applied) };
  }

  /** Statuses of the given running nodes that answer (unresponsive ones are left out). */
  async statuses(ids: readonly number[] = this.runningIds()): Promise<LocalStatus[]> {
    const results = await Promise.all(ids.map((id) => this.localStatus(id, 500).catch(() => undefined)));
    return results.filter((s): s is LocalStatus => s !== undefined);
  }

  /** Waits until every node in `ids` answers and agrees on one leader among `ids`; returns its id. */
  async waitForLeader(ids: readonly number[], deadlineMs: number): Promise<number> {
    return waitFor(`a leader agreed by nodes ${ids.join(",")}`, deadlineMs, async () => {
      const statuses = await this.statuses(ids);
      if (statuses.length !== ids.length) return undefined;
      const leader = statuses.find((s) => s.role === "leader");
      if (leader === undefined) return undefined;
      return statuses.every((s) => s.leaderId === leader.id && s.term === leader.term) ? leader.id : undefined;
    });
  }

  /** Put with retries (any node; followers forward) until acknowledged or the deadline passes. */
  async put(key: string, value: string, deadlineMs = 10_000, via?: readonly number[]): Promise<number> {
    let attempt = 0;
    return waitFor(`put ${key}`, deadlineMs, async () => {
      const ids = via ?? this.runningIds();
      const id = ids[attempt++ % ids.length]!;
      const response = await this.client(id).kv.put({ key, value });
      return Number(response.index);
    });
  }

  async get(id: number, key: string, serializable = false): Promise<string> {
    const response = await this.client(id).kv.get({ key, serializable });
    return response.value;
  }

  /** Kills every process and removes the directory; safe to call twice. */
  async cleanup(): Promise<void> {
    for (const node of this.nodes.values()) {
      const child = node.child;
      if (child?.pid !== undefined) {
        try {
          process.kill(child.pid, "SIGKILL");
        } catch {
          // already gone
        }
        // SIGSTOPped processes die on SIGKILL too.
        await Promise.race([node.exit, sleep(3_000)]);
        node.child = undefined;
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
