// `blixard up`'s local cluster: N node processes on loopback, secured like any other cluster
// (mutual TLS between nodes, TLS on the API, an admin bearer token), their files under one data
// directory (up-layout.ts). First run: a CA, one certificate per node, the first admin token, and
// up.yaml. Every run: start the nodes, wait for a leader and for every node's agent to register,
// write the CLI's context file. stop(): SIGTERM every node (the agents stop renewing), wait for
// them, then stop every VM the nodes left running through its guard, so nothing outlives `up`.
//
// The nodes run in up's own process group: a Ctrl-C in the terminal reaches them too, and they
// stop on it as on SIGTERM; a kill -9 of up leaves nodes that a second `up` on the same directory
// reports as "address in use" (their pid files say which).

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { assert } from "../../core/assert.ts";
import { newToken, parseToken, type PresentedToken } from "../auth/bearer-token.ts";
import { initCa, issueNode } from "../cli/ca-command.ts";
import { UsageError } from "../cli/usage-error.ts";
import { TLS_CA_FILE } from "../tls/tls-directory.ts";
import { createApiClients, type ApiClients } from "../api/client.ts";
import { nodeArguments, upNodes, validateLayout, type UpLayout, type UpNode } from "./up-layout.ts";

const LAYOUT_FILE = "up.yaml";
const TOKEN_FILE = "admin-token";
const CA_DIR = "ca";
const NODE_STOP_GRACE_MS = 15_000;
const POLL_MS = 200;

const BIN = fileURLToPath(new URL("../../../bin/blixard.js", import.meta.url));

export interface PreparedCluster {
  readonly dataDir: string;
  readonly layout: UpLayout;
  readonly nodes: readonly UpNode[];
  readonly token: string;
  readonly caFile: string;
  /** True when this run created the cluster's files (false: resumed). */
  readonly created: boolean;
}

function readLayout(path: string): UpLayout {
  let parsed: unknown;
  try {
    parsed = YAML.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new UsageError(`${path}: ${(error as Error).message.split("\n")[0]}`);
  }
  const layout = parsed as UpLayout;
  const problem = typeof parsed === "object" && parsed !== null ? validateLayout(layout) : "not a mapping";
  if (problem !== undefined) throw new UsageError(`${path}: ${problem}`);
  return layout;
}

function tokenOf(path: string): { text: string; token: PresentedToken } {
  const text = readFileSync(path, "utf8").trim();
  const token = parseToken(text);
  if (token === undefined) throw new UsageError(`${path}: not a Blixard token`);
  return { text, token };
}

/**
 * The cluster in `dataDir`: resumed from its up.yaml when there is one (flags that disagree with it
 * are refused, naming both), else created with `wanted`.
 */
export async function prepareCluster(dataDir: string, wanted: UpLayout, explicit: ReadonlySet<keyof UpLayout>): Promise<PreparedCluster> {
  const dir = resolve(dataDir);
  const layoutPath = join(dir, LAYOUT_FILE);
  if (existsSync(layoutPath)) {
    const layout = readLayout(layoutPath);
    for (const key of explicit) {
      if (layout[key] !== wanted[key]) throw new UsageError(`${dir} holds a cluster with ${key} ${String(layout[key])}, not ${String(wanted[key])}: use another --data-dir, or leave the flag out`);
    }
    const { text } = tokenOf(join(dir, TOKEN_FILE));
    return { dataDir: dir, layout, nodes: upNodes(dir, layout), token: text, caFile: join(dir, CA_DIR, TLS_CA_FILE), created: false };
  }
  const problem = validateLayout(wanted);
  if (problem !== undefined) throw new UsageError(problem);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caDir = join(dir, CA_DIR);
  if (!existsSync(join(caDir, TLS_CA_FILE))) await initCa(caDir);
  const nodes = upNodes(dir, wanted);
  for (const node of nodes) {
    mkdirSync(node.dataDir, { recursive: true, mode: 0o700 });
    await issueNode(caDir, node.id, ["127.0.0.1", "localhost"], node.tlsDir);
  }
  const made = newToken();
  writeFileSync(join(dir, TOKEN_FILE), `${made.text}\n`, { mode: 0o600 });
  // up.yaml last: a run cut short before it starts over from the beginning.
  const temporary = `${layoutPath}.tmp-${process.pid}`;
  writeFileSync(temporary, YAML.stringify(wanted), { mode: 0o600 });
  renameSync(temporary, layoutPath);
  return { dataDir: dir, layout: wanted, nodes, token: made.text, caFile: join(caDir, TLS_CA_FILE), created: true };
}

