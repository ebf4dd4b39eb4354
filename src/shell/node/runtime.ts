// The real node: the replica driver the simulator runs (src/core/replica/replica.ts), wired
// to the operating system (src/shell/os/system-environment.ts), the TCP peer transport
// ((src/core/wire, src/shell/os)) and the Connect API ((src/shell/api)). Nothing about consensus or the state
// machine lives here: this file only starts, connects and stops things.
//
// Startup order: storage (identity check, recovery), peer listener, replica, API
// listener; then, in the background, joining (--join) and announcing this node's
// addresses in the replicated address book (address-book.ts). Each failure before
// the node runs is a StartupError with a one-line message.
//
// Shutdown (SIGTERM): stop accepting API requests, stop the replica (waiting
// clients are told "stopped"), flush and close peer connections, close files.
import { createHash } from "node:crypto";
import { ConnectError } from "@connectrpc/connect";
import { assert } from "../../core/assert.ts";
import type { Logger } from "../../core/env/environment.ts";
import { SystemDisk } from "../os/system-disk.ts";
import { createSystemEnvironment, type SystemEnvironment } from "../os/system-environment.ts";
import { ListenError, TcpTransport } from "../os/tcp-transport.ts";
import { parseHostPort } from "../os/address.ts";
import type { ConfChange, ConfState, NodeId } from "../../core/raft/types.ts";
import { RaftStorage, StorageError } from "../../core/storage/raft-storage.ts";
import { encodeKvCommand, KvStateMachine, type KvCommand, type KvResult } from "../../core/replica/kv-state-machine.ts";
import { decodeMemberAddresses, encodeMemberAddresses, memberKey, type MemberAddresses } from "../../core/replica/address-book.ts";
import { createNodeProcess, type KvReplica } from "../../core/replica/node-process.ts";
import { defaultRaftTuning, defaultReplicaOptions, type CommandOutcome, type ReadOutcome, type ReplicaStatus, type TransferOutcome } from "../../core/replica/replica.ts";
import { startApiServer, type ApiServer } from "../api/http-server.ts";
import { createNodeRoutes, createNodeServices } from "../api/services.ts";
import { createConnectUnaryHandler } from "../api/connect-unary.ts";
import { ClusterService } from "../api/gen/blixard/v1/cluster_pb.ts";
import { KvService } from "../api/gen/blixard/v1/kv_pb.ts";
import { createApiClients, endpointUrl, type ApiClients } from "../api/client.ts";

export interface NodeRuntimeConfig {
  readonly nodeId: NodeId;
  readonly peerListen: string;
  readonly apiListen: string;
  /** Addresses other nodes use to reach this one; default: the listen addresses. */
  readonly advertisePeer?: string;
  readonly advertiseApi?: string;
  readonly dataDir: string;
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
  readonly log: Logger;
  /** Serve every request through connect-node, without the unary fast path (tests compare both). */
  readonly plainConnectOnly?: boolean;
  /** Called when the node must stop on its own (a failed fsync): the process should exit non-zero. */
  readonly onFatal?: (error: Error) => void;
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

/** How often a node re-checks that the address book holds its current addresses. */
const ANNOUNCE_INTERVAL_MS = 1_000;
/** Until the book holds this node's addresses, check more often: followers forward to the leader by them. */
const ANNOUNCE_PENDING_INTERVAL_MS = 200;
const JOIN_RETRY_MAX_MS = 2_000;
const CLUSTER_ID_DEADLINE_MS = 30_000;

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
  private readonly machine: KvStateMachine;
  private readonly replica: KvReplica;
  private api: ApiServer | undefined;
  private stopped = false;
  private backgroundTimer: NodeJS.Timeout | undefined;
  private announcing = false;
  private joined: boolean;
  private readonly clients = new Map<string, ApiClients>();

  private constructor(parts: {
    config: NodeRuntimeConfig;
    clusterId: string;
    env: SystemEnvironment;
    disk: SystemDisk;
    transport: TcpTransport;
    machine: KvStateMachine;
    replica: KvReplica;
    peerAddress: string;
    apiAddress: string;
  }) {
    this.config = parts.config;
    this.nodeId = parts.config.nodeId;
    this.clusterId = parts.clusterId;
    this.log = parts.config.log;
    this.env = parts.env;
    this.disk = parts.disk;
    this.transport = parts.transport;
    this.machine = parts.machine;
    this.replica = parts.replica;
    this.peerAddress = parts.peerAddress;
    this.apiAddress = parts.apiAddress;
    this.joined = parts.config.join === undefined;
  }

