// The harness's `blixard node` processes, one per host (network.ts): start, kill -9, SIGSTOP,
// SIGCONT, graceful restart; every exit the harness did not cause is recorded as a crash with the
// tail of the node's log. Each process is registered for cleanup as it starts.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { createApiClients, type ApiClients, type ClientTls } from "../../src/shell/api/client.ts";
import { initCa, issueClient, issueNode } from "../../src/shell/cli/ca-command.ts";
import { ADMIN_TOKEN, BOOTSTRAP_TOKEN_FLAG } from "../support/admin-token.ts";
import { freePort, sleep } from "../e2e/process-cluster.ts";
import type { CleanupRegistry } from "./cleanup-registry.ts";
import type { Network } from "./network.ts";

const BIN = resolve(import.meta.dirname, "../../bin/blixard.js");
/** Lines of a node's log kept in a crash report. */
export const LOG_TAIL_LINES = 30;
const PEER_PORT = 7100;
const API_PORT = 7200;

export interface NodeCrash {
  readonly id: number;
  readonly exit: string;
  readonly logTail: string;
}

interface ManagedNode {
  readonly id: number;
  readonly peer: string;
  readonly api: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly tlsDir: string;
  child: ChildProcess | undefined;
  exited: Promise<void> | undefined;
  /** Set while the harness itself is stopping the process: that exit is not a crash. */
  expectingExit: boolean;
  /** Set when the harness injected a fault the node must stop on (an fsync error): only this exit code is not a crash. */
  expectedExitCode: number | undefined;
  paused: boolean;
  joinVia: string | undefined;
}

export class NodeProcesses {
  readonly crashes: NodeCrash[] = [];
  private readonly nodes = new Map<number, ManagedNode>();
  private readonly clients = new Map<number, ApiClients>();
  private initialCluster = "";
  private tls: ClientTls | undefined;
  private readonly caDir: string;

  constructor(
    private readonly dir: string,
    private readonly network: Network,
    private readonly cleanup: CleanupRegistry,
    private readonly tickMs: number,
  ) {
    this.caDir = join(dir, "ca");
  }

  /** The highest id any node of this run ever had (a new member takes the next). */
  highestId = 0;

  get ids(): number[] {
    return [...this.nodes.keys()].sort((a, b) => a - b);
  }

  async bootstrap(ids: readonly number[]): Promise<void> {
    this.cleanup.tellReaper(`dir ${this.caDir}`);
    await initCa(this.caDir);
    const out = await issueClient(this.caDir, "jepsen");
    this.tls = { caPem: readFileSync(join(out, "ca.pem"), "utf8"), certPem: readFileSync(join(out, "client.pem"), "utf8"), keyPem: readFileSync(join(out, "client-key.pem"), "utf8") };
    for (const id of ids) await this.allocate(id, undefined);
    this.initialCluster = ids.map((id) => `${id}=${this.nodes.get(id)!.peer}`).join(",");
    for (const id of ids) this.start(id);
  }

  private async allocate(id: number, joinVia: string | undefined): Promise<ManagedNode> {
    this.cleanup.tellReaper(`dir ${join(this.dir, `node-${id}`)}`);
    const host = this.network.hosts.get(id) ?? this.network.addHost(id);
    const tlsDir = await issueNode(this.caDir, id, [host.address, "localhost"]);
    const loopback = host.namespace === undefined;
    const node: ManagedNode = {
      id,
      peer: `${host.address}:${loopback ? await freePort() : PEER_PORT}`,
      api: `${host.address}:${loopback ? await freePort() : API_PORT}`,
      dataDir: join(this.dir, `node-${id}`),
      logFile: join(this.dir, `node-${id}.log`),
      tlsDir,
      child: undefined,
      exited: undefined,
      expectingExit: false,
      expectedExitCode: undefined,
      paused: false,
      joinVia,
    };
    this.nodes.set(id, node);
    this.highestId = Math.max(this.highestId, id);
    return node;
  }

  /** Starts a new node that joins through `viaId`'s API (membership changes). */
  async join(id: number, viaId: number): Promise<void> {
    await this.allocate(id, `https://${this.nodes.get(viaId)!.api}`);
    this.start(id);
  }

