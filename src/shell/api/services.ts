// The Connect services of a node: kv and cluster administration, thin over the one request
// path (src/core/replica/request-path.ts). A handler validates and decodes its protobuf request
// (InvalidArgument names the field), hands the request path a ClientRequest, and maps the
// outcome: ok to the response; "certainly not applied" and "unknown" to distinct codes
// (outcome-codes.ts, docs/OPERATIONS.md). Forwarding to the leader happens inside the request
// path, over the peer transport's client channel, not here. Every method first passes the
// gatekeeper (src/shell/auth): the token and the role table, before its handler runs.
import { Code, ConnectError, type ConnectRouter, type ServiceImpl } from "@connectrpc/connect";
import { create, type DescService } from "@bufbuild/protobuf";
import { assert } from "../../core/assert.ts";
import { parseHostPort } from "../os/address.ts";
import type { ConfState, NodeId } from "../../core/raft/types.ts";
import { validateKvCommand, validateKvKey } from "../../core/replica/kv-state-machine.ts";
import { RESERVED_KEY_PREFIX } from "../../core/replica/address-book.ts";
import { KV_LIST_LIMIT_MAX, validateRequest, type ClientRequest, type RequestResult } from "../../core/replica/request-types.ts";
import { TOKEN_KEY_PREFIX } from "../../core/replica/token-book.ts";
import { KvWatchHub, WATCH_EVENTS_MAX, WATCH_WAIT_MS_MAX } from "./kv-watch.ts";
import { signalOf } from "./vm-api-calls.ts";
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
import { KvEntrySchema, KvEventSchema, KvService, TxnOpResultSchema } from "./gen/blixard/v1/kv_pb.ts";
import { kvTxnFromProto } from "./kv-txn-input.ts";
import { TokenService, TokenInfoSchema, type TokenInfo } from "./gen/blixard/v1/token_pb.ts";
import { isRole, type TokenRecord } from "../../core/replica/token-book.ts";
import type { Gatekeeper } from "../auth/gatekeeper.ts";
import { guardService } from "../auth/guarded-service.ts";
import { assertTableCovers } from "../auth/method-roles.ts";
import { newToken } from "../auth/bearer-token.ts";
import { BLIXARD_VERSION } from "../version.ts";
import { VmService } from "./gen/blixard/v1/vm_pb.ts";
import { NodeService } from "./gen/blixard/v1/node_pb.ts";
import { TenantService } from "./gen/blixard/v1/tenant_pb.ts";
import { FailpointService } from "./gen/blixard/v1/failpoint_pb.ts";
import { createFailpointService } from "./failpoint-service.ts";
import { createVmService } from "./vm-service.ts";
import { createVmNodeService } from "./vm-node-service.ts";
import { createVmTenantService } from "./vm-tenant-service.ts";

const STATUS_FANOUT_TIMEOUT_MS = 1_000;
/** Token lifetimes up to ten years (a longer one is a token that should not expire: ttl 0). */
const TOKEN_TTL_SECONDS_MAX = 10 * 365 * 24 * 3600;

/** Every service a node serves: the role table must cover exactly these (assertTableCovers). */
export const NODE_SERVICES: readonly DescService[] = [KvService, ClusterService, TokenService, VmService, NodeService, TenantService, FailpointService];

export interface NodeServices {
  readonly kv: ServiceImpl<typeof KvService>;
  readonly cluster: ServiceImpl<typeof ClusterService>;
  readonly token: ServiceImpl<typeof TokenService>;
  readonly vm: ServiceImpl<typeof VmService>;
  readonly node: ServiceImpl<typeof NodeService>;
  readonly tenant: ServiceImpl<typeof TenantService>;
  readonly failpoint: ServiceImpl<typeof FailpointService>;
}

/** Services with their implementations, for the fast path. */
export function servicePairs(services: NodeServices): ReadonlyArray<readonly [DescService, object]> {
  return [
    [KvService, services.kv],
    [ClusterService, services.cluster],
    [TokenService, services.token],
    [VmService, services.vm],
    [NodeService, services.node],
    [TenantService, services.tenant],
    [FailpointService, services.failpoint],
  ];
}

