// The safety properties the simulator checks after every step, each named with its
// one-line statement (docs/SIMULATION.md repeats them). Checks are incremental: the
// monitor keeps a mirror of every node's durable log (built from the batches the
// replica persists and the state it recovers) with a running prefix hash per entry,
// and global tables of leaders, committed entries and applied entries, so a step
// costs O(what changed), not O(log length).
//
// Observation points, all fed by the cluster:
//   messageSent     every message a node hands to its network (votes are checked here);
//   persisted       a persist batch completed (durable, since entries always sync);
//   recovered       a node restarted and read its disk;
//   applied/restored/acknowledged   the state machine side and client acknowledgements;
//   afterStep       a node ran (a tick, a message, a disk completion): role, term, indexes.

import { assert } from "../assert.ts";
import type { Entry, HardState, Message, NodeId, RaftCore, RecoveredState, Snapshot } from "../raft/types.ts";
import { combine, hashBytes } from "./hash.ts";

export const PROPERTIES = {
  "Election Safety": "at most one leader can be elected in a given term",
  "Leader Append-Only": "a leader never overwrites or deletes entries in its log; it only appends new entries",
  "Log Matching": "if two logs contain an entry with the same index and term, the logs are identical in all entries up through that index",
  "Leader Completeness": "if a log entry is committed in a given term, it is present in the logs of the leaders of all higher-numbered terms",
  "State Machine Safety": "if a server has applied (or committed) a log entry at a given index, no other server ever applies (or commits) a different entry at that index",
  "Term Monotonic": "a node's currentTerm never decreases, within a run of the process and across crashes (as made durable)",
  "Single Vote": "a node grants at most one vote per term, across crashes",
  "Commit Monotonic": "a node's commit index never decreases while it runs, and its durable commit index never decreases across crashes",
  "Applied Monotonic": "a node's applied index never decreases while it runs",
  "Index Order": "on every node, applied <= committed <= last log index",
  "Leader Commits Own Term":
    "a leader moves its commit index, by counting replicas, only to an entry of its own term (earlier terms' entries commit only beneath one: Raft section 5.4.2, Figure 8)",
  "Commit Is Replicated": "a leader moves its commit index, by counting, only to an entry the durable logs of a majority of its current voters hold (learners and removed nodes never count)",
  Durability: "an entry acknowledged to a client as committed stays on a quorum of disks (it is never lost while a quorum of disks survives)",
  "Committed Data Intact":
    "committed data is never lost or altered: what a node recovers from its disk holds every entry it had made durable, and every recovered entry at a committed index has the committed term and bytes",
  "No Stale Read": "a read never returns a value older than a write acknowledged before the read was invoked",
  "Lease Held":
    "a leader answers a read from its lease only while a quorum of voters still keeps the promise the lease rests on: each is the leader, down, or refuses campaigns because it heard from a leader (or started) within the election timeout",
  "No Assertion Failure": "node code never fails one of its own assertions (nor throws any other error)",
  Linearizability: "the whole client history is linearizable under the key-value model: some order of its operations, each taking effect between its invocation and its completion, explains every result",
  "Clean Disk Starts": "a node whose disk was never corrupted never refuses to start as corrupt",
  "Minority Refusals": "at most f of 2f+1 voters refuse to start as corrupt (the fault model keeps a majority of disks intact)",
  "Transaction Isolation":
    "the list-append transactions' history is strict serializable (Elle's checker: no G0, G1a, G1b, G1c, G-single or G2 anomaly, nor a real-time cycle, duplicate, garbage or incompatible read): every transaction is one log entry",
  "Read After Apply": "a node answers a linearizable read only once its state machine has applied the read's read point (ReadIndex's last step: the answer reflects every write committed before the read)",
  "Client Protocol": "every answer a client receives has the shape its operation expects, and every recorded result is one the operation can have",
  // The orchestrator's (orchestrator-monitor.ts), checked when the run has the orchestrator workload.
  "VM At Most Once": "at most one instance of each VM runs at any instant of true simulated time",
  "Node Capacity Held": "no node's running VMs exceed its capacity under its overcommit policy",
  "Anti-Affinity Held": "hard anti-affinity is never violated among running VMs",
  "Fresh Fencing Token": "no VM is started with a stale fencing token: a placement older than one some replica has applied, or an epoch its node no longer holds",
  "Cluster State Consistent":
    "on every replica after every cluster command: tenant usage equals the sum of the tenant's VMs and stays within quota, no node is promised beyond its capacity, no IP or MAC is held twice, hard anti-affinity holds among assigned VMs",
  "Generations Increase": "a VM's and a node's generation never decreases on any replica",
  "Cluster State Agreement": "every replica holds the same cluster state at the same applied index",
  "VM Registry Linearizability":
    "the orchestrator users' history (reads, creates, and changes by generation) is linearizable under the VM registry model: some order of its operations, each taking effect between its invocation and its completion, with the cluster's own changes in between, explains every answer",
  "VM Liveness":
    "once faults stop, every VM desired running that some node can hold runs (exactly once, on its current placement) within the stated bound; a VM may stay pending only while no node admits it by the state machine's placement rule and no preemption can make room",
  "Plan Admissible": "a plan the controller computes is accepted whole by the state it was computed on: no placement the state machine would refuse (capacity counting the batch's own placements, constraints, quotas) and no eviction it would skip",
  "Unplaceable Only When Full": "the scheduler declares a VM unplaceable only when no node, beside the plan's own placements, admits it by the state machine's placement rule",
  "No Orphan VMs": "once faults stop, within the stated bound every running VM instance is wanted: its VM desired running, assigned to that node at that placement",
  "Drain Completes": "once faults stop, within the stated bound a node the operator drains holds no VM desired running: the controller moved each off (drains start only while faults may still happen)",
  "Fenced Before Down": "once a replica holds a node down at epoch e, no VM instance still runs on that node under epoch e (fencing finished before the declaration)",
} as const;

