// The real node: the replica driver the simulator runs (src/core/replica/replica.ts), wired
// to the operating system (src/shell/os/system-environment.ts), the TCP peer transport
// ((src/core/wire, src/shell/os)) and the Connect API ((src/shell/api)). Nothing about consensus or the state
// machine lives here: this file only starts, connects and stops things.
//
// Security: with a TLS directory (--tls-dir) the peer port is mutual TLS and the API is TLS,
// both with the node's certificate; the directory is reloaded on SIGHUP and when it changes.
// --insecure runs both in plaintext and says so in the startup line (docs/SECURITY.md).
//
// Startup order: TLS files, (with --join) ask the join endpoint for the cluster id and its node id,
// storage (identity check, recovery), peer listener, replica and request path, API
// listener; then the membership agent (src/core/replica/membership-agent.ts: joining,
// announcing this node's addresses in the replicated book, snapshots for joiners) runs on
// the Environment's timers. Asking the join endpoint stays here: it must happen before
// storage exists. Each failure before the node runs is a StartupError with a one-line message.
//
// Shutdown (SIGTERM): stop accepting API requests, stop the agent, the request path (waiting
// forwards: unknown) and the replica (waiting requests: "stopped" or unknown), flush and close
// peer connections, close files.
import { createHash } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { assert } from "../../core/assert.ts";
import type { Logger } from "../../core/env/environment.ts";
import { SystemDisk } from "../os/system-disk.ts";
import { createSystemEnvironment, SystemTimers, type SystemEnvironment } from "../os/system-environment.ts";
import { FailpointDisk } from "../../core/failpoints/failpoint-disk.ts";
import { NodeFailpoints } from "./node-failpoints.ts";
import { ListenError, TcpTransport } from "../os/tcp-transport.ts";
import { parseHostPort } from "../os/address.ts";
import type { ConfState, NodeId, RecoveredState } from "../../core/raft/types.ts";
import { RaftStorage, StorageError } from "../../core/storage/raft-storage.ts";
import { readIdentity } from "../../core/storage/recovery.ts";
import type { NodeStateMachine } from "../../core/replica/node-state-machine.ts";
import type { KvWatchSource } from "../api/kv-watch.ts";
import { decodeMemberAddresses, memberKey, type MemberAddresses } from "../../core/replica/address-book.ts";
import { createNodeProcess, startMembershipAgent, startOrchestrator, type NodeReplica, type OrchestratorParts } from "../../core/replica/node-process.ts";
import { defaultRaftTuning, defaultReplicaOptions, type ReplicaStatus } from "../../core/replica/replica.ts";
import { defaultRequestPathOptions, type RequestPath } from "../../core/replica/request-path.ts";
import type { ClientRequest, RequestOutcome } from "../../core/replica/request-types.ts";
import type { ClusterView } from "../../core/cluster/types.ts";
import { defaultMembershipAgentTiming, type MembershipAgent } from "../../core/replica/membership-agent.ts";
import { startApiServer, type ApiServer, type ApiServerLimits, type ApiServerStats } from "../api/http-server.ts";
import { createProbePaths, PROBE_PATHS, readiness, type Readiness } from "../api/probes.ts";
import { apiMethodLabel, createNodeMetrics, type NodeMetrics } from "./node-metrics.ts";
import { createNodeRoutes, createNodeServices, servicePairs } from "../api/services.ts";
import { createConnectUnaryHandler } from "../api/connect-unary.ts";
import { createApiClients, endpointUrl, type ApiClients, type ClientTls } from "../api/client.ts";
import { TlsDirectory, TlsDirectoryError } from "../tls/tls-directory.ts";
import { decodeTokenRecord, TOKEN_KEY_PREFIX, TOKENS_LISTED_MAX, tokenKey, type TokenRecord } from "../../core/replica/token-book.ts";
import { Gatekeeper, type GatekeeperPlantedBug } from "../auth/gatekeeper.ts";
import type { PresentedToken } from "../auth/bearer-token.ts";
import type { NodeVmHost } from "../vm/node-vm-host.ts";
import type { VmBackend } from "../../core/agent/vm-backend.ts";
import type { NodeRegistration } from "../../core/cluster/types.ts";
import { validateLeaseTiming, type LeaseTiming } from "../../core/agent/lease-timing.ts";
import { defaultReconcileIntervalUs } from "../../core/agent/node-agent.ts";
import { defaultReconcilerOptions } from "../../core/agent/reconciler.ts";
import { DEFAULT_SCHEDULER_OPTIONS } from "../../core/scheduler/scheduler-types.ts";
import { BLIXARD_VERSION } from "../version.ts";

