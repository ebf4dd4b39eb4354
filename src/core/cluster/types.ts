// The orchestrator's vocabulary: what the replicated cluster state holds (nodes, VMs,
// tenants, IP pools), the commands that change it, their results and the events they
// emit. One definition for the state machine (cluster-state.ts), the scheduler
// (src/core/scheduler/), the node agents (src/core/agent/), the controller on the leader,
// the request path and the simulator's checkers.
//
// Numbers. Every quantity is a non-negative safe integer: resources in whole vCPUs, MiB and
// GiB, ratios in per-mille (1000 = 1.0), time in microseconds. Nothing that decides uses a
// float, so every replica and every engine computes the same state.
//
// Time. The state machine never reads a clock. Commands carry `stampUs`, the proposer's
// wall clock, for the humans reading events only; nothing decides by it. Leases are
// measured by each process on its own monotonic clock, against Raft indexes
// (docs/FENCING.md): the state records *at which index* a lease was renewed, never when.
//
// Identity. A VM is named (tenant, name), unique while it exists; its `id` is the Raft
// index of the entry that created it, so ids are unique forever and equal on every replica.

import type { NodeId } from "../raft/types.ts";

export type { NodeId };

// ---------------------------------------------------------------------------------------
// Limits: every collection in the state is bounded, and the proposer and apply check the
// same numbers (one definition, used on every path).

export const CLUSTER_LIMITS = {
  nodesMax: 10_000,
  vmsMax: 200_000,
  tenantsMax: 10_000,
  ipPoolsMax: 256,
  /** Text fields: names, labels, image paths, tenant names (UTF-8 bytes). */
  nameBytesMax: 63,
  labelKeyBytesMax: 63,
  labelValueBytesMax: 255,
  labelsMax: 64,
  featuresMax: 64,
  pathBytesMax: 4_096,
  kernelCmdlineBytesMax: 4_096,
  interfacesMax: 8,
  portForwardsMax: 16,
  constraintsMax: 32,
  /** Entries in one placements-commit command (the scheduler's batch). */
  placementsPerCommandMax: 4_096,
  /** VM reports in one observed-state command. */
  reportsPerCommandMax: 1_024,
  /** Events kept for watchers; older ones are dropped (a watcher from before them must re-list). */
  eventsRetainedMax: 100_000,
  /** Client request ids remembered for idempotency (oldest forgotten first). */
  requestIdsRetainedMax: 100_000,
  requestIdBytesMax: 64,
  /** An encoded command (the request path refuses bigger ones). */
  commandBytesMax: 1024 * 1024,
  priorityMax: 1_000,
  vcpusMax: 1_024,
  memoryMibMax: 16 * 1024 * 1024,
  diskGibMax: 1024 * 1024,
} as const;

// ---------------------------------------------------------------------------------------
// Nodes

export interface Resources {
  readonly vcpus: number;
  readonly memoryMib: number;
  readonly diskGib: number;
}

export interface Topology {
  readonly datacenter: string;
  readonly zone: string;
  readonly rack: string;
}

/**
 * How much a node may promise beyond its capacity: allocatable = capacity * ratio / 1000 - reserve,
 * per resource, in integer math (floor). Ratio 1000 is no overcommit.
 */
export interface OvercommitPolicy {
  readonly cpuPermille: number;
  readonly memoryPermille: number;
  readonly diskPermille: number;
  /** Held back for the host itself. */
  readonly reserve: Resources;
}

/** ready: takes new VMs. cordoned: keeps its VMs, takes no new ones. draining: its VMs move off. down: its lease expired; its VMs run elsewhere. */
export type NodeState = "ready" | "cordoned" | "draining" | "down";

/**
 * A node's lease. The epoch starts at 1 at registration and grows by one every time the node is
 * declared down (a node that comes back registers again and gets the next epoch), so a fencing
 * token from before a down is stale forever. renewedIndex is the Raft index of the heartbeat that
 * last renewed it (or of the registration).
 */
export interface NodeLease {
  readonly epoch: number;
  readonly renewedIndex: number;
}

export interface NodeRegistration {
  readonly id: NodeId;
  /** Where the node's API listens (HOST:PORT), for operators; may be "". */
  readonly address: string;
  readonly capacity: Resources;
  readonly overcommit: OvercommitPolicy;
  /** Sorted by key; keys unique. */
  readonly labels: readonly Label[];
  /** Sorted, unique (e.g. "kvm", "gpu"). */
  readonly features: readonly string[];
  readonly topology: Topology;
}

export interface Label {
  readonly key: string;
  readonly value: string;
}

