// The Connect services of a node: kv and cluster administration. Requests are
// validated first (InvalidArgument names the field). Writes, linearizable reads and
// membership changes run on the leader: a follower forwards them to the leader's
// API (marked with a header, so a forwarded request is never forwarded twice: a
// node that is not the leader any more answers FailedPrecondition naming the leader).
// Replica outcomes map to codes a client can act on:
//   not-leader, stopped, no leader          -> Unavailable (retry, maybe elsewhere)
//   overloaded, too-many-*                  -> ResourceExhausted
//   superseded (entry lost to a new leader) -> Aborted (certainly not applied)
//   unknown outcome (timeout, stopped)      -> DeadlineExceeded/Unavailable: may or may not have applied
//   invalid or pending conf change          -> FailedPrecondition
import { Code, ConnectError, type ConnectRouter, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { unreachable } from "../../core/assert.ts";
import { parseHostPort } from "../os/address.ts";
import type { ConfChangeType, NodeId } from "../../core/raft/types.ts";
import { validateKvCommand, type KvResult } from "../../core/replica/kv-state-machine.ts";
import { encodeMemberAddresses, memberKey, RESERVED_KEY_PREFIX, type MemberAddresses } from "../../core/replica/address-book.ts";
import type { CommandOutcome, ReplicaRefusal } from "../../core/replica/replica.ts";
import type { NodeRuntime } from "../node/runtime.ts";
import { createApiClients, endpointUrl, type ApiClients } from "./client.ts";
import {
  ClusterService,
  MemberSchema,
  NodeStatusSchema,
  type AddLearnerRequest,
  type Member,
  StatusResponseSchema,
  type NodeStatus,
} from "./gen/blixard/v1/cluster_pb.ts";
import { KvService } from "./gen/blixard/v1/kv_pb.ts";

export const FORWARDED_HEADER = "blixard-forwarded-by";
const STATUS_FANOUT_TIMEOUT_MS = 1_000;

export interface NodeServices {
  readonly kv: ServiceImpl<typeof KvService>;
  readonly cluster: ServiceImpl<typeof ClusterService>;
}

/** The routes connect-node serves (every protocol), over the same implementations as the fast path. */
export function createNodeRoutes(services: NodeServices): (router: ConnectRouter) => void {
  return (router) => {
    router.service(KvService, services.kv);
    router.service(ClusterService, services.cluster);
  };
}

/** The service implementations; they read only `requestHeader` from the context. */
export function createNodeServices(runtime: NodeRuntime): NodeServices {
  const forwardClients = new Map<string, ApiClients>();
  const clientsForLeader = (url: string): ApiClients => {
    let clients = forwardClients.get(url);
    if (clients === undefined) {
      clients = createApiClients(url, { headers: { [FORWARDED_HEADER]: String(runtime.nodeId) }, timeoutMs: 15_000 });
      forwardClients.set(url, clients);
    }
    return clients;
  };

  /** The leader's clients when this node is not the leader, undefined when it is; throws when neither works. */
  const leaderOrForward = (context: Pick<HandlerContext, "requestHeader">): ApiClients | undefined => {
    if (runtime.isStopped) throw new ConnectError("node is shutting down", Code.Unavailable);
    const leaderId = runtime.status().raft.leaderId;
    if (leaderId === runtime.nodeId) return undefined;
    if (leaderId === 0) throw new ConnectError("no leader is known (election in progress?); retry shortly", Code.Unavailable);
    const api = runtime.memberAddresses(leaderId)?.api;
    const where = api !== undefined && api !== "" ? ` at ${endpointUrl(api)}` : "";
    if (context.requestHeader.get(FORWARDED_HEADER) !== null) {
      throw new ConnectError(`not the leader: node ${leaderId} leads${where}`, Code.FailedPrecondition);
    }
    if (where === "") throw new ConnectError(`not the leader: node ${leaderId} leads, and its API address is not known yet`, Code.Unavailable);
    return clientsForLeader(endpointUrl(api!));
  };

  const members = (): Member[] => {
    const confState = runtime.status().raft.confState;
    const describe = (id: NodeId, kind: string): Member => {
      const addresses = runtime.memberAddresses(id);
      return create(MemberSchema, { id: BigInt(id), kind, peerAddress: runtime.peerAddressOf(id) ?? "", apiAddress: addresses?.api ?? "" });
    };
    return [...confState.voters.map((id) => describe(id, "voter")), ...confState.learners.map((id) => describe(id, "learner"))].sort((a, b) => Number(a.id - b.id));
  };

  const localNodeStatus = (): NodeStatus => {
    const raft = runtime.status().raft;
    return create(NodeStatusSchema, {
      id: BigInt(runtime.nodeId),
      reachable: true,
      // The core calls a learner a follower; operators want to see which nodes vote.
      role: raft.confState.learners.includes(runtime.nodeId) ? "learner" : raft.role,
      term: BigInt(raft.hardState.term),
      leaderId: BigInt(raft.leaderId),
      commit: BigInt(raft.hardState.commit),
      applied: BigInt(raft.applied),
      lastIndex: BigInt(raft.lastIndex),
      peerAddress: runtime.peerAddress,
      apiAddress: runtime.apiAddress,
    });
  };

  const membershipChange = async (type: ConfChangeType, nodeId: NodeId): Promise<{ index: bigint; members: Member[] }> => {
    const outcome = await runtime.changeMembership({ type, nodeId });
    const index = requireOk(outcome);
    return { index: BigInt(index), members: members() };
  };

  return {
    kv: {
      async get(request, context) {
        const key = requireKey(request.key);
        if (request.serializable) {
          const { value, index } = runtime.readLocal(key);
          return { value, index: BigInt(index) };
        }
        const leader = leaderOrForward(context);
        if (leader !== undefined) return leader.kv.get({ key });
        const outcome = await runtime.readKv(key);
        if (outcome.status === "ok") return { value: outcome.result, index: BigInt(outcome.index) };
        throw refusalError(outcome.refusal);
      },
      async put(request, context) {
        const key = requireWritableKey(request.key);
        invalidIf(validateKvCommand({ op: "put", key, value: request.value }));
        const leader = leaderOrForward(context);
        if (leader !== undefined) return leader.kv.put(request);
        const outcome = await runtime.submitKv({ op: "put", key, value: request.value });
        const index = requireOk(outcome);
        requireApplied(outcome);
        return { index: BigInt(index) };
      },
      async compareAndSet(request, context) {
        const key = requireWritableKey(request.key);
        invalidIf(validateKvCommand({ op: "cas", key, expected: request.expected, value: request.value }));
        const leader = leaderOrForward(context);
        if (leader !== undefined) return leader.kv.compareAndSet(request);
        const outcome = await runtime.submitKv({ op: "cas", key, expected: request.expected, value: request.value });
        const index = requireOk(outcome);
        const result = requireApplied(outcome);
        if (result.op !== "cas") throw new ConnectError(`unexpected result ${result.op} for compare-and-set`, Code.Internal);
        return { succeeded: result.swapped, current: result.current, index: BigInt(index) };
      },
    },

    cluster: {
      async status(request) {
        const raft = runtime.status().raft;
        const response = {
          clusterId: runtime.clusterId,
          nodeId: BigInt(runtime.nodeId),
          leaderId: BigInt(raft.leaderId),
          term: BigInt(raft.hardState.term),
          members: members(),
        };
        if (request.localOnly) return create(StatusResponseSchema, { ...response, nodes: [localNodeStatus()] });
        const ids = new Set<NodeId>([...raft.confState.voters, ...raft.confState.learners, runtime.nodeId]);
        const nodes = await Promise.all(
          [...ids].sort((a, b) => a - b).map(async (id): Promise<NodeStatus> => {
            if (id === runtime.nodeId) return localNodeStatus();
            const addresses = runtime.memberAddresses(id);
            const unreachable = (error: string): NodeStatus =>
              create(NodeStatusSchema, { id: BigInt(id), reachable: false, peerAddress: runtime.peerAddressOf(id) ?? "", apiAddress: addresses?.api ?? "", error });
            if (addresses === undefined || addresses.api === "") return unreachable("API address not known yet");
            try {
              const remote = await runtime.clientsFor(endpointUrl(addresses.api)).cluster.status({ localOnly: true }, { timeoutMs: STATUS_FANOUT_TIMEOUT_MS });
              const node = remote.nodes[0];
              return node ?? unreachable("empty status");
            } catch (error) {
              return unreachable(error instanceof ConnectError ? error.rawMessage : (error as Error).message);
            }
          }),
        );
        return create(StatusResponseSchema, { ...response, nodes });
      },

      async addLearner(request, context) {
        const nodeId = requireNodeId(request.nodeId, "node_id");
        const peer = requireAddress(request.peerAddress, "peer_address", true);
        const api = requireAddress(request.apiAddress, "api_address", false);
        const leader = leaderOrForward(context);
        if (leader !== undefined) return leader.cluster.addLearner(request);
        return addLearnerAtLeader(runtime, request, nodeId, { peer, api }, members);
      },
      async promote(request, context) {
        const nodeId = requireNodeId(request.nodeId, "node_id");
        const leader = leaderOrForward(context);
        if (leader !== undefined) return leader.cluster.promote(request);
        return membershipChange("promote", nodeId);
      },
      async remove(request, context) {
        const nodeId = requireNodeId(request.nodeId, "node_id");
        const leader = leaderOrForward(context);
        if (leader !== undefined) return leader.cluster.remove(request);
        return membershipChange("remove", nodeId);
      },
      async transferLeader(request, context) {
        const target = requireNodeId(request.targetId, "target_id");
        const leader = leaderOrForward(context);
        if (leader !== undefined) return leader.cluster.transferLeader(request);
        if (target === runtime.nodeId) return { leaderId: BigInt(target) };
        const outcome = await runtime.transferLeadership(target);
        if (outcome.status === "ok") return { leaderId: BigInt(outcome.leaderId) };
        throw refusalError(outcome.refusal);
      },
    },
  };
}

async function addLearnerAtLeader(
  runtime: NodeRuntime,
  request: AddLearnerRequest,
  nodeId: NodeId,
  given: MemberAddresses,
  members: () => Member[],
): Promise<{ index: bigint; members: Member[] }> {
  const stored = runtime.storedAddresses(nodeId);
  // An empty API address keeps the one on record: the node announces its own once it runs.
  const wanted: MemberAddresses = { peer: given.peer, api: given.api !== "" ? given.api : (stored?.api ?? "") };
  let index = 0;
  if (stored === undefined || stored.peer !== wanted.peer || stored.api !== wanted.api) {
    const outcome = await runtime.submitKv({ op: "put", key: memberKey(nodeId), value: encodeMemberAddresses(wanted) });
    index = requireOk(outcome);
    requireApplied(outcome);
  }
  const confState = runtime.status().raft.confState;
  const isMember = confState.voters.includes(nodeId) || confState.learners.includes(nodeId);
  if (request.addressesOnly || isMember) return { index: BigInt(index), members: members() };
  const outcome = await runtime.changeMembership({ type: "add-learner", nodeId });
  index = requireOk(outcome);
  runtime.ensureSnapshotForJoiners();
  return { index: BigInt(index), members: members() };
}

// ---- validation ---------------------------------------------------------------------

function invalidIf(problem: string | undefined): void {
  if (problem !== undefined) throw new ConnectError(problem, Code.InvalidArgument);
}

function requireKey(key: string): string {
  invalidIf(key === "" ? "key: must not be empty" : undefined);
  return key;
}

function requireWritableKey(key: string): string {
  requireKey(key);
  invalidIf(key.startsWith(RESERVED_KEY_PREFIX) ? `key: keys starting with ${RESERVED_KEY_PREFIX} are reserved for the cluster` : undefined);
  return key;
}

function requireNodeId(value: bigint, field: string): NodeId {
  invalidIf(value < 1n || value > BigInt(Number.MAX_SAFE_INTEGER) ? `${field}: must be a positive integer, got ${value}` : undefined);
  return Number(value);
}

function requireAddress(value: string, field: string, required: boolean): string {
  if (value === "") {
    invalidIf(required ? `${field}: must not be empty (HOST:PORT)` : undefined);
    return "";
  }
  try {
    parseHostPort(value);
  } catch (error) {
    invalidIf(`${field}: ${(error as Error).message}`);
  }
  return value;
}

// ---- outcomes -------------------------------------------------------------------------

function requireOk<Result>(outcome: CommandOutcome<Result>): number {
  switch (outcome.status) {
    case "ok":
      return outcome.index;
    case "rejected":
      throw refusalError(outcome.refusal);
    case "unknown":
      throw new ConnectError(
        `outcome unknown (${outcome.reason}): the command may or may not have been applied`,
        outcome.reason === "timeout" ? Code.DeadlineExceeded : Code.Unavailable,
      );
    default:
      return unreachable(outcome, "outcome");
  }
}

function requireApplied(outcome: CommandOutcome<KvResult>): KvResult {
  if (outcome.status !== "ok") throw new ConnectError("command not applied", Code.Internal);
  if (outcome.result.op === "rejected") throw new ConnectError(`the key-value map is full (${outcome.result.reason})`, Code.ResourceExhausted);
  return outcome.result;
}

function refusalError(refusal: ReplicaRefusal): ConnectError {
  switch (refusal.code) {
    case "not-leader":
      return new ConnectError(`not the leader${refusal.leaderId !== 0 ? `: node ${refusal.leaderId} leads` : ""}; retry`, Code.Unavailable);
    case "too-many-uncommitted":
      return new ConnectError(`too many uncommitted bytes (limit ${refusal.limitBytes}); retry later`, Code.ResourceExhausted);
    case "too-many-pending-reads":
      return new ConnectError(`too many pending reads (limit ${refusal.limit}); retry later`, Code.ResourceExhausted);
    case "overloaded":
      return new ConnectError(`too many requests in flight (limit ${refusal.limit}); retry later`, Code.ResourceExhausted);
    case "conf-change-pending":
      return new ConnectError(`another membership change (index ${refusal.index}) is not applied yet; retry`, Code.FailedPrecondition);
    case "invalid-conf-change":
      return new ConnectError(`invalid membership change: ${refusal.reason}`, Code.FailedPrecondition);
    case "transfer-in-progress":
      return new ConnectError(`a leader transfer to node ${refusal.target} is in progress`, Code.FailedPrecondition);
    case "stopped":
      return new ConnectError("node is shutting down", Code.Unavailable);
    case "superseded":
      return new ConnectError(`leadership changed: the entry at index ${refusal.index} was replaced, the command was not applied; retry`, Code.Aborted);
    case "timeout":
      return new ConnectError("timed out before the request completed", Code.DeadlineExceeded);
    default:
      return unreachable(refusal, "refusal");
  }
}
