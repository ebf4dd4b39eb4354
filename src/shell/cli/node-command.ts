// `blixard node`: runs one cluster member until SIGTERM or SIGINT. Bad flags are one
// line and exit 2 (UsageError); a failure to start (port in use, data directory of
// another node or cluster, corrupt storage) is one line and exit 1; a storage failure
// while running is one line and exit 4; an uncaught error is one line and exit 5
// (fatal-exit.ts, docs/OPERATIONS.md "Exit codes"). Logs go to stdout: pino JSON lines, or readable
// lines on a terminal (--log-format, src/shell/node/log-format.ts).
// Every API call needs a bearer token (docs/SECURITY.md): a new cluster's first admin token is
// the one whose hash --bootstrap-token-hash gives.
// Security must be chosen: --tls-dir DIR (mutual TLS between nodes, TLS on the API) or
// --insecure (plaintext, for local experiments); neither is a usage error. SIGHUP reloads the TLS
// directory (it is also reloaded when its files change).
import { FAILPOINTS_ENV, NodeFailpoints, parseNodeFailpoints } from "../node/node-failpoints.ts";
import type { Command } from "commander";
import pino from "pino";
import { UsageError } from "./usage-error.ts";
import { LOG_FORMATS, prettyDestination, resolveLogFormat } from "../node/log-format.ts";
import { EXIT_STARTUP_FAILED, EXIT_STORAGE_FAILED, FATAL_STOP_GRACE_MS, installFatalHandlers, reportFatal } from "./fatal-exit.ts";
import { parseHostPort } from "../os/address.ts";
import { NodeRuntime, StartupError, type NodeRuntimeConfig } from "../node/runtime.ts";
import type { NodeId } from "../../core/raft/types.ts";
import { readFileSync } from "node:fs";
import type { PresentedToken } from "../auth/bearer-token.ts";
import { DISK_RESERVE_BYTES_DEFAULT } from "../../core/replica/disk-space.ts";
import { CPU_OVERCOMMIT_DEFAULT, CPU_OVERCOMMIT_MAX, LEASE_MS_DEFAULT, RESERVE_DEFAULT, parseNodeVmFlags, type NodeVmFlagsInput } from "./node-vm-flags.ts";
import { orchestratorRuntimeConfig } from "./node-orchestrator.ts";
import { findOnPath } from "../vm/qemu/qemu-launcher.ts";
import { QEMU_BINARY } from "../vm/qemu/qemu-command.ts";

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
  tlsDir?: string;
  insecure?: boolean;
  tickMs: string;
  electionTicks: string;
  syncPoints: string;
  /** Default DISK_RESERVE_BYTES_DEFAULT; tests that build options by hand may leave it out. */
  diskReserveBytes?: string;
  logLevel: string;
  /** json, pretty or auto (pretty on a terminal); tests that build options by hand may leave it out (auto). */
  logFormat?: string;
  bootstrapTokenHash?: string;
  joinTokenFile?: string;
}

/** "ID:SHA256HEX[,ID:SHA256HEX...]" (what `blixard token bootstrap` prints) -> the bootstrap admin tokens. */
export function parseBootstrapTokenHashes(text: string): PresentedToken[] {
  const tokens: PresentedToken[] = [];
  for (const part of text.split(",").map((p) => p.trim()).filter((p) => p !== "")) {
    const match = /^([0-9a-f]{16}):([0-9a-f]{64})$/.exec(part);
    if (match === null) throw new UsageError(`--bootstrap-token-hash: "${part.slice(0, 100)}" is not ID:SHA256HEX (see blixard token bootstrap)`);
    tokens.push({ id: match[1]!, hashHex: match[2]! });
  }
  if (tokens.length === 0 || tokens.length > 16) throw new UsageError("--bootstrap-token-hash: give 1 to 16 ID:SHA256HEX entries");
  return tokens;
}