export type PropertyName = keyof typeof PROPERTIES;

export interface PropertyViolation {
  readonly property: PropertyName;
  readonly message: string;
  readonly nodeId: NodeId | undefined;
}

export interface PersistBatch {
  readonly snapshot: Snapshot | undefined;
  readonly entries: readonly Entry[];
  readonly hardState: HardState | undefined;
}

/** Bounds the monitor's tables: a run that outgrows them is misconfigured, not interesting. */
export const MONITOR_LOG_ENTRIES_MAX = 5_000_000;
const TERM_LIMIT = 1 << 21;

/** One node's durable log as the monitor reconstructs it: terms and prefix hashes after a base (snapshot) index. */
class LogMirror {
  base = 0;
  baseTerm = 0;
  baseHash = 0;
  readonly terms: number[] = [];
  readonly hashes: number[] = [];

  get lastIndex(): number {
    return this.base + this.terms.length;
  }

  termAt(index: number): number | undefined {
    if (index === this.base) return this.baseTerm;
    if (index < this.base || index > this.lastIndex) return undefined;
    return this.terms[index - this.base - 1];
  }

  hashAt(index: number): number | undefined {
    if (index === this.base) return this.baseHash;
    if (index < this.base || index > this.lastIndex) return undefined;
    return this.hashes[index - this.base - 1];
  }

  /** Whether the durable log holds (index, term), counting indexes covered by the snapshot as held. */
  holds(index: number, term: number): boolean {
    if (index <= this.base) return true;
    return this.termAt(index) === term;
  }

  truncateAfter(index: number): void {
    assert(index >= this.base, "truncating into the snapshot");
    const keep = index - this.base;
    if (keep < this.terms.length) {
      this.terms.length = keep;
      this.hashes.length = keep;
    }
  }

  resetTo(base: number, baseTerm: number, baseHash: number): void {
    this.base = base;
    this.baseTerm = baseTerm;
    this.baseHash = baseHash;
    this.terms.length = 0;
    this.hashes.length = 0;
  }
}

interface NodeView {
  readonly id: NodeId;
  readonly mirror: LogMirror;
  // Durable state, from batches that were synced (term and vote always are).
  durableTerm: number;
  durableVote: NodeId;
  durableCommit: number;
  // This incarnation's observations (reset at restart).
  running: boolean;
  seenTerm: number;
  seenCommit: number;
  seenApplied: number;
  /** Applied index as the state machine side reports it (applied/restored hooks). */
  machineApplied: number;
  // Leader Append-Only: the term in which we last saw this node lead, and its log end then.
  leaderTerm: number;
  leaderLastIndex: number;
  leaderLastTerm: number;
  /** term -> candidate this node granted its vote to (a vote response sent, or the vote made durable), kept across crashes. */
  readonly votes: Map<number, NodeId>;
  /**
   * The first log index a persist in flight may replace (its first entry, or 0 for a received
   * snapshot, which replaces the whole log); undefined when none is in flight. A crash during
   * that persist may legitimately leave the entries from there on replaced or gone.
   */
  replacingFrom: number | undefined;
}