/** The routes connect-node serves (every protocol), over the same implementations as the fast path. */
export function createNodeRoutes(services: NodeServices): (router: ConnectRouter) => void {
  return (router) => {
    router.service(KvService, services.kv);
    router.service(ClusterService, services.cluster);
    router.service(TokenService, services.token);
    router.service(VmService, services.vm);
    router.service(NodeService, services.node);
    router.service(TenantService, services.tenant);
    router.service(FailpointService, services.failpoint);
  };
}

function tokenInfo(record: TokenRecord): TokenInfo {
  return create(TokenInfoSchema, { id: record.id, role: record.role, tenant: record.tenant, createdAtMs: BigInt(record.createdAtMs), expiresAtMs: BigInt(record.expiresAtMs) });
}

/** The service implementations, each method behind the gatekeeper (forwarding is the request path's). */
export function createNodeServices(runtime: NodeRuntime, gate: Gatekeeper): NodeServices {
  assertTableCovers(NODE_SERVICES);
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
      alarms: [
        ...(status.diskFull === undefined ? [] : [`disk-full: ${status.diskFull.message}`]),
        ...(status.removedAtIndex === 0 ? [] : [`removed from the cluster at index ${status.removedAtIndex}`]),
      ],
      id: BigInt(runtime.nodeId),
      reachable: true,
      // The core calls a learner a follower; operators want to see which nodes vote, and which one was removed.
      role: status.removedAtIndex !== 0 ? "removed" : raft.confState.learners.includes(runtime.nodeId) ? "learner" : raft.role,
      term: BigInt(raft.hardState.term),
      leaderId: BigInt(raft.leaderId),
      commit: BigInt(raft.hardState.commit),
      applied: BigInt(raft.applied),
      lastIndex: BigInt(raft.lastIndex),
      peerAddress: runtime.peerAddress,
      apiAddress: runtime.apiAddress,
      vmBackend: runtime.vmHost?.description ?? "",
      version: BLIXARD_VERSION,
      wallTimeMs: BigInt(Math.floor(runtime.clocks.wall.nowMs())),
      monotonicUs: BigInt(runtime.clocks.monotonic.nowUs()),
    });
  };

  const watches = new KvWatchHub(runtime.kvWatchSource());

  /**
   * Resolves once this node has applied `index` (at most LOCAL_APPLY_WAIT_MS later): a token
   * created or revoked through a follower is then in force at the node that answered, so the
   * caller's next request there sees it (the leader answers after its own apply; a follower that
   * forwarded may not have applied yet).
   */
  const localApply = (index: number): Promise<void> =>
    new Promise((done) => {
      const source = runtime.kvWatchSource();
      if (source.appliedIndex() >= index) return done();
      let settled = false;
      const finish = (): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        unsubscribe();
        done();
      };
      const timer = setTimeout(finish, LOCAL_APPLY_WAIT_MS);
      // Checked after the apply batch that notified, when the applied index has moved.
      const unsubscribe = source.onChange(() => setImmediate(() => source.appliedIndex() >= index && finish()));
    });

  const membershipChange = async (request: ClientRequest): Promise<{ index: bigint; members: Member[] }> => {
    const result = await call(request, "membership");
    return { index: BigInt(result.index), members: members(result.confState) };
  };

  return {
    vm: createVmService(runtime, gate),
    node: createVmNodeService(runtime, gate),
    tenant: createVmTenantService(runtime, gate),
    failpoint: createFailpointService(runtime, gate),
    kv: guardService(KvService, gate, {
      async get(request) {
        const key = requireKey(request.key);
        const result = await call(request.serializable ? { kind: "get-local", key } : { kind: "get", key }, "get");
        return {
          value: result.value,
          index: BigInt(result.index),
          found: result.found,
          createRevision: BigInt(result.createRevision),
          modRevision: BigInt(result.modRevision),
          version: BigInt(result.version),
        };
      },
      async delete(request) {
        const deletion: ClientRequest = { kind: "delete", key: request.key, prefix: request.prefix };
        invalidIf(validateRequest(deletion));
        const result = await call(deletion, "delete");
        return { deleted: BigInt(result.deleted), more: result.more, index: BigInt(result.index) };
      },
      async list(request) {
        const listing: ClientRequest = { kind: "list", prefix: request.prefix, startAfter: request.startAfter, limit: request.limit === 0 ? KV_LIST_LIMIT_MAX : request.limit, keysOnly: request.keysOnly };
        invalidIf(validateRequest(listing));
        const result = await call(listing, "list");
        const entries = result.entries.map((entry) =>
          create(KvEntrySchema, {
            key: entry.key,
            value: entry.value,
            valueBytes: BigInt(entry.valueBytes),
            createRevision: BigInt(entry.createRevision),
            modRevision: BigInt(entry.modRevision),
            version: BigInt(entry.version),
          }),
        );
        return { entries, more: result.more, nextStartAfter: result.more ? (result.entries.at(-1)?.key ?? "") : "", index: BigInt(result.index) };
      },
      async watch(request, _caller, context) {
        const matches = watchFilter(request.key, request.prefix);
        invalidIf(request.fromRevision > BigInt(Number.MAX_SAFE_INTEGER) ? `from_revision: ${request.fromRevision} is out of range` : undefined);
        invalidIf(request.maxEvents > WATCH_EVENTS_MAX ? `max_events: at most ${WATCH_EVENTS_MAX}, got ${request.maxEvents}` : undefined);
        invalidIf(request.waitMs > WATCH_WAIT_MS_MAX ? `wait_ms: at most ${WATCH_WAIT_MS_MAX}, got ${request.waitMs}` : undefined);
        const answer = await watches.watch({
          matches,
          fromRevision: Number(request.fromRevision),
          eventsMax: request.maxEvents === 0 ? WATCH_EVENTS_MAX : request.maxEvents,
          waitMs: request.waitMs,
          signal: signalOf(context),
        });
        if (answer.status === "too-many-watches") throw notAppliedError(`too many watches waiting on this node (limit ${answer.limit}); retry later`, Code.ResourceExhausted);
        if (answer.status === "compacted") {
          throw notAppliedError(
            `revision ${request.fromRevision} has been compacted; the oldest available is ${answer.oldestRevision} (current revision ${answer.currentRevision})`,
            Code.FailedPrecondition,
          );
        }
        return {
          events: answer.changes.map((change) => create(KvEventSchema, { type: change.type, key: change.key, value: change.value, revision: BigInt(change.revision) })),
          nextRevision: BigInt(answer.nextRevision),
          currentRevision: BigInt(answer.currentRevision),
        };
      },
      async append(request) {
        const appending: ClientRequest = { kind: "append", key: request.key, value: request.value };
        invalidIf(validateRequest(appending));
        const result = await call(appending, "append");
        return { length: BigInt(result.length), index: BigInt(result.index) };
      },
      async readList(request) {
        const reading: ClientRequest = { kind: "read-list", key: request.key };
        invalidIf(validateRequest(reading));
        const result = await call(reading, "read-list");
        return {
          list: [...result.list],
          found: result.found,
          index: BigInt(result.index),
          createRevision: BigInt(result.createRevision),
          modRevision: BigInt(result.modRevision),
          version: BigInt(result.version),
        };
      },
      async txn(request) {
        const txn = kvTxnFromProto(request);
        invalidIf(typeof txn === "string" ? txn : undefined);
        const transaction: ClientRequest = { kind: "txn", txn: txn as Exclude<typeof txn, string> };
        invalidIf(validateRequest(transaction));
        const result = await call(transaction, "txn");
        const results = result.results.map((one) =>
          create(TxnOpResultSchema, {
            op: one.op,
            found: one.op === "get" || one.op === "read-list" ? one.found : false,
            value: one.op === "get" ? one.value : "",
            list: one.op === "read-list" ? [...one.list] : [],
            deleted: BigInt(one.op === "delete" ? one.deleted : 0),
            length: BigInt(one.op === "append" ? one.length : 0),
            createRevision: BigInt(one.op === "get" ? one.createRevision : 0),
            modRevision: BigInt(one.op === "get" ? one.modRevision : 0),
            version: BigInt(one.op === "get" ? one.version : 0),
          }),
        );
        return { succeeded: result.succeeded, results, index: BigInt(result.index) };
      },
      async put(request) {
        const key = requireWritableKey(request.key);
        invalidIf(validateKvCommand({ op: "put", key, value: request.value }));
        const result = await call({ kind: "put", key, value: request.value }, "put");
        return { index: BigInt(result.index) };
      },
      async compareAndSet(request) {
        const key = requireWritableKey(request.key);
        if (request.expectAbsent) {
          invalidIf(request.expected !== "" ? "expected: must be empty with expect_absent (the key must not exist)" : undefined);
          invalidIf(validateKvCommand({ op: "create", key, value: request.value }));
          const created = await call({ kind: "create", key, value: request.value }, "cas");
          return { succeeded: created.swapped, current: created.current, index: BigInt(created.index) };
        }
        invalidIf(validateKvCommand({ op: "cas", key, expected: request.expected, value: request.value }));
        const result = await call({ kind: "cas", key, expected: request.expected, value: request.value }, "cas");
        return { succeeded: result.swapped, current: result.current, index: BigInt(result.index) };
      },
    }),

    cluster: guardService(ClusterService, gate, {
      async status(request, caller) {
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
              // On the caller's behalf, with the caller's token: the other node checks it too.
              const remote = await runtime
                .clientsFor(endpointUrl(addresses.api))
                .cluster.status({ localOnly: true }, { timeoutMs: STATUS_FANOUT_TIMEOUT_MS, headers: { authorization: caller.authorization } });
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
    }),

    token: guardService(TokenService, gate, {
      async createToken(request) {
        invalidIf(isRole(request.role) ? undefined : `role: "${request.role}" is not one of admin, operator, tenant, read-only`);
        invalidIf(request.ttlSeconds > BigInt(TOKEN_TTL_SECONDS_MAX) ? `ttl_seconds: at most ${TOKEN_TTL_SECONDS_MAX} (ten years); 0 for no expiry` : undefined);
        const token = newToken();
        // The stamps are data in the command: every replica stores the same ones.
        const createdAtMs = Date.now();
        const record: TokenRecord = {
          id: token.id,
          role: request.role as TokenRecord["role"],
          tenant: request.tenant,
          hashHex: token.hashHex,
          createdAtMs,
          expiresAtMs: request.ttlSeconds === 0n ? 0 : createdAtMs + Number(request.ttlSeconds) * 1000,
        };
        const result = await call({ kind: "token-create", record }, "put");
        await localApply(result.index);
        return { token: token.text, info: tokenInfo(record), index: BigInt(result.index) };
      },
      async listTokens() {
        return { tokens: runtime.tokenRecords().map(tokenInfo) };
      },
      async revokeToken(request) {
        const result = await call({ kind: "token-revoke", id: request.id }, "put");
        await localApply(result.index);
        return { index: BigInt(result.index) };
      },
    }),
  };
}

/** How long a token change waits for this node's own apply before answering anyway. */
const LOCAL_APPLY_WAIT_MS = 2_000;

// ---- validation ---------------------------------------------------------------------

function invalidIf(problem: string | undefined): void {
  if (problem !== undefined) throw notAppliedError(problem, Code.InvalidArgument);
}

/** The same key rule for reads and writes: a get of a key no put could write is refused like that put. */
function requireKey(key: string): string {
  invalidIf(validateKvKey(key));
  return key;
}

/** Which keys a watch reports: one key, or a prefix ("" for all); token records never. */
function watchFilter(key: string, prefix: boolean): (key: string) => boolean {
  if (!prefix || key !== "") {
    const problem = validateKvKey(key);
    invalidIf(problem === undefined ? undefined : prefix ? problem.replace(/^key/, "prefix") : problem);
  }
  invalidIf(key.startsWith(TOKEN_KEY_PREFIX) ? `key: keys starting with ${TOKEN_KEY_PREFIX} are readable only through the token list` : undefined);
  if (!prefix) return (candidate) => candidate === key;
  return (candidate) => candidate.startsWith(key) && !candidate.startsWith(TOKEN_KEY_PREFIX);
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

