// GET /healthz, /readyz and /metrics (src/shell/api/probes.ts, src/shell/node/node-metrics.ts):
// readiness's rules on made-up statuses, then on live in-process nodes: one that cannot elect a
// leader (its second voter does not exist) and one that leads its own cluster.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../../../src/core/env/environment.ts";
import type { ReplicaStatus } from "../../../src/core/replica/replica.ts";
import { READY_APPLY_LAG_ENTRIES_MAX, readiness } from "../../../src/shell/api/probes.ts";
import { createApiClients } from "../../../src/shell/api/client.ts";
import { NodeRuntime } from "../../../src/shell/node/runtime.ts";
import { ADMIN_HEADERS, ADMIN_TOKEN, BOOTSTRAP_TOKENS } from "../../support/admin-token.ts";
import { startSingleNode } from "../../support/single-node.ts";
import { parseExposition, sampleValue } from "../../support/prometheus-text.ts";

function statusWith(overrides: { voters?: number[]; learners?: number[]; leaderId?: number; commit?: number; applied?: number; stopped?: boolean; removedAtIndex?: number }): ReplicaStatus {
  const commit = overrides.commit ?? 10;
  return {
    raft: {
      id: 1,
      role: "follower",
      leaderId: overrides.leaderId ?? 2,
      hardState: { term: 3, vote: 2, commit },
      applied: overrides.applied ?? commit,
      firstIndex: 1,
      lastIndex: commit,
      snapshotIndex: 0,
      snapshotTerm: 0,
      confState: { voters: overrides.voters ?? [1, 2, 3], learners: overrides.learners ?? [] },
    },
    pendingCommands: 0,
    pendingReads: 0,
    stopped: overrides.stopped ?? false,
    leaseReads: 0,
    diskFull: undefined,
    persistWaitingForSpace: false,
    persistsRefusedNoSpace: 0,
    messagesDroppedWhileDiskFull: 0,
    counters: { proposals: 0, proposalsRejected: 0, campaigns: 0, electionsWon: 0, leaderChanges: 0 },
    removedAtIndex: overrides.removedAtIndex ?? 0,
  } as ReplicaStatus;
}

describe("readiness (pure)", () => {
  test("a member with a leader, applied caught up, is ready; a learner too", () => {
    assert.deepEqual(readiness(1, false, statusWith({})), { ready: true });
    assert.deepEqual(readiness(4, false, statusWith({ learners: [4] })), { ready: true });
    assert.deepEqual(readiness(1, false, statusWith({ commit: 5_000, applied: 5_000 - READY_APPLY_LAG_ENTRIES_MAX })), { ready: true });
  });
  test("each reason to be unready is named", () => {
    const reason = (verdict: ReturnType<typeof readiness>): string => (verdict.ready ? "ready" : verdict.reason);
    assert.match(reason(readiness(1, true, statusWith({}))), /stopping/);
    assert.match(reason(readiness(1, false, statusWith({ stopped: true }))), /stopping/);
    assert.match(reason(readiness(1, false, statusWith({ voters: [2, 3] }))), /node 1 is not a member .*removed/);
    assert.equal(reason(readiness(1, false, statusWith({ voters: [2, 3], removedAtIndex: 12 }))), "node 1 was removed from the cluster at index 12");
    assert.match(reason(readiness(1, false, statusWith({ leaderId: 0 }))), /no leader is known \(term 3\)/);
    assert.match(reason(readiness(1, false, statusWith({ commit: 5_000, applied: 5_000 - READY_APPLY_LAG_ENTRIES_MAX - 1 }))), /applied index 3999 is 1001 entries behind commit index 5000/);
  });
});

async function get(url: string, headers: Record<string, string> = {}, method = "GET"): Promise<{ status: number; body: string; contentType: string }> {
  const response = await fetch(url, { method, headers, signal: AbortSignal.timeout(5_000) });
  return { status: response.status, body: await response.text(), contentType: response.headers.get("content-type") ?? "" };
}

describe("probes on a node with no leader", { timeout: 30_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-probes-leaderless-"));
  let node: NodeRuntime | undefined;
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("/healthz is 200 and /readyz is 503 saying why, without a token", async () => {
    // Voter 2's address refuses connections: no quorum, no leader, ever.
    node = await NodeRuntime.start({
      nodeId: 1,
      security: "insecure",
      peerListen: "127.0.0.1:0",
      apiListen: "127.0.0.1:0",
      dataDir: join(dir, "node-1"),
      initialCluster: new Map([
        [1, "127.0.0.1:0"],
        [2, "127.0.0.1:1"],
      ]),
      log: silentLogger,
      tickMs: 20,
      bootstrapTokens: BOOTSTRAP_TOKENS,
    });
    const base = `http://${node.apiAddress}`;
    assert.deepEqual(await get(`${base}/healthz`), { status: 200, body: "ok\n", contentType: "text/plain; charset=utf-8" });
    const ready = await get(`${base}/readyz`);
    assert.equal(ready.status, 503);
    assert.equal(ready.contentType, "application/json", "an error answer carries a Connect error body");
    const readyError = JSON.parse(ready.body) as { code: string; message: string };
    assert.equal(readyError.code, "unavailable");
    assert.match(readyError.message, /^not ready: no leader is known \(term \d+\)$/);
    const metrics = parseExposition((await get(`${base}/metrics`, ADMIN_HEADERS)).body);
    assert.equal(sampleValue(metrics, "blixard_raft_leader_id"), 0);
    assert.notEqual(sampleValue(metrics, "blixard_raft_role"), 3);
  });
});