export class SafetyMonitor {
  private readonly views = new Map<NodeId, NodeView>();
  /** key(index, term) -> prefix hash of the log through that entry, over every durable log seen. */
  private readonly prefixByEntry = new Map<number, number>();
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** Global committed log: entry term and the term in which commitment was first observed, index 1..maxCommitted. */
  private readonly committedEntryTerm: number[] = [0];
  private readonly committedInTerm: number[] = [0];
  /** Applied entries: term and data hash by index (index 0 unused). */
  private readonly appliedTerm: number[] = [0];
  private readonly appliedHash: number[] = [0];
  /** Acknowledged entries: index -> term. */
  private readonly acknowledged = new Map<number, number>();
  private maxAcknowledged = 0;
  private first: PropertyViolation | undefined;
  private checks = 0;

  constructor(
    nodeIds: readonly NodeId[],
    /** Durable copies an acknowledged entry needs (a majority of the voters). */
    private readonly quorum: number,
    /** The core of a running node, or undefined when it is down. */
    private readonly coreOf: (nodeId: NodeId) => RaftCore | undefined,
  ) {
    assert(quorum >= 1 && quorum <= nodeIds.length, "quorum out of range");
    for (const id of nodeIds) {
      this.views.set(id, {
        id,
        mirror: new LogMirror(),
        durableTerm: 0,
        durableVote: 0,
        durableCommit: 0,
        running: false,
        seenTerm: 0,
        seenCommit: 0,
        seenApplied: 0,
        machineApplied: 0,
        leaderTerm: 0,
        leaderLastIndex: 0,
        leaderLastTerm: 0,
        votes: new Map(),
        replacingFrom: undefined,
      });
    }
  }

  /** The first violation found, if any; the run stops at it. */
  get violation(): PropertyViolation | undefined {
    return this.first;
  }

  get checksRun(): number {
    return this.checks;
  }

  get committedIndex(): number {
    return this.committedEntryTerm.length - 1;
  }

  /** Terms in which a leader was seen, with that leader, ascending by term. */
  leaders(): Array<{ term: number; leader: NodeId }> {
    return [...this.leaderOfTerm.entries()].sort((a, b) => a[0] - b[0]).map(([term, leader]) => ({ term, leader }));
  }

  fail(property: PropertyName, message: string, nodeId?: NodeId): void {
    if (this.first === undefined) this.first = { property, message, nodeId };
  }

  // ---- observation points ----

  messageSent(message: Message): void {
    if (message.type !== "vote-response" || message.preVote || !message.granted) return;
    const view = this.view(message.from);
    const previous = view.votes.get(message.term);
    if (previous !== undefined && previous !== message.to) {
      this.fail("Single Vote", `node ${message.from} granted its term-${message.term} vote to ${previous} and then to ${message.to}`, message.from);
      return;
    }
    view.votes.set(message.term, message.to);
  }

  /**
   * A node is about to persist a batch. Its vote is checked here, before storage sees it:
   * a second vote in a term must be reported as Single Vote, not as whatever the storage
   * layer asserts about it.
   */
  persisting(nodeId: NodeId, batch: PersistBatch): void {
    const replacing = batch.snapshot !== undefined ? 0 : batch.entries.length > 0 ? batch.entries[0]!.index : undefined;
    if (replacing !== undefined) {
      const view = this.view(nodeId);
      view.replacingFrom = Math.min(view.replacingFrom ?? replacing, replacing);
    }
    const hardState = batch.hardState;
    if (hardState === undefined || hardState.vote === 0) return;
    const view = this.view(nodeId);
    const previous = view.votes.get(hardState.term);
    if (previous !== undefined && previous !== hardState.vote) {
      this.fail("Single Vote", `node ${nodeId} recorded its term-${hardState.term} vote for ${hardState.vote} after voting for ${previous}`, nodeId);
    }
    // Not recorded yet: a crash before this batch is durable takes the vote back, legitimately (nobody heard it).
  }