export interface RunningNode {
  readonly node: UpNode;
  readonly child: ChildProcess;
  exitCode: number | null;
  exited: Promise<void>;
}

/** Starts every node as a child process (stdout and stderr to its node.log). */
export function startNodes(prepared: PreparedCluster, extraArgs: readonly string[] = []): RunningNode[] {
  const { token } = tokenOf(join(prepared.dataDir, TOKEN_FILE));
  const hash = `${token.id}:${token.hashHex}`;
  return prepared.nodes.map((node) => {
    mkdirSync(node.dataDir, { recursive: true, mode: 0o700 });
    const log = openSync(node.logFile, "a", 0o600);
    const child = spawn(process.execPath, [BIN, ...nodeArguments(node, prepared.nodes, prepared.layout, hash), ...extraArgs], { stdio: ["ignore", log, log] });
    closeSync(log);
    // For operators and tests that signal one node (kill -STOP $(cat node-2/node.pid)).
    if (child.pid !== undefined) writeFileSync(join(node.dataDir, "node.pid"), `${child.pid}\n`);
    const running: RunningNode = { node, child, exitCode: null, exited: Promise.resolve() };
    running.exited = new Promise<void>((done) =>
      child.once("exit", (code, signal) => {
        running.exitCode = code ?? (signal !== null ? 128 : 1);
        done();
      }),
    );
    return running;
  });
}

export function clientsOf(prepared: PreparedCluster, node: UpNode, timeoutMs = 3_000): ApiClients {
  return createApiClients(node.apiAddress, { token: prepared.token, tls: { caPem: readFileSync(prepared.caFile, "utf8") }, timeoutMs });
}

/** The last line of a node's log that says why it stopped (for a one-line error), or "". */
export function lastLogError(node: UpNode): string {
  let text = "";
  try {
    text = readFileSync(node.logFile, "utf8").slice(-16_384);
  } catch {
    return "";
  }
  const lines = text.trimEnd().split("\n").reverse();
  for (const line of lines) {
    if (line.startsWith("blixard")) return line;
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string; error?: string };
      if ((entry.level ?? 0) >= 50) return `${entry.msg ?? ""}${entry.error !== undefined ? `: ${entry.error}` : ""}`;
    } catch {
      // not a JSON line
    }
  }
  return "";
}

/**
 * Waits until a leader is known and `ready(clients)` says yes (every node registered), or a node
 * exits (its log's last error in the message), or the deadline passes.
 */
export async function waitForCluster(prepared: PreparedCluster, running: readonly RunningNode[], deadlineMs: number, ready: (clients: ApiClients) => Promise<string | undefined>, progress: (line: string) => void): Promise<void> {
  assert(running.length === prepared.nodes.length, "every node is running");
  const clients = clientsOf(prepared, prepared.nodes[0]!);
  const until = Date.now() + deadlineMs;
  let waitingFor = "a leader";
  let said = "";
  while (Date.now() < until) {
    const dead = running.find((r) => r.exitCode !== null);
    if (dead !== undefined) {
      const why = lastLogError(dead.node);
      throw new UsageError(`node ${dead.node.id} exited with code ${dead.exitCode}${why !== "" ? `: ${why}` : ""} (log: ${dead.node.logFile})`);
    }
    try {
      const status = await clients.cluster.status({});
      if (status.nodes.some((n) => n.leaderId > 0n)) {
        const missing = await ready(clients);
        if (missing === undefined) return;
        waitingFor = missing;
      }
    } catch {
      // not listening yet
    }
    if (waitingFor !== said) progress(`waiting for ${waitingFor}...`);
    said = waitingFor;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  throw new UsageError(`the cluster did not come up within ${Math.round(deadlineMs / 1000)} s (still waiting for ${waitingFor}); logs: ${prepared.nodes.map((n) => n.logFile).join(", ")}`);
}

/** SIGTERM every node, SIGKILL the ones still there after the grace period; resolves when all exited. */
export async function stopNodes(running: readonly RunningNode[]): Promise<void> {
  for (const r of running) if (r.exitCode === null) r.child.kill("SIGTERM");
  const timer = setTimeout(() => {
    for (const r of running) if (r.exitCode === null) r.child.kill("SIGKILL");
  }, NODE_STOP_GRACE_MS);
  await Promise.all(running.map((r) => r.exited));
  clearTimeout(timer);
  assert(running.every((r) => r.exitCode !== null), "every node exited");
}