describe("probes and metrics on a node that leads", { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-probes-"));
  let node: NodeRuntime;
  let base: string;
  before(async () => {
    node = await startSingleNode(dir);
    base = `http://${node.apiAddress}`;
  });
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("/readyz is 200; the probes answer GET and HEAD only; other paths answer as before", async () => {
    assert.deepEqual(await get(`${base}/readyz`), { status: 200, body: "ok\n", contentType: "text/plain; charset=utf-8" });
    assert.equal((await get(`${base}/healthz?verbose`)).status, 200);
    assert.equal((await get(`${base}/healthz`, {}, "HEAD")).status, 200);
    const post = await get(`${base}/readyz`, {}, "POST");
    assert.equal(post.status, 405);
    assert.deepEqual(JSON.parse(post.body), { code: "unimplemented", message: "/readyz answers GET only" });
    assert.equal((await get(`${base}/healthzz`)).status, 404);
    assert.equal((await get(`${base}/`)).status, 404);
  });

  test("/healthz and /readyz over h2c too", async () => {
    const session = http2.connect(base);
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const stream = session.request({ ":path": "/readyz", ":method": "GET" });
        stream.on("response", (headers) => resolve(Number(headers[":status"])));
        stream.on("error", reject);
        stream.resume();
        stream.end();
      });
      assert.equal(status, 200);
    } finally {
      session.destroy();
    }
  });

  test("/metrics needs a token allowed to read cluster status", async () => {
    const none = await get(`${base}/metrics`);
    assert.equal(none.status, 401);
    assert.equal((JSON.parse(none.body) as { code: string }).code, "unauthenticated");
    assert.match((JSON.parse(none.body) as { message: string }).message, /^\/metrics needs a bearer token: /);
    const wrong = await get(`${base}/metrics`, { authorization: "Bearer blx_nope_nope" });
    assert.equal(wrong.status, 401);
    const ok = await get(`${base}/metrics`, ADMIN_HEADERS);
    assert.equal(ok.status, 200);
    assert.match(ok.contentType, /^text\/plain; version=0\.0\.4/);
    // Read-only suffices (what Prometheus should get); a tenant's token does not.
    const admin = createApiClients(node.apiAddress, { token: ADMIN_TOKEN.text });
    const readOnly = (await admin.token.createToken({ role: "read-only", tenant: "" })).token;
    const tenant = (await admin.token.createToken({ role: "tenant", tenant: "acme" })).token;
    assert.equal((await get(`${base}/metrics`, { authorization: `Bearer ${readOnly}` })).status, 200);
    const refused = await get(`${base}/metrics`, { authorization: `Bearer ${tenant}` });
    assert.equal(refused.status, 403);
    assert.deepEqual(JSON.parse(refused.body), { code: "permission_denied", message: "/metrics needs an admin, operator or read-only token" });
  });

  test("/metrics parses and its values move: a put counts a proposal and an API request with its code", async () => {
    const scrape = async () => parseExposition((await get(`${base}/metrics`, ADMIN_HEADERS)).body);
    const before = await scrape();
    assert.equal(before.types.get("blixard_raft_proposals_total"), "counter");
    assert.equal(before.types.get("blixard_fsync_duration_seconds"), "histogram");
    assert.equal(sampleValue(before, "blixard_raft_role", { node_id: "1" }), 3);
    assert.equal(sampleValue(before, "blixard_raft_leader_id"), 1);
    assert.ok(sampleValue(before, "blixard_raft_term")! >= 1);
    assert.ok(sampleValue(before, "blixard_raft_elections_won_total")! >= 1);
    assert.ok(sampleValue(before, "blixard_raft_leader_changes_total")! >= 1);
    assert.ok(sampleValue(before, "blixard_wal_bytes")! > 0);
    assert.ok(sampleValue(before, "blixard_fsync_duration_seconds_count", { kind: "file" })! >= 1);
    const putLabels = { method: "blixard.v1.KvService/Put", code: "200" };
    const putsBefore = sampleValue(before, "blixard_api_requests_total", putLabels) ?? 0;
    const clients = createApiClients(node.apiAddress, { token: ADMIN_TOKEN.text });
    await clients.kv.put({ key: "metrics", value: "moves" });
    const afterPut = await scrape();
    // At least: the membership agent may propose too (announcing this node's addresses).
    assert.ok(sampleValue(afterPut, "blixard_raft_proposals_total")! >= sampleValue(before, "blixard_raft_proposals_total")! + 1);
    assert.equal(sampleValue(afterPut, "blixard_api_requests_total", putLabels), putsBefore + 1);
    assert.equal(sampleValue(afterPut, "blixard_api_request_duration_seconds_count", putLabels), putsBefore + 1);
    assert.ok(sampleValue(afterPut, "blixard_raft_commit_index")! > sampleValue(before, "blixard_raft_commit_index")!);
    assert.equal(sampleValue(afterPut, "blixard_raft_applied_index"), sampleValue(afterPut, "blixard_raft_commit_index"));
    // The refused scrape and the probes are counted under their own bounded labels; unknown paths under "other".
    await get(`${base}/no/such/path`);
    const last = await scrape();
    assert.ok(sampleValue(last, "blixard_api_requests_total", { method: "metrics", code: "401" })! >= 1);
    assert.ok(sampleValue(last, "blixard_api_requests_total", { method: "other", code: "404" })! >= 1);
    assert.equal(last.samples.filter((sample) => sample.labels.method === "no/such/path").length, 0);
  });

  test("two nodes in one process keep their own registries", async () => {
    const second = await startSingleNode(mkdtempSync(join(dir, "second-")));
    try {
      const text = (await get(`http://${second.apiAddress}/metrics`, ADMIN_HEADERS)).body;
      const metrics = parseExposition(text);
      assert.equal(sampleValue(metrics, "blixard_api_requests_total", { method: "blixard.v1.KvService/Put" }), undefined);
    } finally {
      await second.stop();
    }
  });
});