export interface NodeRuntimeConfig {
  readonly nodeId: NodeId;
  readonly peerListen: string;
  readonly apiListen: string;
  /** Addresses other nodes use to reach this one; default: the listen addresses. */
  readonly advertisePeer?: string;
  readonly advertiseApi?: string;
  readonly dataDir: string;
  /** The TLS directory (ca.pem, node.pem, node-key.pem), or "insecure" for plaintext everywhere. */
  readonly security: { readonly tlsDir: string } | "insecure";
  /** Bootstrap members and their peer addresses (a new cluster), or undefined with `join`. */
  readonly initialCluster?: ReadonlyMap<NodeId, string>;
  /** The API URL of any member of the cluster to join (as a learner). */
  readonly join?: string;
  /** Overrides the cluster id (default: derived from initialCluster, or asked from the join endpoint). */
  readonly clusterId?: string;
  readonly tickMs?: number;
  readonly electionTicks?: number;
  /** Requests without an outcome after this long are answered as timed out / unknown. */
  readonly requestTimeoutMs?: number;
  readonly snapshotEveryEntries?: number;
  /** New writes are refused while the data directory has fewer free bytes (default 64 MiB; 0: only when a write fails with ENOSPC). */
  readonly diskReserveBytes?: number;
  /** The WAL's sync point mode (src/core/storage): "riding" (default, one fdatasync per write) or "strict" (two). */
  readonly syncPoints?: "riding" | "strict";
  readonly log: Logger;
  /** Test harness only: planted bugs of the gatekeeper (docs/PLANTED-BUGS.md). */
  readonly gatekeeperPlantedBugs?: ReadonlySet<GatekeeperPlantedBug>;
  /** Serve every request through connect-node, without the unary fast path (tests compare both). */
  readonly plainConnectOnly?: boolean;
  /** Admin tokens valid on this node besides the replicated book (--bootstrap-token-hash): how a new cluster gets its first token. */
  readonly bootstrapTokens?: readonly PresentedToken[];
  /** The token this node presents to the join endpoint (its status call); the join itself goes over the peer port. */
  readonly joinToken?: string;
  /** The API listener's connection limits (default: defaultApiServerLimits; tests shorten them). */
  readonly apiLimits?: ApiServerLimits;
  /** Called when the node must stop on its own (a failed fsync): the process should exit non-zero. */
  readonly onFatal?: (error: Error) => void;
  /** The node's failpoints (BLIXARD_FAILPOINTS, the admin API; docs/FAILPOINTS.md). Default: none set, panic and crash exit the process. */
  readonly failpoints?: NodeFailpoints;
  /** Run the orchestrator here: this node's agent on a VM backend, and the controller (absent: a key-value node only). */
  readonly orchestrator?: OrchestratorRuntimeConfig;
}

/**
 * The orchestrator on a real node. The backend is built by the caller's factory once the node's
 * Environment exists (its monotonic clock is the one the lease deadlines are read on), so this
 * file knows no backend kind.
 */
