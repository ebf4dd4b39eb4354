// The client API over TLS on one in-process node: HTTP/2 and HTTP/1.1 by ALPN on one port,
// the Connect and gRPC protocols, optional client certificates (one from another CA is refused),
// a plaintext request answered with one clear error, and a node whose TLS directory names another
// node refused at startup.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import type { TLSSocket } from "node:tls";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { silentLogger } from "../../../src/core/env/environment.ts";
import { NodeRuntime, StartupError } from "../../../src/shell/node/runtime.ts";
import { createApiClients, type ClientTls } from "../../../src/shell/api/client.ts";
import { KvService } from "../../../src/shell/api/gen/blixard/v1/kv_pb.ts";
import { initCa, issueClient, issueNode } from "../../../src/shell/cli/ca-command.ts";
import { createCertificateAuthority, issueCertificate } from "../../../src/shell/tls/certificate-authority.ts";
import { waitUntil } from "../../support/wait-until.ts";
import { ADMIN_HEADERS, ADMIN_TOKEN, BOOTSTRAP_TOKENS } from "../../support/admin-token.ts";

describe("the API over TLS", () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-tls-api-"));
  let node: NodeRuntime;
  let clientTls: ClientTls;

  before(async () => {
    await initCa(join(dir, "ca"));
    const tlsDir = await issueNode(join(dir, "ca"), 1, ["127.0.0.1"]);
    const clientDir = await issueClient(join(dir, "ca"), "tester");
    clientTls = { caPem: readFileSync(join(clientDir, "ca.pem"), "utf8"), certPem: readFileSync(join(clientDir, "client.pem"), "utf8"), keyPem: readFileSync(join(clientDir, "client-key.pem"), "utf8") };
    node = await NodeRuntime.start({ nodeId: 1, security: { tlsDir }, peerListen: "127.0.0.1:0", apiListen: "127.0.0.1:0", dataDir: join(dir, "node-1"), initialCluster: new Map([[1, "127.0.0.1:0"]]), log: silentLogger, tickMs: 20, bootstrapTokens: BOOTSTRAP_TOKENS });
    await waitUntil("leadership", () => node.status().raft.role === "leader");
  });
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("HTTP/1.1 and HTTP/2 (ALPN), with and without a client certificate, Connect and gRPC", async () => {
    const withCert = createApiClients(node.apiAddress, { tls: clientTls, token: ADMIN_TOKEN.text });
    assert.ok(withCert.url.startsWith("https://"), withCert.url);
    await withCert.kv.put({ key: "k", value: "v" });
    const h2 = createApiClients(node.apiAddress, { tls: { caPem: clientTls.caPem }, httpVersion: "2", token: ADMIN_TOKEN.text });
    assert.equal((await h2.kv.get({ key: "k" })).value, "v");
    const grpc = createClient(KvService, createGrpcTransport({ baseUrl: `https://${node.apiAddress}`, nodeOptions: { ca: clientTls.caPem }, interceptors: [(next) => (request) => { request.header.set("authorization", ADMIN_HEADERS.authorization!); return next(request); }] }));
    assert.equal((await grpc.get({ key: "k" })).value, "v");
  });

  test("/healthz, /readyz and /metrics over TLS, HTTP/1.1 and HTTP/2 (ALPN)", async () => {
    const get = (path: string, headers: Record<string, string>, alpn: string[]): Promise<{ status: number; body: string; alpn: string | false }> =>
      new Promise((resolve, reject) => {
        if (alpn.includes("h2")) {
          const session = http2.connect(`https://${node.apiAddress}`, { ca: clientTls.caPem });
          session.on("error", reject);
          const stream = session.request({ ":path": path, ...headers });
          let body = "";
          let status = 0;
          stream.on("response", (response) => (status = Number(response[":status"])));
          stream.on("data", (chunk: Buffer) => (body += chunk.toString()));
          stream.on("end", () => {
            const protocol = session.alpnProtocol ?? false;
            session.close();
            resolve({ status, body, alpn: protocol });
          });
          stream.on("error", reject);
          stream.end();
          return;
        }
        const request = https.request(`https://${node.apiAddress}${path}`, { ca: clientTls.caPem, headers, agent: false, ...({ ALPNProtocols: alpn } as object) }, (response) => {
          let body = "";
          response.on("data", (chunk: Buffer) => (body += chunk.toString()));
          response.on("end", () => resolve({ status: response.statusCode ?? 0, body, alpn: (response.socket as TLSSocket).alpnProtocol ?? false }));
        });
        request.on("error", reject);
        request.end();
      });
    for (const alpn of [["http/1.1"], ["h2"]]) {
      assert.deepEqual(await get("/healthz", {}, alpn), { status: 200, body: "ok\n", alpn: alpn[0] });
      assert.equal((await get("/readyz", {}, alpn)).status, 200);
      assert.equal((await get("/metrics", {}, alpn)).status, 401);
      const metrics = await get("/metrics", ADMIN_HEADERS, alpn);
      assert.equal(metrics.status, 200);
      assert.match(metrics.body, /^blixard_raft_role\{node_id="1"\} 3$/m);
    }
  });

  test("a client certificate from another CA is refused; a plaintext request gets one clear error", async () => {
    const rogueCa = await createCertificateAuthority("rogue");
    const rogue = await issueCertificate(rogueCa, { kind: "client", name: "mallory" });
    const refused = createApiClients(node.apiAddress, { tls: { caPem: clientTls.caPem, certPem: rogue.certPem, keyPem: rogue.keyPem }, timeoutMs: 3_000 });
    await assert.rejects(refused.kv.get({ key: "k" }));
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = http.request(`http://${node.apiAddress}/blixard.v1.KvService/Get`, { method: "POST", headers: { "content-type": "application/json" } }, (response) => {
        let body = "";
        response.on("data", (chunk: Buffer) => (body += chunk.toString()));
        response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      });
      request.on("error", reject);
      request.end('{"key":"k"}');
    });
    assert.equal(answer.status, 400);
    assert.match(answer.body, /speaks TLS only: use https:\/\//);
    assert.throws(() => createApiClients(`http://${node.apiAddress}`, { tls: clientTls }), /plaintext http:\/\/ but a CA was given: use https:\/\//);
  });

  test("a TLS directory whose certificate names another node is a one-line startup error", async () => {
    const other = await issueNode(join(dir, "ca"), 2, ["127.0.0.1"], join(dir, "node-2-tls"));
    const start = NodeRuntime.start({ nodeId: 3, security: { tlsDir: other }, peerListen: "127.0.0.1:0", apiListen: "127.0.0.1:0", dataDir: join(dir, "node-3"), initialCluster: new Map([[3, "127.0.0.1:0"]]), log: silentLogger });
    await assert.rejects(start, (error: unknown) => error instanceof StartupError && /--tls-dir: .*names node 2, this is node 3/.test(error.message) && !error.message.includes("\n"));
  });
});