  /** A persist batch completed. `isLeader`: the node led when it produced the batch. */
  persisted(nodeId: NodeId, batch: PersistBatch, mustSync: boolean, isLeader: boolean): void {
    const view = this.view(nodeId);
    const mirror = view.mirror;
    view.replacingFrom = undefined; // one persist at a time: the one in flight is this one
    if (batch.snapshot !== undefined) {
      const { index, term } = batch.snapshot.metadata;
      if (isLeader) this.fail("Leader Append-Only", `leader ${nodeId} installed a snapshot at ${index}, replacing its log`, nodeId);
      const previous = this.snapshotMirrorInvalidation(mirror, index, term);
      mirror.resetTo(index, term, this.knownPrefix(index, term));
      this.afterTruncation(view, previous);
    }
    if (batch.entries.length > 0) {
      const firstIndex = batch.entries[0]!.index;
      if (!(firstIndex >= mirror.base + 1)) assert(false, `node ${nodeId} persisted entry ${firstIndex} inside its snapshot at ${mirror.base}`);
      if (!(firstIndex <= mirror.lastIndex + 1)) assert(false, `node ${nodeId} persisted entry ${firstIndex} leaving a gap after ${mirror.lastIndex}`);
      if (firstIndex <= mirror.lastIndex) {
        if (isLeader) this.fail("Leader Append-Only", `leader ${nodeId} overwrote its log from index ${firstIndex} (its log ended at ${mirror.lastIndex})`, nodeId);
        const lost = this.heldAcknowledged(view, firstIndex);
        mirror.truncateAfter(firstIndex - 1);
        this.afterTruncation(view, lost);
      }
      assert(mirror.lastIndex + batch.entries.length <= MONITOR_LOG_ENTRIES_MAX + mirror.base, "monitor log mirror exceeds its bound");
      for (const entry of batch.entries) this.appendToMirror(view, entry);
    }
    if (batch.hardState !== undefined && mustSync) {
      if (batch.hardState.vote !== 0 && !view.votes.has(batch.hardState.term)) view.votes.set(batch.hardState.term, batch.hardState.vote);
      view.durableTerm = Math.max(view.durableTerm, batch.hardState.term);
      if (batch.hardState.term === view.durableTerm) view.durableVote = batch.hardState.vote;
      view.durableCommit = Math.max(view.durableCommit, batch.hardState.commit);
    }
  }

  /** A node crashed: what it had in memory is gone; its durable state remains. */
  crashed(nodeId: NodeId): void {
    const view = this.view(nodeId);
    view.running = false;
  }

  /** A node restarted from its disk. */
  recovered(nodeId: NodeId, recovered: RecoveredState): void {
    const view = this.view(nodeId);
    this.checkRecoveredLog(view, recovered);
    view.replacingFrom = undefined;
    const { hardState } = recovered;
    if (hardState.term < view.durableTerm) {
      this.fail("Term Monotonic", `node ${nodeId} recovered term ${hardState.term} after making term ${view.durableTerm} durable`, nodeId);
    } else if (hardState.term === view.durableTerm && view.durableVote !== 0 && hardState.vote !== view.durableVote) {
      this.fail("Single Vote", `node ${nodeId} recovered vote ${hardState.vote} in term ${hardState.term} after making vote ${view.durableVote} durable`, nodeId);
    }
    if (hardState.commit < view.durableCommit) {
      this.fail("Commit Monotonic", `node ${nodeId} recovered commit ${hardState.commit} after making commit ${view.durableCommit} durable`, nodeId);
    }
    // Rebuild the mirror from what the disk gave back; everything the old mirror held and the new one lacks was lost.
    const old = view.mirror;
    const snapshotIndex = recovered.snapshot?.metadata.index ?? 0;
    const snapshotTerm = recovered.snapshot?.metadata.term ?? 0;
    const lost: number[] = [];
    for (const [index, term] of this.acknowledgedFrom(old.base + 1)) {
      if (old.holds(index, term)) lost.push(index);
    }
    old.resetTo(snapshotIndex, snapshotTerm, this.knownPrefix(snapshotIndex, snapshotTerm));
    for (const entry of recovered.entries) this.appendToMirror(view, entry);
    this.afterTruncation(view, lost.filter((index) => !old.holds(index, this.acknowledged.get(index)!)));
    view.running = true;
    view.seenTerm = hardState.term;
    view.seenCommit = hardState.commit;
    view.seenApplied = snapshotIndex;
    view.machineApplied = snapshotIndex;
    view.leaderTerm = 0;
  }