export interface OrchestratorRuntimeConfig {
  readonly backend: (env: SystemEnvironment) => { readonly backend: VmBackend; readonly host: NodeVmHost; readonly close: () => Promise<void> };
  /** What this node registers, but for its id and address (the runtime's own). */
  readonly registration: Omit<NodeRegistration, "id" | "address">;
  readonly timing: LeaseTiming;
  /** How often the controller looks at the cluster (default 200 ms). */
  readonly controllerRoundMs?: number;
}

/** A failure to start, reported as one line (the CLI prints it and exits 1). */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartupError";
  }
}

/** "c-" + the first 16 hex digits of SHA-256 over the sorted "id=address" list: equal flags give equal ids. */
export function clusterIdFromMembers(members: ReadonlyMap<NodeId, string>): string {
  const text = [...members.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([id, address]) => `${id}=${address}`)
    .join(",");
  return `c-${createHash("sha256").update(text).digest("hex").slice(0, 16)}`;
}

const CLUSTER_ID_DEADLINE_MS = 30_000;
/** A forward waits this much longer than the leader's own request timeout before its outcome is unknown. */
const FORWARD_MARGIN_MS = 1_000;

/** What the join endpoint said about itself: the cluster's id, and who to join through. */
interface JoinTarget {
  readonly clusterId: string;
  readonly nodeId: NodeId;
  readonly peerAddress: string;
}

export class NodeRuntime {
  readonly nodeId: NodeId;
  readonly clusterId: string;
  readonly peerAddress: string;
  readonly apiAddress: string;
  readonly log: Logger;
  private readonly config: NodeRuntimeConfig;
  private readonly env: SystemEnvironment;
  private readonly disk: SystemDisk;
  private readonly transport: TcpTransport;
  private readonly machine: NodeStateMachine;
  private readonly replica: NodeReplica;
  private readonly storage: RaftStorage;
  /** This node's Prometheus registry and what the shell observes into it (GET /metrics). */
  readonly metrics: NodeMetrics;
  /** Every client request goes through it: the Connect services and the membership agent. */
  readonly requestPath: RequestPath;
  /** This node's failpoints: the admin API's FailpointService sets, clears and lists them. */
  readonly failpoints: NodeFailpoints;
  private agent: MembershipAgent | undefined;
  private api: ApiServer | undefined;
  private stopped = false;
  private readonly clients = new Map<string, ApiClients>();
  private readonly tls: TlsDirectory | undefined;
  /** This node's VMs, when it runs the orchestrator (undefined otherwise). */
  private vms: NodeVmHost | undefined;
  private orchestrator: (OrchestratorParts & { readonly closeBackend: () => Promise<void> }) | undefined;

  private constructor(parts: {
    config: NodeRuntimeConfig;
    tls: TlsDirectory | undefined;
    clusterId: string;
    env: SystemEnvironment;
    disk: SystemDisk;
    transport: TcpTransport;
    machine: NodeStateMachine;
    replica: NodeReplica;
    storage: RaftStorage;
    requestPath: RequestPath;
    peerAddress: string;
    apiAddress: string;
    failpoints: NodeFailpoints;
  }) {
    this.config = parts.config;
    this.failpoints = parts.failpoints;
    this.tls = parts.tls;
    this.nodeId = parts.config.nodeId;
    this.clusterId = parts.clusterId;
    this.log = parts.config.log;
    this.env = parts.env;
    this.disk = parts.disk;
    this.transport = parts.transport;
    this.machine = parts.machine;
    this.replica = parts.replica;
    this.storage = parts.storage;
    this.metrics = createNodeMetrics({
      nodeId: this.nodeId,
      status: () => this.replica.status(),
      walBytes: () => this.storage.stats().walBytes,
      transportStats: () => this.transport.stats(),
      clusterViewIfOrchestrating: () => (this.orchestrator === undefined ? undefined : this.machine.cluster),
    });
    this.disk.onSyncDone = (kind, durationSeconds) => this.metrics.observeSync(kind, durationSeconds);
    this.requestPath = parts.requestPath;
    this.peerAddress = parts.peerAddress;
    this.apiAddress = parts.apiAddress;
  }

