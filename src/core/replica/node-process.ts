// What one Blixard node process runs, given its Environment and its opened storage: the
// replica driver over the node's state machine (the key-value map and the orchestrator's
// cluster state, node-state-machine.ts), the request path, and what runs beside them. The real runtime (src/shell/node/runtime.ts) and the simulator's
// cluster (src/core/sim/cluster.ts) both build their nodes here, so the simulator runs the
// same assembly that production runs.

import { assert } from "../assert.ts";
import type { Environment } from "../env/environment.ts";
import type { RaftStorage } from "../storage/raft-storage.ts";
import type { KvPlantedBug } from "./kv-state-machine.ts";
import type { ClusterPlantedBug } from "../cluster/cluster-state.ts";
import { NodeStateMachine, type NodeQuery, type NodeQueryResult, type NodeResult } from "./node-state-machine.ts";
import { Replica, type ReplicaOptions } from "./replica.ts";
import { MembershipAgent, type MembershipAgentOptions } from "./membership-agent.ts";
import { RequestPath, type RequestPathOptions } from "./request-path.ts";
import type { RequestOutcome } from "./request-types.ts";
import type { ClusterView, CommandEnvelope } from "../cluster/types.ts";
import { ClusterController, type ControllerOptions } from "../controller/cluster-controller.ts";
import { NodeAgent, type NodeAgentOptions } from "../agent/node-agent.ts";
import type { SubmitOutcome } from "../agent/submit-outcome.ts";
import type { VmBackend } from "../agent/vm-backend.ts";

export type NodeReplica = Replica<NodeResult, NodeQuery, NodeQueryResult>;

export interface NodeProcess {
  readonly replica: NodeReplica;
  /** The replica's state machine (the runtime reads it for serializable local reads). */
  readonly machine: NodeStateMachine;
  /** Every client request, kv and admin, served or forwarded (the transport's client channel). */
  readonly requestPath: RequestPath;
}

export interface NodeProcessOptions extends ReplicaOptions {
  /** Test harness only: bugs planted in the state machine. */
  readonly kvPlantedBugs?: ReadonlySet<KvPlantedBug>;
  /** Test harness only: bugs planted in the cluster state machine. */
  readonly clusterPlantedBugs?: ReadonlySet<ClusterPlantedBug>;
}

/** Builds a node's process; the caller starts it (process.replica.start()). */
export function createNodeProcess(env: Environment, storage: RaftStorage, options: NodeProcessOptions, pathOptions: RequestPathOptions): NodeProcess {
  assert(options.tickMs > 0, "a node process needs a positive tick");
  // A forward waits for the leader's own outcome: its deadline must outlast the leader's request timeout.
  assert(pathOptions.forwardTimeoutMs > options.requestTimeoutMs, "a forward's deadline must outlast the leader's request timeout");
  const machine = new NodeStateMachine({ kv: options.kvPlantedBugs, cluster: options.clusterPlantedBugs });
  const replica: NodeReplica = new Replica<NodeResult, NodeQuery, NodeQueryResult>(env, storage, machine, options);
  const requestPath = new RequestPath(env, replica, machine, pathOptions);
  return { replica, machine, requestPath };
}

/**
 * Starts the node's background membership work (joining, address announcement, snapshots for
 * joiners: membership-agent.ts) once its addresses are known. The runtime calls it after its API
 * listener is bound; the simulator's cluster right after the replica starts.
 */
export function startMembershipAgent(env: Environment, node: NodeProcess, options: MembershipAgentOptions): MembershipAgent {
  assert(!node.replica.isStopped, "a membership agent for a stopped replica");
  const agent = new MembershipAgent(env, node.replica, node.requestPath, node.machine, options);
  agent.start();
  assert(agent.isJoined === (options.joinVia === undefined) || agent.isJoined, "an agent that must join starts unjoined");
  return agent;
}

/**
 * How long an outcome known inside submit waits before it is reported (see startOrchestrator): the
 * next timer turn. The callers pace their own retries (the reconciler's reportRetryUs and
 * registerRetryUs, the heartbeat interval, the controller's rounds), so a refusal known at once
 * makes no loop.
 */
export const IMMEDIATE_OUTCOME_DELAY_MS = 0;

/** The orchestrator's settings for one node: its agent (registration, lease timing) and the controller. */
export interface OrchestratorNodeOptions {
  readonly agent: NodeAgentOptions;
  readonly controller: ControllerOptions;
}

/** The orchestrator's parts in a node process (both stop with it). */
export interface OrchestratorParts {
  readonly agent: NodeAgent;
  readonly controller: ClusterController;
}

/**
 * Starts the node's orchestrator work: its agent, which makes this node's share of the cluster
 * state real on `backend`, and the cluster controller (declares nodes down, schedules, drains),
 * which proposes only while this node leads. Both reach the cluster through the request path
 * and read this node's applied cluster state.
 */
export function startOrchestrator(env: Environment, node: NodeProcess, backend: VmBackend, options: OrchestratorNodeOptions): OrchestratorParts {
  assert(!node.replica.isStopped, "an orchestrator for a stopped replica");
  // The agent's contract: `done` runs later, never inside submit. A refusal known at once (no leader
  // yet, overloaded) comes back on the next timer turn.
  const submit = (envelope: CommandEnvelope, done: (outcome: SubmitOutcome) => void): void => {
    let returned = false;
    node.requestPath.submit({ kind: "cluster", envelope }, (outcome) => {
      const mapped = submitOutcomeOf(outcome);
      if (returned) done(mapped);
      else env.timers.after(IMMEDIATE_OUTCOME_DELAY_MS, () => done(mapped));
    });
    returned = true;
  };
  const readState = (): ClusterView => node.machine.cluster;
  const agent = new NodeAgent(env, backend, submit, readState, options.agent);
  const controller = new ClusterController(env, { submit, readState, isLeader: () => !node.replica.isStopped && node.replica.core.currentRole() === "leader" }, options.controller);
  agent.start();
  controller.start();
  // Both look at a change within this turn of the event loop, not at their next scheduled pass.
  node.machine.onClusterChange(() => {
    agent.wake();
    controller.wake();
  });
  return { agent, controller };
}

/** A request outcome as the orchestrator's parts see it: the state machine's verdict, or why there is none. */
function submitOutcomeOf(outcome: RequestOutcome): SubmitOutcome {
  if (outcome.status === "not-applied") return { status: "not-applied", detail: `${outcome.reason}: ${outcome.detail}` };
  if (outcome.status === "unknown") return { status: "unknown", detail: `${outcome.reason}: ${outcome.detail}` };
  assert(outcome.result.kind === "cluster", "a cluster command answers a cluster result");
  return { status: "ok", index: outcome.result.index, result: outcome.result.result };
}