  /** Read After Apply: a node answers a linearizable read only from a state that has applied its read point. */
  readAnswered(nodeId: NodeId, readIndex: number): void {
    assert(readIndex > 0, "a read is answered at a known read point");
    const applied = this.view(nodeId).machineApplied;
    if (readIndex > applied) this.fail("Read After Apply", `node ${nodeId} answered a read at read point ${readIndex} while its state machine had applied only ${applied}`, nodeId);
  }

  applied(nodeId: NodeId, entry: Entry): void {
    const view = this.view(nodeId);
    if (entry.index !== view.machineApplied + 1) {
      this.fail("Applied Monotonic", `node ${nodeId} applied entry ${entry.index} after ${view.machineApplied}`, nodeId);
      return;
    }
    view.machineApplied = entry.index;
    const dataHash = hashBytes(entry.data, entry.type === "normal" ? 1 : 2);
    if (entry.index < this.appliedTerm.length) {
      if (this.appliedTerm[entry.index] !== entry.term || this.appliedHash[entry.index] !== dataHash) {
        this.fail(
          "State Machine Safety",
          `node ${nodeId} applied entry ${entry.index} of term ${entry.term}, but another node applied a different entry (term ${this.appliedTerm[entry.index]}) at that index`,
          nodeId,
        );
      }
      return;
    }
    assert(entry.index === this.appliedTerm.length, "applied table grows by one");
    assert(this.appliedTerm.length < MONITOR_LOG_ENTRIES_MAX, "applied table exceeds its bound");
    this.appliedTerm.push(entry.term);
    this.appliedHash.push(dataHash);
  }

  restored(nodeId: NodeId, snapshot: Snapshot): void {
    const view = this.view(nodeId);
    const { index, term } = snapshot.metadata;
    if (index < view.machineApplied) {
      this.fail("Applied Monotonic", `node ${nodeId} installed a snapshot at ${index} after applying ${view.machineApplied}`, nodeId);
    }
    if (index < this.appliedTerm.length && this.appliedTerm[index] !== term) {
      this.fail("State Machine Safety", `node ${nodeId} installed a snapshot at ${index} of term ${term}, but entry ${index} was applied with term ${this.appliedTerm[index]}`, nodeId);
    }
    view.machineApplied = index;
  }

  /** A client was told its command committed at `index` (the node applied it). */
  acknowledgedAt(nodeId: NodeId, index: number): void {
    if (this.first !== undefined) return; // the run stops at this event; the tables may be incomplete
    const term = index < this.appliedTerm.length ? this.appliedTerm[index] : undefined;
    if (term === undefined) assert(false, `entry ${index} acknowledged before anyone applied it`);
    this.acknowledged.set(index, term);
    if (index > this.maxAcknowledged) this.maxAcknowledged = index;
    const holders = this.holders(index, term);
    if (holders < this.quorum) {
      this.fail("Durability", `node ${nodeId} acknowledged entry ${index} (term ${term}) while only ${holders} disks held it (quorum ${this.quorum})`, nodeId);
    }
  }

  /** After node code ran: per-node monotonicity and index order, leaders, commitment. */
  afterStep(nodeId: NodeId, core: RaftCore): void {
    if (this.first !== undefined) return;
    this.checks++;
    const view = this.view(nodeId);
    // Single-field reads, not status(): this runs after every node event and must not allocate.
    const term = core.currentTerm();
    const commit = core.commitIndex();
    const applied = core.appliedIndex();
    const lastIndex = core.lastIndex();
    if (term < view.seenTerm) this.fail("Term Monotonic", `node ${nodeId}'s term went from ${view.seenTerm} to ${term}`, nodeId);
    if (commit < view.seenCommit) this.fail("Commit Monotonic", `node ${nodeId}'s commit went from ${view.seenCommit} to ${commit}`, nodeId);
    if (applied < view.seenApplied) this.fail("Applied Monotonic", `node ${nodeId}'s applied went from ${view.seenApplied} to ${applied}`, nodeId);
    if (!(applied <= commit && commit <= lastIndex)) {
      this.fail("Index Order", `node ${nodeId} has applied ${applied}, commit ${commit}, last index ${lastIndex}`, nodeId);
    }
    view.seenTerm = Math.max(view.seenTerm, term);
    // A leader seen leading this term before this step: its commit moved by counting (a node's first step as
    // leader may carry a commit learned as a follower of the term before).
    if (commit > view.seenCommit && view.leaderTerm === term && core.currentRole() === "leader") {
      const committedTerm = core.termAt(commit);
      if (committedTerm !== undefined && committedTerm !== term) {
        this.fail("Leader Commits Own Term", `leader ${nodeId} of term ${term} moved its commit from ${view.seenCommit} to ${commit}, an entry of term ${committedTerm}`, nodeId);
      }
      if (committedTerm !== undefined) this.checkCommitReplicated(nodeId, core, commit, committedTerm);
    }
    if (commit > view.seenCommit) {
      this.observeCommit(nodeId, core, view.seenCommit, commit, term);
      view.seenCommit = commit;
    }
    view.seenApplied = Math.max(view.seenApplied, applied);
    if (core.currentRole() === "leader") this.observeLeader(view, core, term, lastIndex);
  }