export interface NodeRecord extends NodeRegistration {
  readonly state: NodeState;
  readonly lease: NodeLease;
  /** Resources promised to the VMs assigned to this node (every VM whose assignment is this node, whatever its state). */
  readonly allocated: Resources;
  /** Generation of this record: grows on every change to it. */
  readonly generation: number;
}

// ---------------------------------------------------------------------------------------
// VMs

export type VmId = number;

export interface VmImage {
  readonly kernel: string;
  readonly initrd: string;
  /** "" when the VM boots from its initrd alone. */
  readonly rootDisk: string;
}

export interface PortForward {
  readonly protocol: "tcp" | "udp";
  readonly hostPort: number;
  readonly guestPort: number;
}

export interface NetworkInterfaceSpec {
  /** "user" (QEMU user-mode networking) now; "tap" and "bridge" later. */
  readonly mode: "user";
  /** An IP pool to take an address and a MAC from, or "" for none. */
  readonly ipPool: string;
  readonly portForwards: readonly PortForward[];
}

/** always: restart whenever it stops. on-failure: only when it exits with an error or fails its health check. never. */
export type RestartPolicy = "always" | "on-failure" | "never";

export type HealthCheck =
  | { readonly kind: "none" }
  | { readonly kind: "process" }
  | { readonly kind: "tcp"; readonly port: number; readonly intervalMs: number; readonly timeoutMs: number; readonly failuresMax: number }
  | { readonly kind: "http"; readonly port: number; readonly path: string; readonly expectStatus: number; readonly intervalMs: number; readonly timeoutMs: number; readonly failuresMax: number }
  | { readonly kind: "console"; readonly pattern: string; readonly withinMs: number };

export interface AntiAffinity {
  /** "" for none. VMs of one tenant with the same group avoid sharing a node. */
  readonly group: string;
  /** hard: never two on one node (or more than maxPerNode); soft: allowed, but each one lowers the node's score by weight. */
  readonly mode: "hard" | "soft";
  /** 1..1000: how much a soft conflict costs. */
  readonly weight: number;
  /** Hard mode: at most this many of the group per node (usually 1). */
  readonly maxPerNode: number;
}

export type PlacementConstraint =
  | { readonly kind: "label"; readonly key: string; readonly value: string }
  | { readonly kind: "feature"; readonly feature: string }
  | { readonly kind: "datacenter"; readonly mode: "require" | "prefer" | "exclude"; readonly value: string }
  | { readonly kind: "zone"; readonly mode: "require" | "prefer" | "exclude"; readonly value: string }
  /** Spread the VM's anti-affinity group (or, without one, the tenant's VMs) across this failure domain. */
  | { readonly kind: "spread"; readonly domain: "datacenter" | "zone" | "rack" }
  | { readonly kind: "pinned"; readonly nodeId: NodeId };

export interface VmSpec {
  readonly tenant: string;
  readonly name: string;
  readonly resources: Resources;
  readonly image: VmImage;
  readonly kernelCmdline: string;
  readonly interfaces: readonly NetworkInterfaceSpec[];
  /** 0..1000; higher wins preemption. */
  readonly priority: number;
  readonly preemptible: boolean;
  readonly restartPolicy: RestartPolicy;
  readonly healthCheck: HealthCheck;
  readonly antiAffinity: AntiAffinity;
  readonly constraints: readonly PlacementConstraint[];
}

export type DesiredState = "running" | "stopped";

/**
 * The lifecycle (docs/ORCHESTRATOR.md holds the table of transitions and who causes each):
 *   pending    desired running, no node assigned (waiting for the scheduler or for capacity)
 *   scheduled  assigned to a node, which has not reported it starting yet
 *   starting   the node's agent is booting it
 *   running    the agent reports it running (and healthy, when it has a health check)
 *   stopping   desired stopped (or being moved/evicted); the agent is stopping it
 *   stopped    not running, desired stopped
 *   failed     the restart policy gave up, or it can never be placed as specified
 *   deleting   deleted by a client; its node is stopping it, then the record goes
 */
export type VmPhase = "pending" | "scheduled" | "starting" | "running" | "stopping" | "stopped" | "failed" | "deleting";

/**
 * The right to run one placement of one VM: the assigned node's lease epoch at assignment, and
 * the VM's placement generation (grows with every new assignment). A backend starts a VM only
 * with a token at least as new as every token it has seen for that VM, and an agent only with
 * its own current epoch.
 */
export interface FencingToken {
  readonly nodeId: NodeId;
  readonly epoch: number;
  readonly placement: number;
}

export interface IpAssignment {
  readonly pool: string;
  readonly address: string;
  readonly mac: string;
}

