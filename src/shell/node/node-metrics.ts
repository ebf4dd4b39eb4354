// The node's Prometheus metrics (GET /metrics; every metric is listed in docs/OPERATIONS.md,
// "Health and metrics", and test/shell/api/metrics-docs.test.ts holds the two to each other).
// One registry per node runtime, never prom-client's global one: tests run several nodes in one
// process. What the core already counts (ReplicaStatus, the storage's and the transport's stats,
// the cluster view) is read at scrape time in collect(); only what the shell alone sees (fsync
// latency, API requests) is observed here as it happens. The core knows nothing of prom-client.
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { assert } from "../../core/assert.ts";
import type { NodeId, Role } from "../../core/raft/types.ts";
import type { ReplicaStatus } from "../../core/replica/replica.ts";
import type { ClusterView, VmPhase } from "../../core/cluster/types.ts";
import type { TransportStats } from "../os/tcp-transport.ts";

/** What the metrics read at scrape time. */
export interface NodeMetricsSource {
  readonly nodeId: NodeId;
  status(): ReplicaStatus;
  walBytes(): number;
  transportStats(): TransportStats;
  /** The orchestrator's state as applied here, or undefined when this node runs no orchestrator. */
  clusterViewIfOrchestrating(): ClusterView | undefined;
}

/** blixard_raft_role's value: a numeric code, documented in docs/OPERATIONS.md. */
export const ROLE_CODES: Readonly<Record<Role, number>> = { follower: 0, "pre-candidate": 1, candidate: 2, leader: 3 };

const VM_PHASES: readonly VmPhase[] = ["pending", "scheduled", "starting", "running", "stopping", "stopped", "failed", "deleting"];

/** Seconds: from 100 µs (a page-cache fdatasync on tmpfs) to 2.5 s (a disk in trouble). */
const FSYNC_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** Seconds: from 0.5 ms (a local read) to 10 s (beyond the request timeout). */
const API_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface NodeMetrics {
  readonly registry: Registry;
  /** An fdatasync of a file or an fsync of the data directory took this long. */
  observeSync(kind: "file" | "directory", durationSeconds: number): void;
  /** One API request: `method` is already bounded (a known procedure, a plain path, or "other"). */
  observeApiRequest(method: string, httpStatus: number, durationSeconds: number): void;
}