  // ---- internals ----

  /**
   * Committed Data Intact, at a restart, before the mirror forgets what the node had made
   * durable: (1) every recovered entry up to the node's own recovered (or durable) commit
   * index has the cluster's committed term and bytes (the prefix hash recorded for that (index, term), and the applied data
   * hash where it was applied); (2) the recovered log holds every entry of the node's durable
   * mirror (same prefix hash at its last index), except those a persist in flight at the
   * crash was replacing, and a recovered snapshot agrees with the mirror's term at its index.
   */
  private checkRecoveredLog(view: NodeView, recovered: RecoveredState): void {
    if (this.first !== undefined) return;
    const nodeId = view.id;
    const snapshotIndex = recovered.snapshot?.metadata.index ?? 0;
    const snapshotTerm = recovered.snapshot?.metadata.term ?? 0;
    const old = view.mirror;
    const fail = (message: string): void => this.fail("Committed Data Intact", `node ${nodeId} ${message}`, nodeId);
    // Up to the commit index it recovered (or had made durable) the node's log is the committed log; after
    // it, a follower may legitimately hold a stale suffix the leader has not overwritten yet.
    const committedThrough = Math.min(this.committedIndex, Math.max(recovered.hardState.commit, view.durableCommit));
    if (snapshotIndex > 0 && snapshotIndex <= this.committedIndex && this.committedEntryTerm[snapshotIndex] !== snapshotTerm) {
      return fail(`recovered a snapshot at ${snapshotIndex} of term ${snapshotTerm}, but entry ${snapshotIndex} was committed with term ${this.committedEntryTerm[snapshotIndex]}`);
    }
    // Prefix hashes of the recovered log, as the mirror will compute them.
    const hashes: number[] = [];
    let previous = snapshotIndex === 0 ? 0 : this.knownPrefix(snapshotIndex, snapshotTerm);
    for (let i = 0; i < recovered.entries.length; i++) {
      const entry = recovered.entries[i]!;
      if (entry.index !== snapshotIndex + 1 + i) return; // not contiguous: the mirror's own assertion reports it
      const dataHash = hashBytes(entry.data, entry.type === "normal" ? 1 : 2);
      previous = combine(combine(previous, entry.term), dataHash);
      hashes.push(previous);
      if (entry.index > committedThrough) continue;
      const committedTerm = this.committedEntryTerm[entry.index]!;
      if (entry.term !== committedTerm) return fail(`recovered entry ${entry.index} of term ${entry.term}, but entry ${entry.index} was committed with term ${committedTerm}`);
      const appliedAltered = entry.index < this.appliedHash.length && this.appliedHash[entry.index] !== dataHash;
      const known = this.prefixByEntry.get(entryKey(entry.index, entry.term));
      if (appliedAltered || (known !== undefined && known !== previous)) {
        return fail(`recovered committed entry ${entry.index} (term ${entry.term}) with altered bytes`);
      }
    }
    // Everything the node had made durable must come back (or be covered by the recovered snapshot).
    const keepThrough = Math.min(old.lastIndex, (view.replacingFrom ?? Number.MAX_SAFE_INTEGER) - 1);
    if (snapshotIndex > old.base && snapshotIndex <= keepThrough && old.termAt(snapshotIndex) !== snapshotTerm) {
      return fail(`recovered a snapshot at ${snapshotIndex} of term ${snapshotTerm} where its durable log had term ${old.termAt(snapshotIndex)}`);
    }
    const recoveredLast = snapshotIndex + hashes.length;
    for (let index = Math.max(old.base, snapshotIndex) + 1; index <= keepThrough; index++) {
      if (index > recoveredLast) return fail(`lost durable entries ${index}..${keepThrough}: it recovered its log up to ${recoveredLast}`);
      if (hashes[index - snapshotIndex - 1] !== old.hashAt(index)) {
        return fail(`recovered entry ${index} different from the one it had made durable (term ${old.termAt(index)})`);
      }
    }
  }