  static async start(config: NodeRuntimeConfig): Promise<NodeRuntime> {
    validateConfig(config);
    const log = config.log;
    const clusterId = config.clusterId ?? (config.initialCluster !== undefined ? clusterIdFromMembers(config.initialCluster) : await askClusterId(config.join!, log));
    const bootstrap: ConfState = config.initialCluster !== undefined ? { voters: [...config.initialCluster.keys()].sort((a, b) => a - b), learners: [] } : { voters: [], learners: [] };

    let disk: SystemDisk;
    try {
      disk = new SystemDisk(config.dataDir);
    } catch (error) {
      throw new StartupError(`cannot use data directory ${config.dataDir}: ${(error as Error).message}`);
    }
    const storage = await new Promise<RaftStorage | StorageError>((resolve) => RaftStorage.open(disk, { nodeId: config.nodeId, clusterId }, bootstrap, {}, resolve));
    if (storage instanceof StorageError) {
      disk.close();
      if (storage.code === "identity-mismatch") throw new StartupError(`data directory ${config.dataDir} belongs to another node or cluster: ${storage.message}`);
      if (storage.code === "corrupt") throw new StartupError(`${storage.message}; refusing to start (see docs/ARCHITECTURE.md, corruption policy)`);
      throw new StartupError(storage.message);
    }

    // The replica's raft channel registers itself as the transport's receiver.
    let resolvePeer: (peer: NodeId) => string | undefined = (peer) => config.initialCluster?.get(peer);
    const transport = new TcpTransport({
      nodeId: config.nodeId,
      clusterId,
      listen: config.peerListen,
      resolve: (peer) => resolvePeer(peer),
      log,
    });
    let peerBound: string;
    try {
      peerBound = await transport.listen();
    } catch (error) {
      disk.close();
      if (error instanceof ListenError) throw new StartupError(error.message);
      throw error;
    }
    const env = createSystemEnvironment({ nodeId: config.nodeId, disk, transport, log });
    const started: { runtime?: NodeRuntime } = {};
    const { replica, machine } = createNodeProcess(env, storage, {
      ...defaultReplicaOptions,
      tickMs: config.tickMs ?? defaultReplicaOptions.tickMs,
      requestTimeoutMs: config.requestTimeoutMs ?? defaultReplicaOptions.requestTimeoutMs,
      snapshotEveryEntries: config.snapshotEveryEntries ?? defaultReplicaOptions.snapshotEveryEntries,
      raft: { ...defaultRaftTuning, electionTicks: config.electionTicks ?? defaultRaftTuning.electionTicks },
      onFatal: (error) => {
        log.error({ error: error.message }, "node stopping: fatal storage error");
        void started.runtime?.stop();
        config.onFatal?.(error);
      },
    });
    const peerAddress = config.advertisePeer ?? peerBound;
    const self = new NodeRuntime({ config, clusterId, env, disk, transport, machine, replica, peerAddress, apiAddress: "" });
    started.runtime = self;
    resolvePeer = (peer) => self.memberAddresses(peer)?.peer ?? config.initialCluster?.get(peer);
    replica.start();
    try {
      const services = createNodeServices(self);
      const fastPath = config.plainConnectOnly === true ? undefined : createConnectUnaryHandler([[KvService, services.kv], [ClusterService, services.cluster]]);
      const api = await startApiServer(config.apiListen, createNodeRoutes(services), fastPath);
      self.api = api;
      (self as { apiAddress: string }).apiAddress = config.advertiseApi ?? api.address;
    } catch (error) {
      await self.stop();
      if (error instanceof ListenError) throw new StartupError(error.message);
      throw error;
    }
    log.info({ nodeId: config.nodeId, clusterId, peer: self.peerAddress, api: self.apiAddress, dataDir: config.dataDir, recoveredCommit: storage.recovered.hardState.commit }, "node started");
    self.scheduleBackground(0);
    return self;
  }

  // ---- what the API service calls -------------------------------------------------

  status(): ReplicaStatus {
    return this.replica.status();
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  submitKv(command: KvCommand): Promise<CommandOutcome<KvResult>> {
    const bytes = encodeKvCommand(command);
    return new Promise((resolve) => this.replica.submit(bytes, resolve));
  }

  /** Linearizable (ReadIndex) read. */
  readKv(key: string): Promise<ReadOutcome<string>> {
    return new Promise((resolve) => this.replica.read({ key }, resolve));
  }

  /** Serializable read of this node's applied state (possibly stale). */
  readLocal(key: string): { value: string; index: number } {
    return { value: this.machine.query({ key }), index: this.replica.status().raft.applied };
  }

  changeMembership(change: ConfChange): Promise<CommandOutcome<ConfState>> {
    return new Promise((resolve) => this.replica.changeMembership(change, resolve));
  }

  /** A joining node learns its membership from a snapshot: make sure this leader has one to send. */
  ensureSnapshotForJoiners(): void {
    const raft = this.replica.status().raft;
    if (raft.leaderId === this.nodeId && raft.snapshotIndex === 0 && raft.applied > 0) this.replica.requestSnapshot();
  }

  transferLeadership(target: NodeId): Promise<TransferOutcome> {
    return new Promise((resolve) => this.replica.transferLeadership(target, resolve));
  }

  /** A member's addresses from the replicated book; this node's own are always known. */
  memberAddresses(id: NodeId): MemberAddresses | undefined {
    if (id === this.nodeId && this.apiAddress !== "") return { peer: this.peerAddress, api: this.apiAddress };
    return this.storedAddresses(id);
  }

  /** Exactly what the replicated book (as applied here) says about a member. */
  storedAddresses(id: NodeId): MemberAddresses | undefined {
    return decodeMemberAddresses(this.machine.query({ key: memberKey(id) }));
  }

  /** The peer address known for a member (book first, then --initial-cluster). */
  peerAddressOf(id: NodeId): string | undefined {
    return this.memberAddresses(id)?.peer ?? this.config.initialCluster?.get(id);
  }

  /** Cached API clients for a URL (connections are reused). */
  clientsFor(url: string): ApiClients {
    let clients = this.clients.get(url);
    if (clients === undefined) {
      clients = createApiClients(url, { timeoutMs: (this.config.requestTimeoutMs ?? defaultReplicaOptions.requestTimeoutMs) + 1_000 });
      this.clients.set(url, clients);
    }
    return clients;
  }

  transportStats(): ReturnType<TcpTransport["stats"]> {
    return this.transport.stats();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.backgroundTimer !== undefined) clearTimeout(this.backgroundTimer);
    this.log.info({ nodeId: this.nodeId }, "node stopping");
    // Stop accepting first; then stopping the replica answers every waiting request
    // ("stopped"), so the API server drains at once instead of at its grace deadline.
    const apiClosed = this.api?.close();
    this.replica.stop();
    await apiClosed;
    await this.transport.close();
    this.env.timers.cancelAll();
    this.disk.close();
    this.log.info({ nodeId: this.nodeId }, "node stopped");
  }