  start(id: number): void {
    const node = this.nodes.get(id)!;
    if (node.child !== undefined) throw new Error(`node ${id} is already running`);
    const membership = node.joinVia !== undefined ? ["--join", node.joinVia] : ["--initial-cluster", this.initialCluster];
    const args = [...this.network.execPrefix(id), process.execPath, BIN, "node", "--id", String(id), "--peer-listen", node.peer, "--api-listen", node.api, "--data-dir", node.dataDir, ...membership];
    args.push("--tls-dir", node.tlsDir, "--tick-ms", String(this.tickMs), "--election-ticks", "10", "--log-level", "info", ...BOOTSTRAP_TOKEN_FLAG);
    const log = openSync(node.logFile, "a");
    const child = spawn(args[0]!, args.slice(1), { stdio: ["ignore", log, log], env: { ...process.env, BLIXARD_TOKEN: ADMIN_TOKEN.text } });
    closeSync(log);
    node.child = child;
    node.expectingExit = false;
    node.expectedExitCode = undefined;
    node.paused = false;
    node.exited = new Promise((resolveExit) =>
      child.once("exit", (code, signal) => {
        if (node.child === child) node.child = undefined;
        const asInjected = node.expectedExitCode !== undefined && code === node.expectedExitCode;
        if (!node.expectingExit && !asInjected) this.crashes.push({ id, exit: signal ?? `code ${code}`, logTail: this.logTail(id) });
        resolveExit();
      }),
    );
    const pid = child.pid;
    if (pid !== undefined) this.cleanup.tellReaper(`pid ${pid}`);
    this.cleanup.add(`node ${id} pid ${pid}`, async () => {
      if (node.child !== child) return;
      node.expectingExit = true;
      child.kill("SIGKILL");
      await Promise.race([node.exited, sleep(5_000)]);
    });
  }

  /** From now on, node `id` exiting with `code` (and only that) is the injected fault's designed stop, not a crash. */
  expectExitCode(id: number, code: number): void {
    const node = this.nodes.get(id)!;
    node.expectedExitCode = code;
  }

  /** Whether node `id` waits for an injected fault's designed stop. */
  expectsExit(id: number): boolean {
    return this.nodes.get(id)!.expectedExitCode !== undefined;
  }

  /** Resolves when node `id` has exited, or after `deadlineMs`; true if it exited. */
  async waitExit(id: number, deadlineMs: number): Promise<boolean> {
    const node = this.nodes.get(id)!;
    if (node.child === undefined) return true;
    return Promise.race([node.exited!.then(() => true), sleep(deadlineMs).then(() => false)]);
  }

  isRunning(id: number): boolean {
    return this.nodes.get(id)?.child !== undefined;
  }

  /** kill -9 (or another signal) and wait, bounded, for the exit. */
  async kill(id: number, signal: NodeJS.Signals = "SIGKILL", deadlineMs = 15_000): Promise<void> {
    const node = this.nodes.get(id)!;
    if (node.child === undefined) return;
    node.expectingExit = true;
    if (node.paused && signal !== "SIGKILL") this.resume(id);
    node.child.kill(signal);
    const exited = await Promise.race([node.exited!.then(() => true), sleep(deadlineMs).then(() => false)]);
    if (!exited) {
      node.child?.kill("SIGKILL");
      await Promise.race([node.exited, sleep(5_000)]);
      this.crashes.push({ id, exit: `did not exit within ${deadlineMs} ms of ${signal}`, logTail: this.logTail(id) });
    }
    node.paused = false;
  }

  pause(id: number): void {
    const node = this.nodes.get(id)!;
    if (node.child === undefined) return;
    node.child.kill("SIGSTOP");
    node.paused = true;
  }

  resume(id: number): void {
    const node = this.nodes.get(id)!;
    if (node.child !== undefined && node.paused) node.child.kill("SIGCONT");
    node.paused = false;
  }

  /** Forgets a node that left the cluster (after it was stopped). */
  forget(id: number): void {
    if (this.isRunning(id)) throw new Error(`node ${id} still runs`);
    const node = this.nodes.get(id);
    this.nodes.delete(id);
    for (const key of [...this.clients.keys()]) if (Math.floor(key / 100_000) === id) this.clients.delete(key);
    if (node !== undefined) rmSync(node.dataDir, { recursive: true, force: true });
  }

  logTail(id: number): string {
    try {
      return readFileSync(this.nodes.get(id)!.logFile, "utf8").trimEnd().split("\n").slice(-LOG_TAIL_LINES).join("\n");
    } catch {
      return "";
    }
  }

  peerAddress(id: number): string {
    return this.nodes.get(id)!.peer;
  }

  /** API clients of one node, with the harness's bounded timeout. */
  client(id: number, timeoutMs: number): ApiClients {
    const cacheKey = id * 100_000 + timeoutMs;
    let clients = this.clients.get(cacheKey);
    if (clients === undefined) {
      clients = createApiClients(this.nodes.get(id)!.api, { timeoutMs, token: ADMIN_TOKEN.text, tls: this.tls });
      this.clients.set(cacheKey, clients);
    }
    return clients;
  }
}