  static async start(config: NodeRuntimeConfig): Promise<NodeRuntime> {
    validateConfig(config);
    const log = config.log;
    let tlsDirectory: TlsDirectory | undefined;
    if (config.security !== "insecure") {
      try {
        tlsDirectory = TlsDirectory.open(config.security.tlsDir, config.nodeId, log);
      } catch (error) {
        if (error instanceof TlsDirectoryError) throw new StartupError(`--tls-dir: ${error.message}`);
        throw error;
      }
    }
    const clientTls = (): ClientTls | undefined => (tlsDirectory === undefined ? undefined : clientTlsOf(tlsDirectory));
    let disk: SystemDisk;
    try {
      disk = new SystemDisk(config.dataDir);
    } catch (error) {
      throw new StartupError(`cannot use data directory ${config.dataDir}: ${(error as Error).message}`);
    }
    // A node restarted with --join whose data directory already holds a store does not wait on the
    // join endpoint: that member may have been removed since (its store names the cluster). It asks
    // only when the store holds none of the cluster's state (a join interrupted before it was added).
    const stored = config.join !== undefined ? storedIdentity(disk) : undefined;
    const askJoinEndpoint = async (join: string): Promise<JoinTarget> => {
      try {
        return await askJoinTarget(join, config.joinToken, log, clientTls());
      } catch (error) {
        disk.close();
        throw error;
      }
    };
    let joinTarget = config.join !== undefined && stored === undefined ? await askJoinEndpoint(config.join) : undefined;
    const clusterId = config.clusterId ?? (config.initialCluster !== undefined ? clusterIdFromMembers(config.initialCluster) : (stored?.clusterId ?? joinTarget!.clusterId));
    const bootstrap: ConfState = config.initialCluster !== undefined ? { voters: [...config.initialCluster.keys()].sort((a, b) => a - b), learners: [] } : { voters: [], learners: [] };

    // The storage failpoints wrap the data directory (docs/FAILPOINTS.md); their delays run on the node's timers.
    const failpoints = config.failpoints ?? new NodeFailpoints(log);
    // The clock faults (clock.wall, clock.monotonic) change the clocks the Environment and its timers share.
    const timers = new SystemTimers(failpoints.clocks);
    const failpointDisk = new FailpointDisk(disk, failpoints.hook, timers);
    const storage = await new Promise<RaftStorage | StorageError>((resolve) =>
      RaftStorage.open(failpointDisk, { nodeId: config.nodeId, clusterId }, bootstrap, { syncPoints: config.syncPoints ?? "riding", failpoint: failpoints.hook }, resolve),
    );
    if (storage instanceof StorageError) {
      disk.close();
      if (storage.code === "identity-mismatch") throw new StartupError(`data directory ${config.dataDir} belongs to another node or cluster: ${storage.message}`);
      if (storage.code === "corrupt") {
        log.error({ nodeId: config.nodeId, dataDir: config.dataDir, error: storage.message }, "corruption found in the data directory: refusing to start");
        throw new StartupError(`${storage.message}; refusing to start (see docs/ARCHITECTURE.md, corruption policy)`);
      }
      throw new StartupError(storage.message);
    }
    if (config.join !== undefined && joinTarget === undefined && !holdsClusterState(storage.recovered)) {
      joinTarget = await askJoinEndpoint(config.join);
      if (joinTarget.clusterId !== clusterId) {
        disk.close();
        throw new StartupError(`data directory ${config.dataDir} belongs to cluster ${clusterId}, but ${config.join} is a member of ${joinTarget.clusterId}`);
      }
    }
    const { truncations, removals } = storage.recoveryRepairs;
    if (truncations.length > 0 || removals.length > 0) {
      // A torn tail (a write a crash interrupted) is expected after a crash; said once, with what was cut.
      log.warn({ nodeId: config.nodeId, dataDir: config.dataDir, truncated: truncations.map((t) => `${t.name} to ${t.sizeBytes} bytes`).slice(0, 16), removed: removals.slice(0, 16) }, "storage recovery repaired the data directory (a torn tail after a crash)");
    }

    // The replica's raft channel and the request path's client channel register themselves as the transport's receivers.
    // Peer addresses: the replicated book first, then --initial-cluster, then the member we join through.
    const fallbackPeer = (peer: NodeId): string | undefined => config.initialCluster?.get(peer) ?? (joinTarget?.nodeId === peer ? joinTarget.peerAddress : undefined);
    let resolvePeer: (peer: NodeId) => string | undefined = fallbackPeer;
    const transport = new TcpTransport({
      nodeId: config.nodeId,
      clusterId,
      listen: config.peerListen,
      resolve: (peer) => resolvePeer(peer),
      log,
      tls: tlsDirectory === undefined ? undefined : { current: () => tlsDirectory.current() },
    });
    let peerBound: string;
    try {
      peerBound = await transport.listen();
    } catch (error) {
      disk.close();
      tlsDirectory?.close();
      if (error instanceof ListenError) throw new StartupError(error.message);
      throw error;
    }
    const env = createSystemEnvironment({ nodeId: config.nodeId, disk: failpointDisk, transport, log, timers, clocks: failpoints.clocks, failpoint: failpoints.hook });
    const started: { runtime?: NodeRuntime } = {};
    const requestTimeoutMs = config.requestTimeoutMs ?? defaultReplicaOptions.requestTimeoutMs;
    const { replica, machine, requestPath } = createNodeProcess(
      env,
      storage,
      {
        ...defaultReplicaOptions,
        tickMs: config.tickMs ?? defaultReplicaOptions.tickMs,
        requestTimeoutMs,
        snapshotEveryEntries: config.snapshotEveryEntries ?? defaultReplicaOptions.snapshotEveryEntries,
        raft: { ...defaultRaftTuning, electionTicks: config.electionTicks ?? defaultRaftTuning.electionTicks },
        ...(config.diskReserveBytes === undefined ? {} : { diskReserveBytes: config.diskReserveBytes }),
        onFatal: (error) => {
          log.error({ error: error.message }, "node stopping: fatal storage error");
          void started.runtime?.stop();
          config.onFatal?.(error);
        },
      },
      { ...defaultRequestPathOptions, forwardTimeoutMs: requestTimeoutMs + FORWARD_MARGIN_MS },
    );
    const peerAddress = config.advertisePeer ?? peerBound;
    const self = new NodeRuntime({ config, tls: tlsDirectory, clusterId, env, disk, transport, machine, replica, storage, requestPath, peerAddress, apiAddress: "", failpoints });
    started.runtime = self;
    resolvePeer = (peer) => self.memberAddresses(peer)?.peer ?? fallbackPeer(peer);
    replica.start();
    try {
      const gate = new Gatekeeper(self, { bootstrapTokens: config.bootstrapTokens, plantedBugs: config.gatekeeperPlantedBugs });
      const services = createNodeServices(self, gate);
      const fastPath = config.plainConnectOnly === true ? undefined : createConnectUnaryHandler(servicePairs(services), (method, authorization) => gate.admit(method, authorization));
      const apiTls = tlsDirectory === undefined ? undefined : { current: () => tlsDirectory.current(), onReload: (listener: Parameters<TlsDirectory["onReload"]>[0]) => tlsDirectory.onReload(listener) };
      const knownPaths = new Set<string>(PROBE_PATHS);
      for (const [service] of servicePairs(services)) for (const method of service.methods) knownPaths.add(`/${service.typeName}/${method.name}`);
      const plainPaths = createProbePaths({
        readiness: () => self.readiness(),
        metrics: async () => ({ contentType: self.metrics.registry.contentType, text: await self.metrics.registry.metrics() }),
        // Any token that may read the cluster's status may read its metrics (src/shell/api/probes.ts).
        admitMetrics: (authorization) => gate.admit("blixard.v1.ClusterService/Status", authorization),
      });
      const api = await startApiServer(config.apiListen, createNodeRoutes(services), fastPath, config.apiLimits, apiTls, {
        plainPaths,
        onRequestDone: (path, httpStatus, durationSeconds) => self.metrics.observeApiRequest(apiMethodLabel(path, knownPaths), httpStatus, durationSeconds),
      });
      self.api = api;
      (self as { apiAddress: string }).apiAddress = config.advertiseApi ?? api.address;
    } catch (error) {
      await self.stop();
      if (error instanceof ListenError) throw new StartupError(error.message);
      throw error;
    }
    // Cached API clients hold the old credentials: after a reload, new ones are made on demand.
    tlsDirectory?.onReload(() => self.clients.clear());
    tlsDirectory?.watch();
    const security = tlsDirectory === undefined ? "INSECURE" : "mtls";
    log.info(
      {
        nodeId: config.nodeId,
        version: BLIXARD_VERSION,
        clusterId,
        peer: self.peerAddress,
        api: self.apiAddress,
        dataDir: config.dataDir,
        recoveredTerm: storage.recovered.hardState.term,
        recoveredCommit: storage.recovered.hardState.commit,
        recoveredSnapshotIndex: storage.recovered.snapshot?.metadata.index ?? 0,
        join: config.join,
        security,
        tlsDir: tlsDirectory?.dir,
        certificateNotAfter: tlsDirectory?.notAfter,
      },
      tlsDirectory === undefined ? "node started INSECURE (--insecure: no TLS, peers and clients are not authenticated)" : "node started (mutual TLS on the peer port, TLS on the API)",
    );
    self.agent = startMembershipAgent(env, { replica, machine, requestPath }, {
      ...defaultMembershipAgentTiming,
      addresses: { peer: self.peerAddress, api: self.apiAddress },
      joinVia: joinTarget?.nodeId,
    });
    if (config.orchestrator !== undefined) self.startOrchestrator(config.orchestrator);
    return self;
  }

