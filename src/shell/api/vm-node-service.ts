// NodeService (proto/blixard/v1/node.proto, docs/VM-API.md): the orchestrator's node records
// (linearizable cluster reads) and node-set-state: cordon (takes no new VMs), uncordon (ready),
// drain (its VMs move off). Operators' business: tenants never see nodes.
import { CLUSTER_PAGE_MAX } from "../../core/cluster/cluster-read.ts";
import type { NodeRecord } from "../../core/cluster/types.ts";
import { assert } from "../../core/assert.ts";
import type { Gatekeeper } from "../auth/gatekeeper.ts";
import { guardService } from "../auth/guarded-service.ts";
import { NodeService } from "./gen/blixard/v1/node_pb.ts";
import { invalidIf, notFound, requireCount, requireRequestId, VmApiCalls, type VmApiHost } from "./vm-api-calls.ts";
import { nodeToProto } from "./vm-proto.ts";

function requireNodeId(value: bigint): number {
  const id = requireCount(value, "node_id");
  invalidIf(id === 0 ? "node_id: must be a positive integer" : undefined);
  return id;
}

export function createVmNodeService(host: VmApiHost, gate: Gatekeeper) {
  const calls = new VmApiCalls(host);

  async function setState(nodeId: bigint, requestId: string, state: "ready" | "cordoned" | "draining"): Promise<{ node: ReturnType<typeof nodeToProto>; index: bigint }> {
    const { detail, index } = await calls.command({ kind: "node-set-state", nodeId: requireNodeId(nodeId), state }, requireRequestId(requestId));
    assert(detail.kind === "node", "node-set-state answers the node");
    return { node: nodeToProto(detail.node), index: BigInt(index) };
  }

  return guardService(NodeService, gate, {
    async list(request) {
      invalidIf(request.limit > CLUSTER_PAGE_MAX ? `limit: at most ${CLUSTER_PAGE_MAX}, got ${request.limit}` : undefined);
      const limit = request.limit === 0 ? CLUSTER_PAGE_MAX : request.limit;
      const { answer, index } = await calls.read({ what: "nodes", afterId: requireCount(request.cursor, "cursor"), limit });
      const last: NodeRecord | undefined = answer.nodes[answer.nodes.length - 1];
      return { nodes: answer.nodes.map(nodeToProto), nextCursor: answer.more && last !== undefined ? BigInt(last.id) : 0n, index: BigInt(index) };
    },
    async get(request) {
      const nodeId = requireNodeId(request.nodeId);
      const { answer, index } = await calls.read({ what: "node", nodeId });
      if (answer.node === null) notFound(`node ${nodeId} is not registered`);
      return { node: nodeToProto(answer.node), index: BigInt(index) };
    },
    cordon: (request) => setState(request.nodeId, request.requestId, "cordoned"),
    uncordon: (request) => setState(request.nodeId, request.requestId, "ready"),
    drain: (request) => setState(request.nodeId, request.requestId, "draining"),
  });
}