export interface VmRecord {
  readonly id: VmId;
  readonly spec: VmSpec;
  readonly desired: DesiredState;
  readonly phase: VmPhase;
  /** 0 when unassigned. */
  readonly nodeId: NodeId;
  /** Valid while nodeId != 0; the last token otherwise (its placement number keeps growing). */
  readonly token: FencingToken;
  /** Grows by one on every change to this record (the compare-and-set handle). */
  readonly generation: number;
  /** What the node's agent last reported (index of that report, its words). */
  readonly observed: ObservedVm;
  /** One address per interface with an ipPool, in interface order. */
  readonly addresses: readonly IpAssignment[];
  /** Restarts on the current placement (the agent's backoff reads it). */
  readonly restarts: number;
  /** Why it is pending or failed ("" otherwise): the scheduler's explanation or the last error. */
  readonly reason: string;
  /**
   * Added by the cluster state: the node a vm-migrate asked for, remembered from the migrate until
   * the VM is placed again (the scheduler should prefer it). Absent when none was asked for.
   */
  readonly migrateTargetNodeId?: NodeId;
}

export type ObservedPhase = "unknown" | "starting" | "running" | "stopped" | "exited" | "crashed" | "unhealthy";

export interface ObservedVm {
  readonly phase: ObservedPhase;
  readonly index: number;
  readonly detail: string;
}

// ---------------------------------------------------------------------------------------
// Tenants and IP pools

export interface Quota {
  readonly vmsMax: number;
  readonly vcpusMax: number;
  readonly memoryMibMax: number;
  readonly diskGibMax: number;
  /** VMs of this tenant on one node. */
  readonly vmsPerNodeMax: number;
}

export interface TenantRecord {
  readonly name: string;
  readonly quota: Quota;
  /** Exact: the sum over the tenant's VMs (every VM that exists counts, whatever its phase). */
  readonly usage: { readonly vms: number; readonly resources: Resources };
}

export interface IpPoolSpec {
  readonly name: string;
  /** IPv4 CIDR, e.g. "10.0.0.0/24". */
  readonly cidr: string;
  readonly gateway: string;
  /** Addresses never handed out (besides network, broadcast and gateway). */
  readonly reserved: readonly string[];
}

// ---------------------------------------------------------------------------------------
// Commands. Every command is wrapped in an envelope; the body says what to do.

export interface CommandEnvelope {
  /** The proposer's wall clock (µs), shown in events; nothing decides by it. */
  readonly stampUs: number;
  /** A client's idempotency key ("" for none): a retried command with a known id takes effect once and answers the first result. */
  readonly requestId: string;
  readonly body: ClusterCommand;
}

/** A placement the scheduler decided; applied only if the VM is still at `expectedGeneration` and the node still fits it. */
export interface PlacementEntry {
  readonly vmId: VmId;
  readonly expectedGeneration: number;
  readonly nodeId: NodeId;
}

/** A VM to evict so that a higher-priority one fits. */
export interface EvictionEntry {
  readonly vmId: VmId;
  readonly expectedGeneration: number;
  /** The VM whose placement needs the room. */
  readonly forVmId: VmId;
}

export interface VmReport {
  readonly vmId: VmId;
  /** The placement number of the token the agent acted on (reports about older placements are ignored). */
  readonly placement: number;
  readonly phase: ObservedPhase;
  readonly detail: string;
}

export type ClusterCommand =
  // Nodes
  | { readonly kind: "node-register"; readonly node: NodeRegistration }
  | { readonly kind: "node-heartbeat"; readonly nodeId: NodeId; readonly epoch: number }
  | { readonly kind: "node-set-state"; readonly nodeId: NodeId; readonly state: "ready" | "cordoned" | "draining" }
  /** From the controller: the node's lease (epoch) expired with no renewal after renewedIndex. Refused if it was renewed since. */
  | { readonly kind: "node-declare-down"; readonly nodeId: NodeId; readonly epoch: number; readonly renewedIndex: number }
  /** Only a node with no VMs assigned. */
  | { readonly kind: "node-remove"; readonly nodeId: NodeId }
  // VMs
  | { readonly kind: "vm-create"; readonly spec: VmSpec; readonly desired: DesiredState }
  /** Replaces the spec (name and tenant unchanged); a running VM takes the new spec at its next placement. */
  | { readonly kind: "vm-update"; readonly vmId: VmId; readonly expectedGeneration: number; readonly spec: VmSpec }
  | { readonly kind: "vm-set-desired"; readonly vmId: VmId; readonly expectedGeneration: number; readonly desired: DesiredState }
  | { readonly kind: "vm-delete"; readonly vmId: VmId; readonly expectedGeneration: number }
  /** Cold migration: stop it where it is, then place it again (on targetNodeId, or where the scheduler says when 0). */
  | { readonly kind: "vm-migrate"; readonly vmId: VmId; readonly expectedGeneration: number; readonly targetNodeId: NodeId }
  /**
   * The scheduler's batch, from the controller or a client's plan. checkIndex: the applied index the
   * plan was computed at; when nonzero and any VM or node it touches changed after it, the whole command is refused.
   */
  | { readonly kind: "placements-commit"; readonly checkIndex: number; readonly placements: readonly PlacementEntry[]; readonly evictions: readonly EvictionEntry[] }
  /** From a node's agent, under its current epoch (refused otherwise). */
  | { readonly kind: "vm-observed"; readonly nodeId: NodeId; readonly epoch: number; readonly reports: readonly VmReport[] }
  /** From the controller: the restart policy gave up, or the VM can never be placed. */
  | { readonly kind: "vm-fail"; readonly vmId: VmId; readonly expectedGeneration: number; readonly reason: string }
  // Tenants and pools
  | { readonly kind: "tenant-set"; readonly name: string; readonly quota: Quota }
  | { readonly kind: "tenant-remove"; readonly name: string }
  | { readonly kind: "ip-pool-create"; readonly pool: IpPoolSpec }
  | { readonly kind: "ip-pool-remove"; readonly name: string };