export function createNodeMetrics(source: NodeMetricsSource): NodeMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ node_id: String(source.nodeId) });
  const status = (): ReplicaStatus => source.status();
  const gauge = (name: string, help: string, read: (status: ReplicaStatus) => number): void => {
    new Gauge({ name, help, registers: [registry], collect() { this.set(read(status())); } });
  };
  // Counters the core keeps: a Gauge could not say "counter" to Prometheus, so these are Counters set at scrape time.
  const counter = (name: string, help: string, read: (status: ReplicaStatus) => number): void => {
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset();
        this.inc(read(status()));
      },
    });
  };
  gauge("blixard_raft_term", "The current Raft term.", (s) => s.raft.hardState.term);
  gauge("blixard_raft_role", "This node's Raft role: 0 follower, 1 pre-candidate, 2 candidate, 3 leader.", (s) => ROLE_CODES[s.raft.role]);
  gauge("blixard_raft_leader_id", "The leader this node knows (0: none).", (s) => s.raft.leaderId);
  gauge("blixard_raft_commit_index", "The highest log index this node knows to be committed.", (s) => s.raft.hardState.commit);
  gauge("blixard_raft_applied_index", "The highest log index applied to this node's state machine.", (s) => s.raft.applied);
  gauge("blixard_raft_last_index", "The last index in this node's log.", (s) => s.raft.lastIndex);
  gauge("blixard_raft_voters", "Voters in the configuration this node knows.", (s) => s.raft.confState.voters.length);
  gauge("blixard_raft_learners", "Learners in the configuration this node knows.", (s) => s.raft.confState.learners.length);
  gauge("blixard_replica_pending_requests", "Commands and reads waiting for their outcome on this node.", (s) => s.pendingCommands + s.pendingReads);
  gauge("blixard_disk_full", "1 while the disk-full alarm is raised (writes refused), else 0.", (s) => (s.diskFull === undefined ? 0 : 1));
  counter("blixard_raft_proposals_total", "Commands and configuration changes accepted into the log here (as leader).", (s) => s.counters.proposals);
  counter("blixard_raft_proposals_rejected_total", "Proposals answered as rejected here (stopped, disk full, overloaded, not the leader, ...).", (s) => s.counters.proposalsRejected);
  counter("blixard_raft_campaigns_total", "Times this node was seen to campaign (its role became candidate, or leader directly).", (s) => s.counters.campaigns);
  counter("blixard_raft_elections_won_total", "Times this node became leader.", (s) => s.counters.electionsWon);
  counter("blixard_raft_leader_changes_total", "Times the known leader changed to another node (changes to 'none' not counted).", (s) => s.counters.leaderChanges);
  counter("blixard_replica_lease_reads_total", "Reads answered from the leader lease without a ReadIndex round.", (s) => s.leaseReads);
  new Gauge({ name: "blixard_wal_bytes", help: "Bytes in the write-ahead log's segments.", registers: [registry], collect() { this.set(source.walBytes()); } });
  new Gauge({
    name: "blixard_peer_queued_messages",
    help: "Raft and client messages queued for a peer, not yet written to its connection.",
    labelNames: ["peer"],
    registers: [registry],
    collect() {
      this.reset();
      for (const peer of source.transportStats().peers) this.set({ peer: String(peer.peer) }, peer.queuedMessages);
    },
  });
  new Counter({
    name: "blixard_peer_dropped_messages_total",
    help: "Messages to a peer that never left (queue full, frame limit, failed dial, unknown address).",
    labelNames: ["peer"],
    registers: [registry],
    collect() {
      this.reset();
      for (const peer of source.transportStats().peers) this.inc({ peer: String(peer.peer) }, peer.droppedMessages);
    },
  });
  new Counter({
    name: "blixard_peer_dropped_queue_full_total",
    help: "Of the dropped messages to a peer, those its queue bound refused.",
    labelNames: ["peer"],
    registers: [registry],
    collect() {
      this.reset();
      for (const peer of source.transportStats().peers) this.inc({ peer: String(peer.peer) }, peer.droppedQueueFull);
    },
  });
  new Counter({
    name: "blixard_peer_sent_messages_total",
    help: "Messages written to a peer's connection.",
    labelNames: ["peer"],
    registers: [registry],
    collect() {
      this.reset();
      for (const peer of source.transportStats().peers) this.inc({ peer: String(peer.peer) }, peer.sentMessages);
    },
  });
  new Gauge({
    name: "blixard_vms",
    help: "VMs by desired-state phase, in the cluster state as applied on this node (absent without the orchestrator).",
    labelNames: ["phase"],
    registers: [registry],
    collect() {
      this.reset();
      const view = source.clusterViewIfOrchestrating();
      if (view === undefined) return;
      const counts = new Map<VmPhase, number>(VM_PHASES.map((phase) => [phase, 0]));
      for (const vm of view.vms()) counts.set(vm.phase, (counts.get(vm.phase) ?? 0) + 1);
      for (const [phase, count] of counts) this.set({ phase }, count);
    },
  });
  new Gauge({
    name: "blixard_node_lease_epoch",
    help: "This node's lease epoch in the cluster state as applied here (0: not registered, or no orchestrator on this node).",
    registers: [registry],
    collect() {
      const view = source.clusterViewIfOrchestrating();
      this.set(view?.node(source.nodeId)?.lease.epoch ?? 0);
    },
  });
  const fsync = new Histogram({ name: "blixard_fsync_duration_seconds", help: "fdatasync of WAL and snapshot files (kind=file) and fsync of the data directory (kind=directory).", labelNames: ["kind"], buckets: FSYNC_BUCKETS_SECONDS, registers: [registry] });
  const apiRequests = new Counter({ name: "blixard_api_requests_total", help: "API requests answered, by procedure or plain path and HTTP status.", labelNames: ["method", "code"], registers: [registry] });
  const apiDuration = new Histogram({ name: "blixard_api_request_duration_seconds", help: "API request latency, from its headers to its answer's end, by procedure or plain path and HTTP status.", labelNames: ["method", "code"], buckets: API_BUCKETS_SECONDS, registers: [registry] });
  return {
    registry,
    observeSync(kind, durationSeconds) {
      assert(durationSeconds >= 0, "a duration is not negative");
      fsync.observe({ kind }, durationSeconds);
    },
    observeApiRequest(method, httpStatus, durationSeconds) {
      assert(durationSeconds >= 0 && Number.isInteger(httpStatus), "a duration is not negative and a status is an integer");
      const labels = { method, code: String(httpStatus) };
      apiRequests.inc(labels);
      apiDuration.observe(labels, durationSeconds);
    },
  };
}

/**
 * The `method` label of a request path: a procedure this node serves, a plain path, or "other"
 * (label values must be bounded: a client could send any path).
 */
export function apiMethodLabel(path: string, known: ReadonlySet<string>): string {
  if (known.has(path)) return path.slice(1);
  return "other";
}
