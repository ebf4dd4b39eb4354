// FailpointService (proto/blixard/v1/failpoint.proto, docs/FAILPOINTS.md): the failpoints of the
// node that serves the call, set, cleared and listed at run time. Admin only (method-roles.ts).
// A setting is checked against the catalogue exactly as BLIXARD_FAILPOINTS is at start: a bad
// one is InvalidArgument naming the column or the point, and nothing changes. The clock points
// (clock.wall, clock.monotonic) go through the same calls; a clock change the clock's state
// refuses (a bump past the offset's limit) is FailedPrecondition.
import { Code } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import type { FailpointStatus } from "../../core/failpoints/failpoint-registry.ts";
import { FAILPOINT_ARG_LENGTH_MAX, FAILPOINT_TASKS_MAX, renderFailpointActions } from "../../core/failpoints/failpoint-spec.ts";
import type { Gatekeeper } from "../auth/gatekeeper.ts";
import { guardService } from "../auth/guarded-service.ts";
import { FailpointService, FailpointStateSchema, type FailpointState } from "./gen/blixard/v1/failpoint_pb.ts";
import { notAppliedError } from "./outcome-codes.ts";
import { isNodeFailpointName, parsePointActions, type NodeFailpoints } from "../node/node-failpoints.ts";

/** A name or an actions text longer than this is refused before parsing. */
const FAILPOINT_TEXT_LENGTH_MAX = FAILPOINT_TASKS_MAX * (FAILPOINT_ARG_LENGTH_MAX + 32);

export interface FailpointHost {
  readonly nodeId: number;
  readonly failpoints: NodeFailpoints;
}

export function failpointStateOf(status: FailpointStatus): FailpointState {
  return create(FailpointStateSchema, { name: status.name, actions: renderFailpointActions(status.tasks), evaluated: BigInt(status.evaluated), fired: BigInt(status.fired) });
}

function invalid(problem: string): never {
  throw notAppliedError(problem, Code.InvalidArgument);
}

export function createFailpointService(host: FailpointHost, gate: Gatekeeper) {
  return guardService(FailpointService, gate, {
    async set(request) {
      if (request.name === "") invalid("name: must not be empty (blixard node failpoint list shows the catalogue in docs/FAILPOINTS.md)");
      if (request.name.length > FAILPOINT_TEXT_LENGTH_MAX || request.actions.length > FAILPOINT_TEXT_LENGTH_MAX) invalid(`name and actions: at most ${FAILPOINT_TEXT_LENGTH_MAX} characters each`);
      const setting = parsePointActions(request.name, request.actions);
      if (!setting.ok) invalid(`actions: ${setting.error}`);
      const refused = host.failpoints.set(setting.value);
      if (refused !== undefined) throw notAppliedError(refused, Code.FailedPrecondition);
      const status = host.failpoints.list().find((s) => s.name === request.name)!;
      return { nodeId: BigInt(host.nodeId), failpoint: failpointStateOf(status) };
    },
    async clear(request) {
      if (!isNodeFailpointName(request.name)) invalid(`name: no failpoint "${request.name.slice(0, 60)}" (docs/FAILPOINTS.md lists them)`);
      return { nodeId: BigInt(host.nodeId), wasSet: host.failpoints.clear(request.name) };
    },
    async list() {
      return { nodeId: BigInt(host.nodeId), failpoints: host.failpoints.list().map(failpointStateOf) };
    },
  });
}
