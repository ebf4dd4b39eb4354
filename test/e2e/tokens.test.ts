// Real processes, bearer tokens end to end: `blixard token create | list | revoke` through the
// CLI against three nodes; a read-only token reads but may not write; a revoked token is refused
// on every node once every node has applied the revocation; and the add-learner rewrite attack of
// issue #12 (add-learner against an existing member with another address) is refused for every
// caller, while the explicit admin address update still works.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join, resolve } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { createApiClients } from "../../src/shell/api/client.ts";
import { ADMIN_TOKEN } from "../support/admin-token.ts";
import { EXIT_CONFLICT, EXIT_PERMISSION_DENIED } from "../../src/shell/cli/api-output.ts";
import { ProcessCluster, waitFor } from "./process-cluster.ts";
import { issueClient } from "../../src/shell/cli/ca-command.ts";

const BIN = resolve(import.meta.dirname, "../../bin/blixard.js");

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** The CLI's client certificate directory for the TLS cluster (issued in `before`). */
let cliTlsDir = "";

function blixard(token: string, ...args: string[]): Promise<Run> {
  return new Promise((resolveRun) => {
    const env = { ...process.env, BLIXARD_ENDPOINT: "", BLIXARD_TOKEN: token, BLIXARD_TLS_DIR: cliTlsDir, BLIXARD_CONTEXT: join(import.meta.dirname, "no-such-context.yaml") };
    execFile(process.execPath, [BIN, ...args], { timeout: 30_000, env }, (error, stdout, stderr) => {
      resolveRun({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr });
    });
  });
}

async function codeOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
    return "OK";
  } catch (error) {
    return Code[ConnectError.from(error).code];
  }
}