  private observeLeader(view: NodeView, core: RaftCore, term: number, lastIndex: number): void {
    const known = this.leaderOfTerm.get(term);
    if (known === undefined) {
      assert(term < TERM_LIMIT, "term exceeds the monitor's limit");
      this.leaderOfTerm.set(term, view.id);
      this.checkLeaderCompleteness(view.id, core, term);
    } else if (known !== view.id) {
      this.fail("Election Safety", `nodes ${known} and ${view.id} were both leaders of term ${term}`, view.id);
      return;
    }
    if (view.leaderTerm === term) {
      const termThen = core.termAt(view.leaderLastIndex);
      if (lastIndex < view.leaderLastIndex || (termThen !== undefined && termThen !== view.leaderLastTerm)) {
        this.fail(
          "Leader Append-Only",
          `leader ${view.id} of term ${term} had entry ${view.leaderLastIndex} of term ${view.leaderLastTerm}; now its log ends at ${lastIndex} with term ${termThen ?? "none"} there`,
          view.id,
        );
        return;
      }
    }
    view.leaderTerm = term;
    view.leaderLastIndex = lastIndex;
    view.leaderLastTerm = core.termAt(lastIndex) ?? 0;
  }

  /** A new leader of `term` must hold every entry committed in an earlier term. */
  private checkLeaderCompleteness(nodeId: NodeId, core: RaftCore, term: number): void {
    let index = this.committedIndex;
    while (index > 0 && this.committedInTerm[index]! >= term) index--;
    if (index === 0) return;
    this.checkLeaderHas(nodeId, core, term, index);
  }

  private checkLeaderHas(nodeId: NodeId, core: RaftCore, term: number, index: number): void {
    const expected = this.committedEntryTerm[index]!;
    if (index <= core.snapshotIndex()) return; // covered by its snapshot (the snapshot's own term is checked by Log Matching)
    const actual = core.termAt(index);
    if (actual !== expected) {
      this.fail(
        "Leader Completeness",
        `leader ${nodeId} of term ${term} lacks entry ${index} of term ${expected}, committed in term ${this.committedInTerm[index]} (it has ${actual === undefined ? "no entry" : `term ${actual}`} there)`,
        nodeId,
      );
    }
  }

  private observeCommit(nodeId: NodeId, core: RaftCore, from: number, to: number, nodeTerm: number): void {
    for (let index = from + 1; index <= to; index++) {
      // Compacted on this node before we looked (a snapshot install): other nodes report it. (Not the durable
      // mirror: a snapshot's persist may still be in flight, so the mirror can hold the entries it replaces.)
      const entryTerm = core.termAt(index);
      if (entryTerm === undefined) continue;
      if (index < this.committedEntryTerm.length) {
        if (this.committedEntryTerm[index] !== entryTerm) {
          this.fail(
            "State Machine Safety",
            `node ${nodeId} committed entry ${index} of term ${entryTerm}, but entry ${index} of term ${this.committedEntryTerm[index]} was committed before`,
            nodeId,
          );
          return;
        }
        continue;
      }
      if (index > this.committedEntryTerm.length) continue; // a gap: learned later from a node that saw it
      assert(this.committedEntryTerm.length < MONITOR_LOG_ENTRIES_MAX, "committed table exceeds its bound");
      this.committedEntryTerm.push(entryTerm);
      this.committedInTerm.push(nodeTerm);
      // Leaders of later terms that already exist must hold it too.
      for (const view of this.views.values()) {
        if (view.id === nodeId || !view.running || view.leaderTerm <= nodeTerm) continue;
        const other = this.coreOf(view.id);
        if (other === undefined || other.currentRole() !== "leader") continue;
        this.checkLeaderHas(view.id, other, view.leaderTerm, index);
      }
    }
  }