  /** Builds the backend and starts this node's agent and the controller (both stop with the node; the VMs do not). */
  private startOrchestrator(orchestrator: OrchestratorRuntimeConfig): void {
    assert(this.orchestrator === undefined && this.apiAddress !== "", "the orchestrator starts once, after the API listens");
    validateLeaseTiming(orchestrator.timing);
    const { backend, host, close } = orchestrator.backend(this.env);
    const registration: NodeRegistration = { ...orchestrator.registration, id: this.nodeId, address: this.apiAddress };
    const parts = startOrchestrator(this.env, { replica: this.replica, machine: this.machine, requestPath: this.requestPath }, backend, {
      agent: { reconciler: defaultReconcilerOptions(registration, orchestrator.timing), reconcileIntervalUs: defaultReconcileIntervalUs },
      controller: { timing: orchestrator.timing, roundIntervalMs: orchestrator.controllerRoundMs ?? 200, scheduler: DEFAULT_SCHEDULER_OPTIONS, scheduleBatchMax: 256 },
    });
    this.orchestrator = { ...parts, closeBackend: close };
    this.vms = host;
    assert(this.vmHost === host, "the API sees this node's VM host");
    this.log.info({ nodeId: this.nodeId, vmBackend: host.description, capacity: registration.capacity, leaseMs: orchestrator.timing.leaseDurationUs / 1000 }, "orchestrator started");
  }

