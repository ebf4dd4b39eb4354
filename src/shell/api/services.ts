// The Connect services of a node: kv and cluster administration, thin over the one request
// path (src/core/replica/request-path.ts). A handler validates and decodes its protobuf request
// (InvalidArgument names the field), hands the request path a ClientRequest, and maps the
// outcome: ok to the response; "certainly not applied" and "unknown" to distinct codes
// (outcome-codes.ts, docs/OPERATIONS.md). Forwarding to the leader happens inside the request
// path, over the peer transport's client channel, not here.
import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import { assert } from "../../core/assert.ts";
import { parseHostPort } from "../os/address.ts";
import type { ConfState, NodeId } from "../../core/raft/types.ts";
import { validateKvCommand } from "../../core/replica/kv-state-machine.ts";
import { RESERVED_KEY_PREFIX } from "../../core/replica/address-book.ts";
import type { ClientRequest, RequestResult } from "../../core/replica/request-types.ts";
import type { NodeRuntime } from "../node/runtime.ts";
import { endpointUrl } from "./client.ts";
import { notAppliedError, outcomeError } from "./outcome-codes.ts";
import {
  ClusterService,
  MemberSchema,
  NodeStatusSchema,
  type Member,
  StatusResponseSchema,
  type NodeStatus,
} from "./gen/blixard/v1/cluster_pb.ts";
import { KvService } from "./gen/blixard/v1/kv_pb.ts";

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

/** The service implementations; they read nothing from the context (forwarding is the request path's). */
export function createNodeServices(runtime: NodeRuntime): NodeServices {
  /** A leader's API URL for error messages, or "". */
  const whereIs = (id: NodeId): string => {
    const api = runtime.memberAddresses(id)?.api;
    return api !== undefined && api !== "" ? endpointUrl(api) : "";
  };

  /** Runs a request through the request path: its ok result of the expected kind, or the outcome's ConnectError. */
  async function call<Kind extends RequestResult["kind"]>(request: ClientRequest, kind: Kind): Promise<Extract<RequestResult, { kind: Kind }>> {
    const outcome = await runtime.submit(request);
    if (outcome.status !== "ok") throw outcomeError(outcome, whereIs);
    // The request path asserts an ok result matches its request; this narrows the type.
    assert(outcome.result.kind === kind, () => `a ${request.kind} request got a ${outcome.result.kind} result`);
    return outcome.result as Extract<RequestResult, { kind: Kind }>;
  }

  const members = (confState: ConfState): Member[] => {
    const describe = (id: NodeId, kind: string): Member => {
      const addresses = runtime.memberAddresses(id);
      return create(MemberSchema, { id: BigInt(id), kind, peerAddress: runtime.peerAddressOf(id) ?? "", apiAddress: addresses?.api ?? "" });
    };
    return [...confState.voters.map((id) => describe(id, "voter")), ...confState.learners.map((id) => describe(id, "learner"))].sort((a, b) => Number(a.id - b.id));
  };

  const localNodeStatus = (): NodeStatus => {
    const status = runtime.status();
    const raft = status.raft;
    return create(NodeStatusSchema, {
      alarms: status.diskFull === undefined ? [] : [`disk-full: ${status.diskFull.message}`],
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

  const membershipChange = async (request: ClientRequest): Promise<{ index: bigint; members: Member[] }> => {
    const result = await call(request, "membership");
    return { index: BigInt(result.index), members: members(result.confState) };
  };

  return {
    kv: {
      async get(request) {
        const key = requireKey(request.key);
        const result = await call(request.serializable ? { kind: "get-local", key } : { kind: "get", key }, "get");
        return { value: result.value, index: BigInt(result.index) };
      },
      async put(request) {
        const key = requireWritableKey(request.key);
        invalidIf(validateKvCommand({ op: "put", key, value: request.value }));
        const result = await call({ kind: "put", key, value: request.value }, "put");
        return { index: BigInt(result.index) };
      },
      async compareAndSet(request) {
        const key = requireWritableKey(request.key);
        invalidIf(validateKvCommand({ op: "cas", key, expected: request.expected, value: request.value }));
        const result = await call({ kind: "cas", key, expected: request.expected, value: request.value }, "cas");
        return { succeeded: result.swapped, current: result.current, index: BigInt(result.index) };
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
          members: members(raft.confState),
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

      async addLearner(request) {
        const nodeId = requireNodeId(request.nodeId, "node_id");
        const peer = requireAddress(request.peerAddress, "peer_address", true);
        const api = requireAddress(request.apiAddress, "api_address", false);
        return membershipChange({ kind: "add-learner", nodeId, peer, api, addressesOnly: request.addressesOnly });
      },
      async promote(request) {
        return membershipChange({ kind: "promote", nodeId: requireNodeId(request.nodeId, "node_id") });
      },
      async remove(request) {
        return membershipChange({ kind: "remove", nodeId: requireNodeId(request.nodeId, "node_id") });
      },
      async transferLeader(request) {
        const targetId = requireNodeId(request.targetId, "target_id");
        const result = await call({ kind: "transfer-leader", targetId }, "transfer");
        return { leaderId: BigInt(result.leaderId) };
      },
    },
  };
}

// ---- validation ---------------------------------------------------------------------

function invalidIf(problem: string | undefined): void {
  if (problem !== undefined) throw notAppliedError(problem, Code.InvalidArgument);
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