  private appendToMirror(view: NodeView, entry: Entry): void {
    const mirror = view.mirror;
    if (entry.index !== mirror.lastIndex + 1) assert(false, `node ${view.id}: entry ${entry.index} does not follow ${mirror.lastIndex}`);
    if (!(entry.term > 0 && entry.term < TERM_LIMIT)) assert(false, `entry term ${entry.term} out of range`);
    const previousTerm = mirror.termAt(entry.index - 1)!;
    if (entry.term < previousTerm) {
      this.fail("Log Matching", `node ${view.id}'s log has term ${entry.term} at ${entry.index} after term ${previousTerm}`, view.id);
    }
    const hash = combine(combine(mirror.hashAt(entry.index - 1)!, entry.term), hashBytes(entry.data, entry.type === "normal" ? 1 : 2));
    mirror.terms.push(entry.term);
    mirror.hashes.push(hash);
    const key = entryKey(entry.index, entry.term);
    const known = this.prefixByEntry.get(key);
    if (known === undefined) this.prefixByEntry.set(key, hash);
    else if (known !== hash) {
      this.fail("Log Matching", `node ${view.id} holds entry ${entry.index} of term ${entry.term}, but its log up to there differs from another node's`, view.id);
    }
  }

  /** The prefix hash recorded for (index, term), or a fresh one derived from them (a snapshot of entries nobody showed us). */
  private knownPrefix(index: number, term: number): number {
    if (index === 0) return 0;
    const key = entryKey(index, term);
    const known = this.prefixByEntry.get(key);
    if (known !== undefined) return known;
    const hash = combine(combine(0x5eed, index), term);
    this.prefixByEntry.set(key, hash);
    return hash;
  }

  /** Acknowledged entries a snapshot reset removes from this mirror (those after the snapshot index it held). */
  private snapshotMirrorInvalidation(mirror: LogMirror, index: number, _term: number): number[] {
    const lost: number[] = [];
    for (const [ackIndex, ackTerm] of this.acknowledgedFrom(index + 1)) {
      if (mirror.holds(ackIndex, ackTerm)) lost.push(ackIndex);
    }
    return lost;
  }

  private heldAcknowledged(view: NodeView, fromIndex: number): number[] {
    const lost: number[] = [];
    for (const [index, term] of this.acknowledgedFrom(fromIndex)) {
      if (view.mirror.holds(index, term)) lost.push(index);
    }
    return lost;
  }

  private *acknowledgedFrom(fromIndex: number): Generator<[number, number]> {
    for (let index = Math.max(1, fromIndex); index <= this.maxAcknowledged; index++) {
      const term = this.acknowledged.get(index);
      if (term !== undefined) yield [index, term];
    }
  }

  /** Re-counts the copies of acknowledged entries a node just dropped. */
  private afterTruncation(view: NodeView, droppedIndexes: readonly number[]): void {
    for (const index of droppedIndexes) {
      const term = this.acknowledged.get(index)!;
      if (view.mirror.holds(index, term)) continue;
      const holders = this.holders(index, term);
      if (holders < this.quorum) {
        this.fail("Durability", `entry ${index} (term ${term}) was acknowledged to a client, but after node ${view.id} dropped it only ${holders} disks hold it (quorum ${this.quorum})`, view.id);
        return;
      }
    }
  }

  /**
   * Commit Is Replicated, when a leader moves its commit index by counting: the entry is on the
   * durable logs of a majority of its current voters (learners and nodes outside the
   * configuration do not count). Durability counts any disk, at the client's acknowledgement.
   */
  private checkCommitReplicated(nodeId: NodeId, core: RaftCore, index: number, term: number): void {
    const voters = core.status().confState.voters;
    let holding = 0;
    for (const voter of voters) if (this.views.get(voter)?.mirror.holds(index, term) === true) holding++;
    const majority = Math.floor(voters.length / 2) + 1;
    assert(majority <= voters.length, "a majority of the voters");
    if (holding < majority) {
      this.fail("Commit Is Replicated", `leader ${nodeId} committed entry ${index} (term ${term}) while only ${holding} of its ${voters.length} voters (${voters.join(", ")}) held it durably`, nodeId);
    }
  }

  private holders(index: number, term: number): number {
    let count = 0;
    for (const view of this.views.values()) if (view.mirror.holds(index, term)) count++;
    return count;
  }

  private view(nodeId: NodeId): NodeView {
    const view = this.views.get(nodeId);
    if (view === undefined) assert(false, `unknown node ${nodeId}`);
    return view;
  }
}

function entryKey(index: number, term: number): number {
  return index * TERM_LIMIT + term;
}