  // ---- background: joining and announcing addresses --------------------------------

  private scheduleBackground(delayMs: number): void {
    if (this.stopped) return;
    this.backgroundTimer = setTimeout(() => {
      this.backgroundTimer = undefined;
      void this.background().then((nextDelayMs) => this.scheduleBackground(nextDelayMs));
    }, delayMs);
  }

  /** One round of background work; returns the delay before the next round. */
  private async background(): Promise<number> {
    if (this.stopped) return ANNOUNCE_INTERVAL_MS;
    try {
      if (!this.joined) {
        await this.clientsFor(this.config.join!).cluster.addLearner({ nodeId: BigInt(this.nodeId), peerAddress: this.peerAddress, apiAddress: this.apiAddress });
        this.joined = true;
        this.log.info({ via: this.config.join }, "joined the cluster as a learner");
      }
      await this.announce();
      // A leader elected after a learner was added may never have compacted either.
      if (this.replica.status().raft.confState.learners.length > 0) this.ensureSnapshotForJoiners();
      const stored = this.storedAddresses(this.nodeId);
      return stored?.peer === this.peerAddress && stored.api === this.apiAddress ? ANNOUNCE_INTERVAL_MS : ANNOUNCE_PENDING_INTERVAL_MS;
    } catch (error) {
      const message = error instanceof ConnectError ? error.rawMessage : (error as Error).message;
      this.log.debug({ error: message, joined: this.joined }, "background round failed; retrying");
      return this.joined ? ANNOUNCE_INTERVAL_MS : Math.min(JOIN_RETRY_MAX_MS, 250 + Math.floor(Math.random() * 250));
    }
  }

  /** Writes this node's addresses into the book when they are missing or stale (members only). */
  private async announce(): Promise<void> {
    if (this.announcing) return;
    const status = this.replica.status().raft;
    const isMember = status.confState.voters.includes(this.nodeId) || status.confState.learners.includes(this.nodeId);
    if (!isMember || status.leaderId === 0) return;
    const stored = this.storedAddresses(this.nodeId);
    if (stored !== undefined && stored.peer === this.peerAddress && stored.api === this.apiAddress) return;
    this.announcing = true;
    try {
      if (status.leaderId === this.nodeId) {
        const outcome = await this.submitKv({ op: "put", key: memberKey(this.nodeId), value: encodeMemberAddresses({ peer: this.peerAddress, api: this.apiAddress }) });
        if (outcome.status !== "ok") this.log.debug({ outcome }, "announcing addresses did not commit yet");
        return;
      }
      const leaderApi = this.memberAddresses(status.leaderId)?.api;
      if (leaderApi === undefined) return;
      await this.clientsFor(endpointUrl(leaderApi)).cluster.addLearner({
        nodeId: BigInt(this.nodeId),
        peerAddress: this.peerAddress,
        apiAddress: this.apiAddress,
        addressesOnly: true,
      });
    } finally {
      this.announcing = false;
    }
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

/** Asks a member for the cluster id, retrying until a deadline (the member may be starting too). */
async function askClusterId(joinUrl: string, log: Logger): Promise<string> {
  const clients = createApiClients(endpointUrl(joinUrl), { timeoutMs: 2_000 });
  const deadline = Date.now() + CLUSTER_ID_DEADLINE_MS;
  let lastError = "";
  while (Date.now() < deadline) {
    try {
      const status = await clients.cluster.status({ localOnly: true });
      if (status.clusterId !== "") return status.clusterId;
      lastError = "the member reported no cluster id";
    } catch (error) {
      lastError = error instanceof ConnectError ? error.rawMessage : (error as Error).message;
    }
    log.info({ join: joinUrl, error: lastError }, "waiting for the join endpoint");
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new StartupError(`cannot reach ${joinUrl} to join: ${lastError}`);
}
