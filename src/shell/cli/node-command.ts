// `blixard node`: runs one cluster member until SIGTERM or SIGINT. Bad flags are one
// line and exit 2 (UsageError); a failure to start (port in use, data directory of
// another node or cluster, corrupt storage) is one line and exit 1. Logs are pino JSON
// lines on stdout.
import type { Command } from "commander";
import pino from "pino";
import { UsageError } from "./usage-error.ts";
import { parseHostPort } from "../os/address.ts";
import { NodeRuntime, StartupError, type NodeRuntimeConfig } from "../node/runtime.ts";
import type { NodeId } from "../../core/raft/types.ts";
import { DISK_RESERVE_BYTES_DEFAULT } from "../../core/replica/disk-space.ts";

export interface NodeCommandOptions {
  id?: string;
  peerListen?: string;
  apiListen?: string;
  dataDir?: string;
  initialCluster?: string;
  join?: string;
  clusterId?: string;
  advertisePeer?: string;
  advertiseApi?: string;
  tickMs: string;
  electionTicks: string;
  syncPoints: string;
  /** Default DISK_RESERVE_BYTES_DEFAULT; tests that build options by hand may leave it out. */
  diskReserveBytes?: string;
  logLevel: string;
}

function positiveInteger(text: string, flag: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`${flag}: "${text}" is not a positive integer`);
  const value = Number(text);
  if (value < 1 || value > max) throw new UsageError(`${flag}: ${text} is outside 1..${max}`);
  return value;
}