/** The token a joining node shows the join endpoint: --join-token-file, else $BLIXARD_TOKEN. */
function joinToken(options: NodeCommandOptions): string | undefined {
  if (options.joinTokenFile !== undefined) {
    try {
      return readFileSync(options.joinTokenFile, "utf8").trim();
    } catch (error) {
      throw new UsageError(`--join-token-file: ${(error as Error).message}`);
    }
  }
  const fromEnv = process.env.BLIXARD_TOKEN;
  return fromEnv !== undefined && fromEnv.trim() !== "" ? fromEnv.trim() : undefined;
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
  const security = parseSecurity(options);
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
    security,
    diskReserveBytes,
    log,
    bootstrapTokens: options.bootstrapTokenHash === undefined ? undefined : parseBootstrapTokenHashes(options.bootstrapTokenHash),
    joinToken: options.join === undefined ? undefined : joinToken(options),
  };
}

/** --tls-dir DIR or --insecure, exactly one. */
export function parseSecurity(options: Pick<NodeCommandOptions, "tlsDir" | "insecure">): NodeRuntimeConfig["security"] {
  const tlsDir = options.tlsDir?.trim();
  if (tlsDir === "") throw new UsageError("--tls-dir: give a directory");
  if (tlsDir !== undefined && options.insecure === true) throw new UsageError("give one of --tls-dir DIR and --insecure, not both");
  if (tlsDir !== undefined) return { tlsDir };
  if (options.insecure === true) return "insecure";
  throw new UsageError("give --tls-dir DIR (ca.pem, node.pem, node-key.pem from `blixard ca issue`) or --insecure (plaintext, unauthenticated)");
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
    .option("--tls-dir <DIR>", "TLS files: ca.pem (the cluster's CA), node.pem and node-key.pem (this node's certificate and key, from `blixard ca issue`); reloaded on SIGHUP and on change")
    .option("--insecure", "no TLS: plaintext peer port and API, nobody authenticated (local experiments only)")
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
    .option("--log-format <FORMAT>", "json (one JSON record per line), pretty (readable lines) or auto: pretty when stdout is a terminal, else json", "auto")
    .option("--bootstrap-token-hash <ID:SHA256,...>", "admin token(s) this node accepts besides the replicated book: the hash `blixard token bootstrap` prints (a new cluster's first token)")
    .option("--join-token-file <FILE>", "with --join: the token to show the join endpoint (default: $BLIXARD_TOKEN)")
    .option("--vm-backend <KIND>", "run VMs here: qemu (microVMs; KVM when it works, else TCG), process (supervised processes), or none (default: a key-value node only)")
    .option("--vms-dir <DIR>", "where this node's VMs keep their files (default: <data-dir>/vms)")
    .option("--image-dir <DIR>", "the default guest image (`blixard image build`; default: $BLIXARD_IMAGE_DIR or ~/.cache/blixard/image)")
    .option("--lease-ms <MS>", `this node's lease: a node silent this long has fenced its VMs, and they may run elsewhere (default ${LEASE_MS_DEFAULT})`)
    .option("--reserve-vcpus <N>", `vCPUs held back from VMs (default ${RESERVE_DEFAULT.vcpus})`)
    .option("--reserve-memory-mib <MIB>", `memory held back for the host (default ${RESERVE_DEFAULT.memoryMib})`)
    .option("--reserve-disk-gib <GIB>", `disk held back for the host (default ${RESERVE_DEFAULT.diskGib})`)
    .option("--datacenter <NAME>", "this node's datacenter, for placement rules (default: local)")
    .option("--zone <NAME>", "this node's zone (default: local)")
    .option("--rack <NAME>", "this node's rack (default: local)")
    .option("--cpu-overcommit <RATIO>", `vCPUs promised to VMs per host CPU, 1 to ${CPU_OVERCOMMIT_MAX} (default ${CPU_OVERCOMMIT_DEFAULT})`)
    .option("--label <KEY=VALUE>", "a node label for placement constraints (repeatable)", (value: string, previous: string[] = []) => [...previous, value])
    .action(async (options: NodeCommandOptions & NodeVmFlagsInput) => {
      const levels = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];
      if (!levels.includes(options.logLevel)) throw new UsageError(`--log-level: one of ${levels.join(", ")}`);
      const logFormat = resolveLogFormat(options.logFormat ?? "auto", process.stdout.isTTY === true);
      if (logFormat === undefined) throw new UsageError(`--log-format: "${String(options.logFormat).slice(0, 40)}" is not one of ${LOG_FORMATS.join(", ")}`);
      const pinoOptions = { level: options.logLevel, base: { node: options.id } };
      const logger = logFormat === "pretty" ? pino(pinoOptions, prettyDestination()) : pino(pinoOptions);
      const config = parseNodeOptions(options, logger);
      // docs/FAILPOINTS.md: a bad spec is a usage error (exit 2); the node does not start.
      const failpointSpec = process.env[FAILPOINTS_ENV] ?? "";
      const initialFailpoints = parseNodeFailpoints(failpointSpec);
      if (!initialFailpoints.ok) throw new UsageError(`${FAILPOINTS_ENV}: ${initialFailpoints.error}`);
      const vmFlags = parseNodeVmFlags(options, config.dataDir);
      installFatalHandlers(logger);
      if (vmFlags?.backend === "qemu" && findOnPath(QEMU_BINARY) === undefined) {
        reportFatal(`blixard node: --vm-backend qemu: ${QEMU_BINARY} not found on PATH (apt-get install -y --no-install-recommends qemu-system-x86)`, EXIT_STARTUP_FAILED);
        return;
      }
      const orchestrator = vmFlags === undefined ? undefined : await orchestratorRuntimeConfig(vmFlags, logger);
      // SIGTERM and SIGINT are taken from before the node starts: one that arrives while it starts
      // (after its "node started" line, before it waits) stops it cleanly once started, instead of
      // killing the process by the signal's default action.
      let onStopSignal: ((signal: string) => void) | undefined;
      let stopSignal: string | undefined;
      const stopSignalled = (signal: string): void => {
        if (onStopSignal !== undefined) return onStopSignal(signal);
        stopSignal ??= signal;
        logger.info({ signal, graceMs: FATAL_STOP_GRACE_MS }, "stop requested while starting: the node stops once started, or the process exits within the grace");
        // A start that waits (a join endpoint not answering yet) must not hold the stop for long.
        setTimeout(() => process.exit(0), FATAL_STOP_GRACE_MS).unref();
      };
      process.once("SIGTERM", () => stopSignalled("SIGTERM"));
      process.once("SIGINT", () => stopSignalled("SIGINT"));
      let runtime: NodeRuntime;
      let fatalError: Error | undefined;
      try {
        const failpoints = new NodeFailpoints(logger, undefined, initialFailpoints.value);
        runtime = await NodeRuntime.start({ ...config, orchestrator, failpoints, onFatal: (error) => (fatalError ??= error) });
      } catch (error) {
        if (error instanceof StartupError) {
          reportFatal(`blixard node: ${error.message}`, EXIT_STARTUP_FAILED);
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
        process.on("SIGHUP", () => {
          logger.info({ signal: "SIGHUP" }, runtime.insecure ? "SIGHUP: nothing to reload (--insecure)" : "SIGHUP: reloading the TLS directory");
          runtime.reloadTls("SIGHUP");
        });
        onStopSignal = shutdown;
        if (stopSignal !== undefined) shutdown(stopSignal);
      });
      if (fatalError === undefined) {
        process.exitCode = 0;
        return;
      }
      reportFatal(`blixard node: fatal: storage failed while running, node stopped (data directory ${config.dataDir}): ${fatalError.message}`, EXIT_STORAGE_FAILED);
      // The runtime is stopping (it began when the failure was reported); a stop that hangs must not keep the process alive.
      setTimeout(() => process.exit(EXIT_STORAGE_FAILED), FATAL_STOP_GRACE_MS).unref();
    });
}