describe("three node processes: tokens and roles", { timeout: 180_000 }, () => {
  const cluster = new ProcessCluster("tokens");
  const endpoint = (id: number): string => `--endpoint=${cluster.nodes.get(id)!.api}`;

  before(async () => {
    await cluster.bootstrap([1, 2, 3]);
    cliTlsDir = await issueClient(cluster.caDir!, "tokens-cli");
  });
  after(async () => {
    await cluster.cleanup();
  });

  test("create, list and revoke; a revoked token is refused on every node once applied", async () => {
    const leader = await cluster.waitForLeader([1, 2, 3], 30_000);
    const follower = [1, 2, 3].find((id) => id !== leader)!;
    await cluster.put("shared", "value");

    const created = await blixard(ADMIN_TOKEN.text, "token", "create", "--role", "read-only", "--ttl", "1h", endpoint(follower), "-o", "json");
    assert.equal(created.code, 0, created.stderr);
    const { token, info } = JSON.parse(created.stdout) as { token: string; info: { id: string; role: string; expiresAtMs: string; createdAtMs: string } };
    assert.match(token, /^blx_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    assert.equal(info.role, "read-only");
    assert.equal(Number(info.expiresAtMs) - Number(info.createdAtMs), 3_600_000);
    // The follower that forwarded the create answers only once it has applied it: the token works there at once.
    const atOnce = createApiClients(cluster.nodes.get(follower)!.api, { token, timeoutMs: 3_000, tls: await cluster.clientTls() });
    assert.equal((await atOnce.kv.get({ key: "shared", serializable: true })).value, "value", "no wait: in force at the node that answered");
    const tenant = await blixard(ADMIN_TOKEN.text, "token", "create", "--role", "tenant", "--tenant", "acme", endpoint(leader));
    assert.equal(tenant.code, 0, tenant.stderr);
    assert.match(tenant.stdout, /^blx_[0-9a-f]{16}_\S+\nID\s+ROLE\s+TENANT\s+CREATED\s+EXPIRES\n[0-9a-f]{16}\s+tenant\s+acme\s+/);

    // The token is in the book on every node: it reads on each (linearizable and serializable) and may not write.
    for (const id of [1, 2, 3]) {
      const clients = createApiClients(cluster.nodes.get(id)!.api, { token, timeoutMs: 3_000, tls: await cluster.clientTls() });
      const value = await waitFor(`the read-only token to work on node ${id}`, 10_000, async () => (await clients.kv.get({ key: "shared", serializable: true })).value);
      assert.equal(value, "value");
      assert.equal((await clients.kv.get({ key: "shared" })).value, "value");
      assert.equal(await codeOf(clients.kv.put({ key: "shared", value: "mine" })), "PermissionDenied");
      assert.equal(await codeOf(clients.token.listTokens({})), "PermissionDenied");
    }
    const put = await blixard(token, "kv", "put", "shared", "mine", endpoint(leader));
    assert.equal(put.code, EXIT_PERMISSION_DENIED);
    assert.match(put.stderr, /^blixard: PermissionDenied: a read-only token may not call blixard\.v1\.KvService\/Put/);

    // The list shows ids, roles, tenants and stamps; never a secret or a hash.
    const list = await blixard(ADMIN_TOKEN.text, "token", "list", endpoint(follower), "-o", "json");
    assert.equal(list.code, 0, list.stderr);
    const listed = (JSON.parse(list.stdout) as { tokens: Array<{ id: string; role: string; tenant: string }> }).tokens;
    assert.deepEqual(listed.find((t) => t.id === info.id), { id: info.id, role: "read-only", tenant: "", createdAtMs: info.createdAtMs, expiresAtMs: info.expiresAtMs });
    assert.ok(listed.some((t) => t.role === "tenant" && t.tenant === "acme"));
    assert.ok(!list.stdout.includes(token.slice(22)) && !/[0-9a-f]{64}/.test(list.stdout), "no secret and no hash in the list");
    // The record is not readable as a key either.
    assert.equal(await codeOf(cluster.client(leader).kv.get({ key: `_blixard/token/${info.id}` })), "InvalidArgument");

    const revoke = await blixard(ADMIN_TOKEN.text, "token", "revoke", info.id, endpoint(follower));
    assert.equal(revoke.code, 0, revoke.stderr);
    const revokedAt = Number(/index (\d+)/.exec(revoke.stdout)?.[1]);
    assert.ok(revokedAt > 0, revoke.stdout);
    assert.equal(await codeOf(atOnce.kv.get({ key: "shared", serializable: true })), "Unauthenticated", "the revocation is in force at once at the node that answered");
    await waitFor(`every node to apply the revocation (index ${revokedAt})`, 10_000, async () => {
      const statuses = await cluster.statuses([1, 2, 3]);
      return statuses.length === 3 && statuses.every((s) => s.applied >= revokedAt) ? true : undefined;
    });
    for (const id of [1, 2, 3]) {
      const clients = createApiClients(cluster.nodes.get(id)!.api, { token, timeoutMs: 3_000, tls: await cluster.clientTls() });
      assert.equal(await codeOf(clients.kv.get({ key: "shared", serializable: true })), "Unauthenticated", `node ${id}`);
      assert.equal(await codeOf(clients.kv.get({ key: "shared" })), "Unauthenticated", `node ${id}`);
      assert.equal(await codeOf(clients.cluster.status({ localOnly: true })), "Unauthenticated", `node ${id}`);
    }
    const again = await blixard(ADMIN_TOKEN.text, "token", "revoke", info.id, endpoint(leader));
    assert.match(again.stdout, /was not in the book/);
    const refused = await blixard(token, "kv", "get", "shared", endpoint(follower));
    assert.equal(refused.code, EXIT_PERMISSION_DENIED);
    assert.equal(refused.stderr, "blixard: Unauthenticated: unknown or revoked token\n");
    const none = await blixard("", "cluster", "status", endpoint(follower));
    assert.equal(none.code, EXIT_PERMISSION_DENIED);
    assert.match(none.stderr, /^blixard: Unauthenticated: no bearer token/);
  });

  test("the add-learner rewrite attack is refused; the admin address update is explicit", async () => {
    const leader = await cluster.waitForLeader([1, 2, 3], 30_000);
    const victim = [1, 2, 3].find((id) => id !== leader)!;
    const real = cluster.nodes.get(victim)!;
    const operator = JSON.parse((await blixard(ADMIN_TOKEN.text, "token", "create", "--role", "operator", endpoint(leader), "-o", "json")).stdout) as { token: string };

    const attack = ["cluster", "add-learner", String(victim), "--peer", "127.0.0.1:1", "--api", "127.0.0.1:2", endpoint(leader)];
    const asAdmin = await blixard(ADMIN_TOKEN.text, ...attack);
    assert.equal(asAdmin.code, EXIT_CONFLICT);
    assert.match(asAdmin.stderr, new RegExp(`^blixard: FailedPrecondition: node ${victim} is already a member \\(peer ${real.peer.replace(/\./g, "\\.")}, .*--update-addresses`));
    assert.match((await blixard(operator.token, ...attack)).stderr, /^blixard: PermissionDenied: /);
    assert.match((await blixard("", ...attack)).stderr, /^blixard: Unauthenticated: /);
    // The update form needs admin too.
    assert.match((await blixard(operator.token, ...attack, "--update-addresses")).stderr, /^blixard: PermissionDenied: /);

    // The book still holds the victim's real addresses, on every node, and the cluster still writes through it.
    for (const id of [1, 2, 3]) {
      const members = (await cluster.client(id).cluster.status({ localOnly: true })).members;
      const record = members.find((m) => Number(m.id) === victim)!;
      assert.deepEqual([record.peerAddress, record.apiAddress], [real.peer, real.api], `node ${id}'s book`);
    }
    await cluster.put("after-attack", "ok", 10_000, [victim]);

    // The explicit update with the node's own addresses succeeds (and changes nothing).
    const update = await blixard(ADMIN_TOKEN.text, "cluster", "add-learner", String(victim), "--peer", real.peer, "--api", real.api, "--update-addresses", endpoint(leader));
    assert.equal(update.code, 0, update.stderr);
    assert.match(update.stdout, /^OK \(index 0\)/);
  });
});