function address(text: string | undefined, flag: string): string {
  if (text === undefined) throw new UsageError(`${flag} is required (HOST:PORT)`);
  try {
    parseHostPort(text);
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`);
  }
  return text;
}

/** "1=127.0.0.1:7001,2=127.0.0.1:7002" -> id -> peer address. */
export function parseInitialCluster(text: string): Map<NodeId, string> {
  const members = new Map<NodeId, string>();
  for (const part of text.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const match = /^(\d+)=(.+)$/.exec(part);
    if (match === null) throw new UsageError(`--initial-cluster: "${part}" is not ID=HOST:PORT`);
    const id = positiveInteger(match[1]!, "--initial-cluster id");
    if (members.has(id)) throw new UsageError(`--initial-cluster: node id ${id} appears twice`);
    members.set(id, address(match[2]!, `--initial-cluster entry ${id}`));
  }
  if (members.size === 0) throw new UsageError("--initial-cluster: lists no members");
  return members;
}

export function parseNodeOptions(options: NodeCommandOptions, log: NodeRuntimeConfig["log"]): NodeRuntimeConfig {
  if (options.id === undefined) throw new UsageError("--id is required");
  const nodeId = positiveInteger(options.id, "--id");
  const peerListen = address(options.peerListen, "--peer-listen");
  const apiListen = address(options.apiListen, "--api-listen");
  if (options.dataDir === undefined || options.dataDir.trim() === "") throw new UsageError("--data-dir is required");
  if ((options.initialCluster === undefined) === (options.join === undefined)) {
    throw new UsageError("give exactly one of --initial-cluster ID=HOST:PORT,... (new cluster) and --join API-ADDR (existing cluster)");
  }
  const initialCluster = options.initialCluster !== undefined ? parseInitialCluster(options.initialCluster) : undefined;
  if (initialCluster !== undefined && !initialCluster.has(nodeId)) throw new UsageError(`--initial-cluster does not list this node (--id ${nodeId})`);
  if (options.clusterId !== undefined && !/^[A-Za-z0-9._-]{1,128}$/.test(options.clusterId)) {
    throw new UsageError("--cluster-id: use 1 to 128 letters, digits, '.', '_' or '-'");
  }
  const tickMs = positiveInteger(options.tickMs, "--tick-ms", 10_000);
  const syncPoints = options.syncPoints;
  if (syncPoints !== "riding" && syncPoints !== "strict") throw new UsageError(`--sync-points: "${syncPoints}" is not riding or strict`);
  const electionTicks = positiveInteger(options.electionTicks, "--election-ticks", 1_000);
  const reserveText = options.diskReserveBytes ?? String(DISK_RESERVE_BYTES_DEFAULT);
  const diskReserveBytes = Number(reserveText);
  if (!/^\d+$/.test(reserveText) || !Number.isSafeInteger(diskReserveBytes)) throw new UsageError(`--disk-reserve-bytes: "${reserveText}" is not a whole number of bytes`);
  if (electionTicks < 2) throw new UsageError("--election-ticks: must be at least 2 (heartbeats go every tick)");
  return {
    nodeId,
    peerListen,
    apiListen,
    dataDir: options.dataDir,
    initialCluster,
    join: options.join,
    clusterId: options.clusterId,
    advertisePeer: options.advertisePeer === undefined ? undefined : address(options.advertisePeer, "--advertise-peer"),
    advertiseApi: options.advertiseApi === undefined ? undefined : address(options.advertiseApi, "--advertise-api"),
    tickMs,
    electionTicks,
    syncPoints,
    diskReserveBytes,
    log,
  };
}

export function registerNodeCommand(program: Command): void {
  program
    .command("node")
    .description("run a cluster member until SIGTERM")
    .option("--id <ID>", "this node's id (a positive integer, stable for its life)")
    .option("--peer-listen <HOST:PORT>", "address for Raft traffic from peers")
    .option("--api-listen <HOST:PORT>", "address for the client API (Connect, gRPC, gRPC-Web)")
    .option("--data-dir <DIR>", "this node's data directory (created when absent)")
    .option("--initial-cluster <ID=HOST:PORT,...>", "bootstrap members and their peer addresses (new cluster)")
    .option("--join <API-ADDR>", "API address of a member: join that cluster as a learner")
    .option("--cluster-id <ID>", "cluster id (default: a hash of --initial-cluster, or asked from --join)")
    .option("--advertise-peer <HOST:PORT>", "peer address others dial (default: --peer-listen)")
    .option("--advertise-api <HOST:PORT>", "API address others use (default: --api-listen)")
    .option("--tick-ms <MS>", "milliseconds per Raft tick (heartbeat interval)", "100")
    .option("--election-ticks <N>", "ticks without a leader before an election (randomized up to 2x)", "10")
    .option(
      "--sync-points <MODE>",
      "riding: one fdatasync per write, the WAL's sync point rides on the next (default); strict: a second fdatasync per write closes the window in which a write the disk dropped could be cut as a torn tail (docs/STORAGE.md)",
      "riding",
    )
    .option(
      "--disk-reserve-bytes <BYTES>",
      "refuse new writes (ResourceExhausted, alarm disk-full) while the data directory has less free space than this, so the log never fills the disk to the last byte; 0: only when a write fails with ENOSPC (docs/OPERATIONS.md)",
      String(DISK_RESERVE_BYTES_DEFAULT),
    )
    .option("--log-level <LEVEL>", "pino log level: debug, info, warn, error", "info")
    .action(async (options: NodeCommandOptions) => {
      const levels = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];
      if (!levels.includes(options.logLevel)) throw new UsageError(`--log-level: one of ${levels.join(", ")}`);
      const logger = pino({ level: options.logLevel, base: { node: options.id } });
      const config = parseNodeOptions(options, logger);
      let runtime: NodeRuntime;
      let fatal = false;
      try {
        runtime = await NodeRuntime.start({ ...config, onFatal: () => (fatal = true) });
      } catch (error) {
        if (error instanceof StartupError) {
          process.stderr.write(`blixard node: ${error.message}\n`);
          process.exitCode = 1;
          return;
        }
        throw error;
      }
      await new Promise<void>((resolve) => {
        // Resolves when a signal asks to stop, or when the node stopped itself (fatal storage error).
        const check = setInterval(() => {
          if (runtime.isStopped) finish();
        }, 200);
        const finish = (): void => {
          clearInterval(check);
          resolve();
        };
        const shutdown = (signal: string): void => {
          logger.info({ signal }, "shutting down");
          void runtime.stop().then(finish);
        };
        process.once("SIGTERM", () => shutdown("SIGTERM"));
        process.once("SIGINT", () => shutdown("SIGINT"));
      });
      process.exitCode = fatal ? 1 : 0;
    });
}
