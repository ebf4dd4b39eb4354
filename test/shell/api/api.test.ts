// The API of one in-process node (a single-voter cluster): every protocol on one port,
// InvalidArgument naming the field, and the startup errors that must be one line.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { silentLogger } from "../../../src/core/env/environment.ts";
import { NodeRuntime, StartupError, clusterIdFromMembers } from "../../../src/shell/node/runtime.ts";
import { createApiClients } from "../../../src/shell/api/client.ts";
import { KvService } from "../../../src/shell/api/gen/blixard/v1/kv_pb.ts";
import { waitUntil } from "../../support/wait-until.ts";
import { ADMIN_HEADERS, ADMIN_TOKEN, BOOTSTRAP_TOKENS } from "../../support/admin-token.ts";
import { expectCode } from "../../support/expect-code.ts";


/** A client interceptor that sends the harness's admin token. */
const withAdminToken: Interceptor = (next) => (request) => {
  request.header.set("authorization", ADMIN_HEADERS.authorization!);
  return next(request);
};


describe("node API (one in-process node)", { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-api-"));
  let node: NodeRuntime;
  let url: string;
  const members = new Map([[1, "127.0.0.1:0"]]);

  before(async () => {
    node = await NodeRuntime.start({
      nodeId: 1,
      security: "insecure",
      peerListen: "127.0.0.1:0",
      apiListen: "127.0.0.1:0",
      dataDir: join(dir, "node-1"),
      initialCluster: members,
      log: silentLogger,
      tickMs: 20,
      bootstrapTokens: BOOTSTRAP_TOKENS,
    });
    url = `http://${node.apiAddress}`;
    await waitUntil("leadership", () => node.status().raft.role === "leader");
  });
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("Connect JSON over HTTP/1.1 (what curl sends) writes and reads", async () => {
    const put = await fetch(`${url}/blixard.v1.KvService/Put`, { method: "POST", headers: { "content-type": "application/json", ...ADMIN_HEADERS }, body: JSON.stringify({ key: "greeting", value: "hello" }) });
    assert.equal(put.status, 200);
    const putBody = (await put.json()) as { index: string };
    assert.ok(Number(putBody.index) > 0);
    const get = await fetch(`${url}/blixard.v1.KvService/Get`, { method: "POST", headers: { "content-type": "application/json", ...ADMIN_HEADERS }, body: JSON.stringify({ key: "greeting" }) });
    assert.deepEqual(((await get.json()) as { value: string }).value, "hello");
  });

  test("gRPC over h2c and gRPC-Web over HTTP/1.1 reach the same service on the same port", async () => {
    const grpc = createClient(KvService, createGrpcTransport({ baseUrl: url, interceptors: [withAdminToken] }));
    await grpc.put({ key: "protocol", value: "grpc" });
    const web = createClient(KvService, createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1", interceptors: [withAdminToken] }));
    assert.equal((await web.get({ key: "protocol" })).value, "grpc");
    const connectH2 = createApiClients(url, { httpVersion: "2", token: ADMIN_TOKEN.text });
    assert.equal((await connectH2.kv.get({ key: "protocol" })).value, "grpc");
  });

  test("compare-and-set succeeds only from the expected value", async () => {
    const clients = createApiClients(url, { token: ADMIN_TOKEN.text });
    const created = await clients.kv.compareAndSet({ key: "cas", expected: "", value: "one" });
    assert.equal(created.succeeded, true);
    const stale = await clients.kv.compareAndSet({ key: "cas", expected: "zero", value: "two" });
    assert.deepEqual([stale.succeeded, stale.current], [false, "one"]);
    assert.equal((await clients.kv.get({ key: "cas" })).value, "one");
  });

  test("invalid fields are InvalidArgument naming the field", async () => {
    const clients = createApiClients(url, { token: ADMIN_TOKEN.text });
    await expectCode(clients.kv.put({ key: "", value: "x" }), Code.InvalidArgument, /^key: /);
    await expectCode(clients.kv.put({ key: "_blixard/member/1", value: "x" }), Code.InvalidArgument, /^key: .*reserved/);
    await expectCode(clients.kv.put({ key: "big", value: "x".repeat(70_000) }), Code.InvalidArgument, /^value: /);
    await expectCode(clients.kv.get({ key: "" }), Code.InvalidArgument, /^key: /);
    await expectCode(clients.cluster.promote({ nodeId: 0n }), Code.InvalidArgument, /^node_id: /);
    await expectCode(clients.cluster.addLearner({ nodeId: 2n, peerAddress: "nowhere" }), Code.InvalidArgument, /^peer_address: /);
    await expectCode(clients.cluster.addLearner({ nodeId: 2n, peerAddress: "127.0.0.1:1", apiAddress: "x:y" }), Code.InvalidArgument, /^api_address: /);
    await expectCode(clients.cluster.transferLeader({ targetId: 0n }), Code.InvalidArgument, /^target_id: /);
    // A curl user sees the same: HTTP 400 with a JSON body naming the field.
    const response = await fetch(`${url}/blixard.v1.KvService/Put`, { method: "POST", headers: { "content-type": "application/json", ...ADMIN_HEADERS }, body: JSON.stringify({ value: "x" }) });
    assert.equal(response.status, 400);
    assert.deepEqual(await response.json(), { code: "invalid_argument", message: "key: must not be empty" });
  });

  test("membership changes the core refuses are FailedPrecondition", async () => {
    const clients = createApiClients(url, { token: ADMIN_TOKEN.text });
    await expectCode(clients.cluster.promote({ nodeId: 9n }), Code.FailedPrecondition, /invalid membership change/);
    await expectCode(clients.cluster.remove({ nodeId: 9n }), Code.FailedPrecondition, /invalid membership change/);
    // Transferring to a node that is not a member is refused as not found, not attempted.
    await expectCode(clients.cluster.transferLeader({ targetId: 9n }), Code.NotFound, /^cannot transfer leadership to node 9: it is not a member of the cluster \(voters: 1\)$/);
  });

  test("status names the cluster, the leader and the members", async () => {
    const status = await createApiClients(url, { token: ADMIN_TOKEN.text }).cluster.status({});
    assert.equal(status.clusterId, clusterIdFromMembers(members));
    assert.equal(status.leaderId, 1n);
    assert.deepEqual(
      status.members.map((m) => [Number(m.id), m.kind]),
      [[1, "voter"]],
    );
    assert.equal(status.nodes.length, 1);
    assert.equal(status.nodes[0]!.role, "leader");
    assert.ok(status.nodes[0]!.applied >= 1n);
  });

  test("requests without a valid token are Unauthenticated on every protocol; a join with a refused token fails at once", async () => {
    await expectCode(createApiClients(url).kv.get({ key: "k" }), Code.Unauthenticated, /^no bearer token/);
    await expectCode(createClient(KvService, createGrpcTransport({ baseUrl: url })).get({ key: "k" }), Code.Unauthenticated, /^no bearer token/);
    await expectCode(createApiClients(url, { token: "blx_0123456789abcdef_" + "A".repeat(43) }).kv.put({ key: "k", value: "v" }), Code.Unauthenticated, /^unknown or revoked token$/);
    const response = await fetch(`${url}/blixard.v1.KvService/Get`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    assert.equal(response.status, 401);
    const joining = NodeRuntime.start({ security: "insecure", nodeId: 5, peerListen: "127.0.0.1:0", apiListen: "127.0.0.1:0", dataDir: join(dir, "joiner"), join: url, joinToken: "nope", log: silentLogger });
    await assert.rejects(joining, (error: unknown) => error instanceof StartupError && /refused this node's token/.test(error.message));
  });

  test("a busy port and a foreign data directory are one-line startup errors", async () => {
    const busyPeer = NodeRuntime.start({ nodeId: 1, peerListen: node.peerAddress, apiListen: "127.0.0.1:0", dataDir: join(dir, "other"), initialCluster: new Map([[1, node.peerAddress]]), log: silentLogger, security: "insecure" });
    await assert.rejects(busyPeer, (error: unknown) => error instanceof StartupError && /address already in use/.test(error.message) && !error.message.includes("\n"));
    const busyApi = NodeRuntime.start({ nodeId: 1, peerListen: "127.0.0.1:0", apiListen: node.apiAddress, dataDir: join(dir, "other2"), initialCluster: new Map([[1, "127.0.0.1:1"]]), log: silentLogger, security: "insecure" });
    await assert.rejects(busyApi, (error: unknown) => error instanceof StartupError && /API requests .* address already in use/.test(error.message));
    // node-1's directory, claimed by node 2 of another cluster.
    await node.stop();
    const foreign = NodeRuntime.start({ nodeId: 2, peerListen: "127.0.0.1:0", apiListen: "127.0.0.1:0", dataDir: join(dir, "node-1"), initialCluster: new Map([[2, "127.0.0.1:1"]]), log: silentLogger, security: "insecure" });
    await assert.rejects(foreign, (error: unknown) => error instanceof StartupError && /belongs to another node or cluster/.test(error.message) && !error.message.includes("\n"));
  });
});