  // ---- what the API service calls -------------------------------------------------

  status(): ReplicaStatus {
    return this.replica.status();
  }

  /** Whether this node can serve as a member of a cluster (GET /readyz). */
  readiness(): Readiness {
    return readiness(this.nodeId, this.stopped, this.replica.status());
  }

  /** True while the node runs with --insecure (plaintext, nobody authenticated). */
  get insecure(): boolean {
    return this.tls === undefined;
  }

  /** Reloads the TLS directory (SIGHUP); false when there is none or its files fail the checks (the old ones stay). */
  reloadTls(reason: string): boolean {
    return this.tls?.reload(reason) ?? false;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Serves or forwards one client request (src/core/replica/request-path.ts); resolves with its outcome, never rejects. */
  submit(request: ClientRequest): Promise<RequestOutcome> {
    return new Promise((resolve) => this.requestPath.submit(request, resolve));
  }

  /** The node's clocks, as its core reads them (clock faults included): shown in status. */
  get clocks(): { readonly wall: SystemEnvironment["wall"]; readonly monotonic: SystemEnvironment["monotonic"] } {
    return { wall: this.env.wall, monotonic: this.env.monotonic };
  }

  /** This node's VMs (their consoles), or undefined when the node runs no orchestrator. */
  get vmHost(): NodeVmHost | undefined {
    return this.vms;
  }

  /** The orchestrator's cluster state as applied on this node (read-only: serializable, may lag the leader). */
  get clusterView(): ClusterView {
    return this.machine.cluster;
  }

  /** A member's addresses from the replicated book; this node's own are always known. */
  memberAddresses(id: NodeId): MemberAddresses | undefined {
    if (id === this.nodeId && this.apiAddress !== "") return { peer: this.peerAddress, api: this.apiAddress };
    return this.storedAddresses(id);
  }

  /** Exactly what the replicated book (as applied here) says about a member. */
  storedAddresses(id: NodeId): MemberAddresses | undefined {
    return decodeMemberAddresses(this.machine.value(memberKey(id)));
  }

  /** The token book's record for an id, as applied on this node (the gatekeeper's lookup). */
  tokenRecord(id: string): TokenRecord | undefined {
    return decodeTokenRecord(this.machine.value(tokenKey(id)));
  }

  /** What kv watches read on this node (src/shell/api/kv-watch.ts): the change ring, its apply notification, the applied index. */
  kvWatchSource(): KvWatchSource {
    return { changes: this.machine.kv.changes, onChange: (listener) => this.machine.onKvChange(listener), appliedIndex: () => this.replica.core.appliedIndex() };
  }

  /** Every token in the book as applied on this node, by id (at most TOKENS_LISTED_MAX). */
  tokenRecords(): TokenRecord[] {
    return this.machine
      .entriesWithPrefix(TOKEN_KEY_PREFIX, TOKENS_LISTED_MAX)
      .map(([, value]) => decodeTokenRecord(value))
      .filter((record): record is TokenRecord => record !== undefined);
  }

  /** The peer address known for a member (book first, then --initial-cluster). */
  peerAddressOf(id: NodeId): string | undefined {
    return this.memberAddresses(id)?.peer ?? this.config.initialCluster?.get(id);
  }

  /** Cached API clients for a URL (connections are reused): the status fan-out. */
  clientsFor(endpoint: string): ApiClients {
    // Members' API addresses are "host:port" (callers may have made them http:// URLs): this node's security decides the scheme.
    const url = endpointUrl(endpoint.replace(/^https?:\/\//, ""), this.tls === undefined ? "http" : "https");
    let clients = this.clients.get(url);
    if (clients === undefined) {
      clients = createApiClients(url, { timeoutMs: (this.config.requestTimeoutMs ?? defaultReplicaOptions.requestTimeoutMs) + 1_000, tls: this.tls === undefined ? undefined : clientTlsOf(this.tls) });
      this.clients.set(url, clients);
    }
    return clients;
  }

  /** What the API listener's connection limits refused and closed (undefined before it listens). */
  apiStats(): Readonly<ApiServerStats> | undefined {
    return this.api?.stats;
  }

  transportStats(): ReturnType<TcpTransport["stats"]> {
    return this.transport.stats();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.agent?.stop();
    // The agent stops renewing; the VMs and their guards live on (the next incarnation adopts them,
    // or the guards fence them when the lease runs out: docs/VMS.md).
    this.orchestrator?.agent.stop();
    this.orchestrator?.controller.stop();
    this.log.info({ nodeId: this.nodeId, term: this.replica.core.currentTerm(), applied: this.replica.status().raft.applied }, "node stopping");
    // Stop accepting first; then stopping the request path and the replica answers every waiting
    // request (unknown or "stopped"), so the API server drains at once instead of at its grace deadline.
    const apiClosed = this.api?.close();
    this.requestPath.stop();
    this.replica.stop();
    await apiClosed;
    await this.transport.close();
    await this.orchestrator?.closeBackend();
    this.env.timers.cancelAll();
    this.tls?.close();
    this.disk.close();
    this.log.info({ nodeId: this.nodeId }, "node stopped");
  }
}

function validateConfig(config: NodeRuntimeConfig): void {
  assert(Number.isSafeInteger(config.nodeId) && config.nodeId >= 1, "node id must be a positive integer");
  if ((config.initialCluster === undefined) === (config.join === undefined)) {
    throw new StartupError("give exactly one of --initial-cluster and --join");
  }
  if (config.initialCluster !== undefined && !config.initialCluster.has(config.nodeId)) {
    throw new StartupError(`--initial-cluster does not list this node's id ${config.nodeId}`);
  }
  for (const address of [config.peerListen, config.apiListen]) parseHostPort(address);
}

/** The identity a data directory's store holds, or undefined when it has none or it cannot be read (opening the store then says why). */
function storedIdentity(disk: SystemDisk): { readonly clusterId: string } | undefined {
  try {
    return readIdentity(disk);
  } catch (error) {
    if (error instanceof StorageError) return undefined;
    throw error;
  }
}

/** Whether a recovered store has taken part in the cluster: a term, an entry or a snapshot (a fresh joiner's has none). */
function holdsClusterState(recovered: RecoveredState): boolean {
  return recovered.hardState.term > 0 || recovered.entries.length > 0 || recovered.snapshot !== undefined;
}

/**
 * Asks a member for the cluster id and for its own node id and peer address (the membership
 * agent joins through it), retrying until a deadline (the member may be starting too).
 */
async function askJoinTarget(joinUrl: string, token: string | undefined, log: Logger, tls: ClientTls | undefined): Promise<JoinTarget> {
  const clients = createApiClients(tls === undefined ? endpointUrl(joinUrl) : endpointUrl(joinUrl.replace(/^http:\/\//, ""), "https"), { timeoutMs: 2_000, token, tls });
  const deadline = Date.now() + CLUSTER_ID_DEADLINE_MS;
  let lastError = "";
  while (Date.now() < deadline) {
    try {
      const status = await clients.cluster.status({ localOnly: true });
      const self = status.nodes[0];
      if (status.clusterId !== "" && self !== undefined && self.peerAddress !== "" && status.nodeId > 0n) {
        return { clusterId: status.clusterId, nodeId: Number(status.nodeId), peerAddress: self.peerAddress };
      }
      lastError = "the member reported no cluster id, node id or peer address";
    } catch (error) {
      // A refused token will not get better by waiting: say so at once.
      if (error instanceof ConnectError && (error.code === Code.Unauthenticated || error.code === Code.PermissionDenied)) {
        throw new StartupError(`${joinUrl} refused this node's token (${error.rawMessage}): give a token with --join-token-file or BLIXARD_TOKEN`);
      }
      lastError = error instanceof ConnectError ? error.rawMessage : (error as Error).message;
    }
    log.info({ join: joinUrl, error: lastError }, "waiting for the join endpoint");
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new StartupError(`cannot reach ${joinUrl} to join: ${lastError}`);
}

/** A node talks to other nodes' APIs as a client with its own certificate, trusting the cluster's CA. */
function clientTlsOf(directory: TlsDirectory): ClientTls {
  const options = directory.current().options;
  return { caPem: String(options.ca), certPem: String(options.cert), keyPem: String(options.key) };
}
