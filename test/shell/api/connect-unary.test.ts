// The Connect unary fast path (src/shell/api/connect-unary.ts) must answer exactly as
// connect-node does: same HTTP status, same content type, same body (up to log indexes).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { silentLogger } from "../../../src/core/env/environment.ts";
import { NodeRuntime } from "../../../src/shell/node/runtime.ts";
import { PutRequestSchema } from "../../../src/shell/api/gen/blixard/v1/kv_pb.ts";
import { waitUntil } from "../../support/wait-until.ts";
import { ADMIN_HEADERS, BOOTSTRAP_TOKENS } from "../../support/admin-token.ts";

interface Reply {
  readonly status: number;
  readonly contentType: string | null;
  readonly body: string;
}

async function call(base: string, path: string, contentType: string, body: string | Uint8Array, headers: Record<string, string> = {}): Promise<Reply> {
  const response = await fetch(`${base}${path}`, { method: "POST", headers: { "content-type": contentType, ...ADMIN_HEADERS, ...headers }, body });
  const text = Buffer.from(await response.arrayBuffer()).toString("base64");
  return { status: response.status, contentType: response.headers.get("content-type"), body: text };
}

/** Replaces JSON log positions ("index", and a key's create and mod revisions) with a marker: they differ between two clusters. */
function normalized(reply: Reply): Reply {
  // A binary PutResponse holds only the index: compare that it is there, not its value.
  if (reply.contentType === "application/proto") return { ...reply, body: reply.body.length > 0 ? "binary" : "" };
  if (reply.contentType !== "application/json") return reply;
  const text = Buffer.from(reply.body, "base64").toString("utf8").replace(/"(index|createRevision|modRevision)":"\d+"/g, '"$1":"N"');
  return { ...reply, body: text };
}

describe("Connect unary fast path answers like connect-node", { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-unary-"));
  const nodes: NodeRuntime[] = [];

  before(async () => {
    for (const plain of [false, true]) {
      const node = await NodeRuntime.start({
        nodeId: 1,
        security: "insecure",
        peerListen: "127.0.0.1:0",
        apiListen: "127.0.0.1:0",
        dataDir: join(dir, plain ? "plain" : "fast"),
        initialCluster: new Map([[1, "127.0.0.1:0"]]),
        clusterId: "same-cluster",
        log: silentLogger,
        tickMs: 20,
        bootstrapTokens: BOOTSTRAP_TOKENS,
        plainConnectOnly: plain,
      });
      nodes.push(node);
      await waitUntil("leadership", () => node.status().raft.role === "leader");
    }
  });
  after(async () => {
    for (const node of nodes) await node.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const cases: Array<[string, string, string, string | Uint8Array]> = [
    ["put", "/blixard.v1.KvService/Put", "application/json", JSON.stringify({ key: "k", value: "v" })],
    ["get", "/blixard.v1.KvService/Get", "application/json", JSON.stringify({ key: "k" })],
    ["get absent", "/blixard.v1.KvService/Get", "application/json", JSON.stringify({ key: "nothing" })],
    ["empty body", "/blixard.v1.KvService/Get", "application/json", ""],
    ["cas", "/blixard.v1.KvService/CompareAndSet", "application/json", JSON.stringify({ key: "k", expected: "x", value: "y" })],
    ["invalid key", "/blixard.v1.KvService/Put", "application/json", JSON.stringify({ key: "", value: "v" })],
    ["invalid node id", "/blixard.v1.ClusterService/Promote", "application/json", JSON.stringify({ nodeId: "0" })],
    ["refused change", "/blixard.v1.ClusterService/Remove", "application/json", JSON.stringify({ nodeId: "7" })],
    ["binary put", "/blixard.v1.KvService/Put", "application/proto", toBinary(PutRequestSchema, create(PutRequestSchema, { key: "b", value: "c" }))],
    ["charset", "/blixard.v1.KvService/Get", "application/json; charset=utf-8", JSON.stringify({ key: "k" })],
  ];
  const withDeadline: Record<string, string> = { "connect-timeout-ms": "5000", "connect-protocol-version": "1" };

  for (const [name, path, contentType, body] of cases) {
    test(name, async () => {
      const [fast, plain] = await Promise.all(nodes.map((node) => call(`http://${node.apiAddress}`, path, contentType, body)));
      assert.deepEqual(normalized(fast!), normalized(plain!));
    });
  }

  test("a client deadline header is served the same", async () => {
    const [fast, plain] = await Promise.all(
      nodes.map((node) => call(`http://${node.apiAddress}`, "/blixard.v1.KvService/Get", "application/json", JSON.stringify({ key: "k" }), withDeadline)),
    );
    assert.deepEqual(normalized(fast!), normalized(plain!));
  });

  test("malformed JSON is invalid_argument on both paths", async () => {
    const replies = await Promise.all(nodes.map((node) => call(`http://${node.apiAddress}`, "/blixard.v1.KvService/Put", "application/json", "{not json")));
    for (const reply of replies) {
      assert.equal(reply.status, 400);
      assert.match(Buffer.from(reply.body, "base64").toString(), /"code":"invalid_argument"/);
    }
  });
});