export type ClusterCommandKind = ClusterCommand["kind"];

/** Why a command was refused. Every replica refuses the same command for the same reason; nothing changed. */
export type RejectionCode =
  | "invalid" // malformed: a field out of range (the message names it)
  | "not-found" // unknown node, VM, tenant or pool
  | "already-exists" // name taken, node registered, pool exists
  | "stale-generation" // expectedGeneration does not match
  | "stale-epoch" // a heartbeat or report under an old lease
  | "stale-plan" // placements-commit's checkIndex is older than a change it touches
  | "quota-exceeded" // names the quota
  | "no-capacity" // the node cannot hold it, or no node could ever hold the spec
  | "conflict" // the transition is not allowed from the current phase/state (names both)
  | "limit-exceeded" // a cluster limit (CLUSTER_LIMITS) would be passed
  | "pool-exhausted";

export type ClusterResult =
  | { readonly status: "ok"; readonly detail: ClusterOkDetail }
  | { readonly status: "rejected"; readonly code: RejectionCode; readonly message: string };

export type ClusterOkDetail =
  | { readonly kind: "none" }
  | { readonly kind: "node"; readonly node: NodeRecord }
  | { readonly kind: "vm"; readonly vm: VmRecord }
  /** placements-commit: which entries applied (a VM that moved on since is skipped, not an error). */
  | { readonly kind: "placements"; readonly placed: readonly VmId[]; readonly skipped: readonly VmId[]; readonly evicted: readonly VmId[] };

// ---------------------------------------------------------------------------------------
// Events: every change, in log order, for watchers (like Nomad's event stream).

export type ClusterEventKind =
  | "node-registered"
  | "node-state-changed"
  | "node-down"
  | "node-removed"
  | "vm-created"
  | "vm-updated"
  | "vm-scheduled"
  | "vm-started"
  | "vm-stopped"
  | "vm-failed"
  | "vm-evicted"
  | "vm-migrated"
  | "vm-fenced"
  | "vm-deleted"
  | "tenant-changed"
  | "ip-pool-changed";

export interface ClusterEvent {
  /** The Raft index of the command that caused it; several events may share one index. */
  readonly index: number;
  /** Position among the events of that index. */
  readonly sequence: number;
  readonly kind: ClusterEventKind;
  readonly stampUs: number;
  readonly nodeId: NodeId;
  readonly vmId: VmId;
  readonly detail: string;
}

// ---------------------------------------------------------------------------------------
// Reads. The scheduler, the controller and the agents read the applied state through this view;
// iteration is in ascending id order, so every reader sees the same order on every replica.

export interface ClusterView {
  /** The index of the last command applied to this state. */
  readonly appliedIndex: number;
  node(id: NodeId): NodeRecord | undefined;
  /** Ascending id order. */
  nodes(): Iterable<NodeRecord>;
  vm(id: VmId): VmRecord | undefined;
  vmByName(tenant: string, name: string): VmRecord | undefined;
  /** Ascending id order. */
  vms(): Iterable<VmRecord>;
  /** The VMs assigned to a node, ascending id order. */
  vmsOnNode(nodeId: NodeId): Iterable<VmRecord>;
  tenant(name: string): TenantRecord | undefined;
  /** Events with index > afterIndex, in order, at most `limit` of them; `truncated` when events after afterIndex were already dropped. */
  eventsAfter(afterIndex: number, limit: number): { readonly events: readonly ClusterEvent[]; readonly truncated: boolean };
}
