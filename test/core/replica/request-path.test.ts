// The request path: every outcome class, forwarding over the client channel, what a
// forward lost after it may have left becomes (unknown), what a forward that never left
// becomes (not applied), deadlines by one sweep timer, and the limits. Three replicas on the
// simulator's parts (event queue, clocks, SimDisk) with a hand-driven transport of both
// channels that tests can cut, refuse or black-hole.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { RequestOutcome } from "../../../src/core/replica/request-types.ts";
import { decodeClientFrame, encodeClientFrame } from "../../../src/core/wire/client-codec.ts";
import { PathCluster, pathOptions } from "./path-cluster.ts";

function expectStatus(outcome: RequestOutcome, status: RequestOutcome["status"], reason?: string): void {
  assert.equal(outcome.status, status, JSON.stringify(outcome));
  if (reason !== undefined && outcome.status !== "ok") assert.equal(outcome.reason, reason, JSON.stringify(outcome));
}

describe("request path", () => {
  test("the leader serves every kv request locally: ok, with the result of its kind", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const leader = cluster.leader();
    const put = cluster.outcomeOf(leader, { kind: "put", key: "k", value: "v1" });
    assert.ok(put.status === "ok" && put.result.kind === "put" && put.result.index > 0);
    const get = cluster.outcomeOf(leader, { kind: "get", key: "k" });
    assert.ok(get.status === "ok" && get.result.kind === "get" && get.result.value === "v1");
    const casFail = cluster.outcomeOf(leader, { kind: "cas", key: "k", expected: "other", value: "v2" });
    assert.ok(casFail.status === "ok" && casFail.result.kind === "cas" && !casFail.result.swapped && casFail.result.current === "v1");
    const cas = cluster.outcomeOf(leader, { kind: "cas", key: "k", expected: "v1", value: "v2" });
    assert.ok(cas.status === "ok" && cas.result.kind === "cas" && cas.result.swapped);
    assert.equal(cluster.paths.get(leader)!.stats.forwarded, 0);
  });

  test("a follower forwards over the client channel and returns the leader's answer", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const leader = cluster.leader();
    const follower = cluster.follower(leader);
    const put = cluster.outcomeOf(follower, { kind: "put", key: "k", value: "via-follower" });
    assert.ok(put.status === "ok" && put.result.kind === "put");
    const get = cluster.outcomeOf(follower, { kind: "get", key: "k" });
    assert.ok(get.status === "ok" && get.result.kind === "get" && get.result.value === "via-follower");
    // An ok names the node that served it: the leader, so a client that reached a follower learns where to go.
    assert.equal(put.servedBy, leader);
    assert.equal(get.servedBy, leader);
    assert.equal(cluster.paths.get(follower)!.stats.forwarded, 2);
    assert.equal(cluster.paths.get(leader)!.stats.received, 2);
    // A serializable read never leaves the follower.
    const putIndex = put.result.index;
    cluster.runUntil(() => cluster.replicas.get(follower)!.core.appliedIndex() >= putIndex, 1_000);
    const local = cluster.outcomeOf(follower, { kind: "get-local", key: "k" });
    assert.ok(local.status === "ok" && local.result.kind === "get" && local.result.value === "via-follower");
    assert.equal(local.servedBy, follower);
    assert.equal(cluster.paths.get(follower)!.stats.forwarded, 2);
  });

  test("a forward lost after it may have left is unknown at its deadline, never not-applied", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const leader = cluster.leader();
    const follower = cluster.follower(leader);
    cluster.blackHoled.add(`${follower}>${leader}`);
    const startUs = cluster.queue.timeUs;
    const outcome = cluster.outcomeOf(follower, { kind: "put", key: "k", value: "lost" });
    expectStatus(outcome, "unknown", "timeout");
    const waitedMs = (cluster.queue.timeUs - startUs) / 1000;
    assert.ok(waitedMs >= pathOptions.forwardTimeoutMs && waitedMs <= pathOptions.forwardTimeoutMs + pathOptions.sweepIntervalMs + 1, `answered after ${waitedMs} ms`);
    assert.equal(cluster.paths.get(follower)!.stats.forwardsTimedOut, 1);
  });

  test("the leader dies after receiving a forwarded write: unknown, although the write may have been applied", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const leader = cluster.leader();
    const follower = cluster.follower(leader);
    const outcome = cluster.submit(follower, { kind: "put", key: "k", value: "maybe" });
    cluster.runUntil(() => cluster.paths.get(leader)!.stats.received === 1, 100);
    cluster.crash(leader);
    cluster.runUntil(() => outcome() !== undefined, 3_000);
    expectStatus(outcome()!, "unknown", "timeout");
  });

  test("planted bug forward-error-as-not-applied: the same lost forward is reported not-applied", () => {
    const cluster = new PathCluster([1, 2, 3], { plantedBugs: new Set(["forward-error-as-not-applied"]) });
    const leader = cluster.leader();
    const follower = cluster.follower(leader);
    cluster.blackHoled.add(`${follower}>${leader}`);
    expectStatus(cluster.outcomeOf(follower, { kind: "put", key: "k", value: "lost" }), "not-applied");
  });

  test("a forward the transport refused at once certainly never left: not-applied with the leader as hint", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const leader = cluster.leader();
    const follower = cluster.follower(leader);
    cluster.refused.add(`${follower}>${leader}`);
    const outcome = cluster.outcomeOf(follower, { kind: "put", key: "k", value: "never-sent" }, 0);
    assert.ok(outcome.status === "not-applied" && outcome.reason === "forward-not-sent" && outcome.leaderHint === leader, JSON.stringify(outcome));
    assert.equal(cluster.paths.get(follower)!.forwardsPending, 0);
  });

  test("no leader known: not-applied no-leader, at once", () => {
    const cluster = new PathCluster([1, 2, 3]);
    // Before the first election nobody leads.
    const outcome = cluster.outcomeOf(1, { kind: "put", key: "k", value: "v" }, 0);
    expectStatus(outcome, "not-applied", "no-leader");
  });

  test("a forwarded request that reaches a non-leader is refused with a hint, never forwarded twice", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const leader = cluster.leader();
    const follower = cluster.follower(leader);
    const bytes = encodeClientFrame({ kind: "request", origin: 7, requestId: 1, hops: 1, request: { kind: "put", key: "k", value: "v" } });
    assert.equal(cluster.clientSends(follower, bytes), "ok");
    cluster.runUntil(() => cluster.clientInbox.length === 1, 100);
    const decoded = decodeClientFrame(cluster.clientInbox[0]!.bytes);
    assert.ok(decoded.ok && decoded.frame.kind === "outcome" && decoded.frame.requestId === 1 && decoded.frame.origin === 7);
    assert.ok(decoded.frame.outcome.status === "not-applied" && decoded.frame.outcome.reason === "not-leader" && decoded.frame.outcome.leaderHint === leader);
    assert.equal(cluster.paths.get(follower)!.stats.forwarded, 0);
  });

  test("a client's request (hops 0) sent to a follower is forwarded and answered to the client", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const leader = cluster.leader();
    const follower = cluster.follower(leader);
    cluster.clientSends(follower, encodeClientFrame({ kind: "request", origin: 9, requestId: 5, hops: 0, request: { kind: "put", key: "k", value: "v" } }));
    cluster.runUntil(() => cluster.clientInbox.length === 1, 1_000);
    const decoded = decodeClientFrame(cluster.clientInbox[0]!.bytes);
    assert.ok(decoded.ok && decoded.frame.kind === "outcome" && decoded.frame.requestId === 5 && decoded.frame.outcome.status === "ok");
  });

  test("a command the leader cannot commit is unknown at the replica's timeout, and so is the forward", () => {
    const cluster = new PathCluster([1, 2, 3], { forwardTimeoutMs: 800 });
    const leader = cluster.leader();
    const follower = cluster.follower(leader);
    const other = cluster.ids.find((id) => id !== leader && id !== follower)!;
    // The leader hears the forward, then loses its quorum: its log entry may yet commit under a successor.
    const forwarded = cluster.submit(follower, { kind: "put", key: "k", value: "stuck-forwarded" });
    cluster.runUntil(() => cluster.paths.get(leader)!.stats.received === 1, 100);
    cluster.isolated.add(other);
    cluster.refused.add(`${leader}>${follower}`);
    const local = cluster.submit(leader, { kind: "put", key: "k", value: "stuck" });
    cluster.runUntil(() => local() !== undefined && forwarded() !== undefined, 3_000);
    expectStatus(local()!, "unknown", "timeout");
    expectStatus(forwarded()!, "unknown", "timeout");
  });

  test("invalid requests are not-applied invalid, with the services' words", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const leader = cluster.leader();
    const reserved = cluster.outcomeOf(leader, { kind: "put", key: "_blixard/member/1", value: "x" }, 0);
    assert.ok(reserved.status === "not-applied" && reserved.reason === "invalid" && /reserved/.test(reserved.detail));
    expectStatus(cluster.outcomeOf(leader, { kind: "get", key: "" }, 0), "not-applied", "invalid");
    expectStatus(cluster.outcomeOf(leader, { kind: "promote", nodeId: 0 }, 0), "not-applied", "invalid");
  });

  test("admin requests: add-learner with addresses, promote, transfer-leader, remove; refusals are not-applied", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const leader = cluster.leader();
    const follower = cluster.follower(leader);
    const added = cluster.outcomeOf(follower, { kind: "add-learner", nodeId: 9, peer: "h:9", api: "h:19", addressesOnly: false });
    assert.ok(added.status === "ok" && added.result.kind === "membership" && added.result.confState.learners.includes(9), JSON.stringify(added));
    // The addresses are in the book (a linearizable read through the follower).
    const book = cluster.outcomeOf(follower, { kind: "get", key: "_blixard/member/9" });
    assert.ok(book.status === "ok" && book.result.kind === "get");
    assert.deepEqual(JSON.parse(book.result.value), { peer: "h:9", api: "h:19" });
    // Promoting a node that is not a learner is refused: certainly not applied.
    expectStatus(cluster.outcomeOf(leader, { kind: "promote", nodeId: 42 }), "not-applied", "invalid-conf-change");
    const removed = cluster.outcomeOf(follower, { kind: "remove", nodeId: 9 });
    assert.ok(removed.status === "ok" && removed.result.kind === "membership" && !removed.result.confState.learners.includes(9), JSON.stringify(removed));
    const transfer = cluster.outcomeOf(follower, { kind: "transfer-leader", targetId: follower });
    assert.ok(transfer.status === "ok" && transfer.result.kind === "transfer" && transfer.result.leaderId === follower, JSON.stringify(transfer));
    const self = cluster.outcomeOf(follower, { kind: "transfer-leader", targetId: follower }, 0);
    assert.ok(self.status === "ok" && self.result.kind === "transfer");
  });

  test("add-learner never rewrites a member's addresses; the same ones are idempotent, the address update (addressesOnly) rewrites", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const leader = cluster.leader();
    const follower = cluster.follower(leader);
    const added = cluster.outcomeOf(follower, { kind: "add-learner", nodeId: 9, peer: "h:9", api: "h:19", addressesOnly: false });
    assert.equal(added.status, "ok", JSON.stringify(added));
    const again = cluster.outcomeOf(follower, { kind: "add-learner", nodeId: 9, peer: "h:9", api: "h:19", addressesOnly: false });
    assert.ok(again.status === "ok" && again.result.kind === "membership" && again.result.index === 0, JSON.stringify(again));
    // The attack of issue #12: add-learner against an existing member with an address of one's own.
    for (const target of [9, leader]) {
      const rewrite = cluster.outcomeOf(follower, { kind: "add-learner", nodeId: target, peer: "evil:1", api: "evil:2", addressesOnly: false });
      assert.ok(rewrite.status === "not-applied" && rewrite.reason === "invalid-conf-change" && /already a member .*--update-addresses/.test(rewrite.detail), JSON.stringify(rewrite));
    }
    const book = (id: number): string => cluster.machines.get(leader)!.value(`_blixard/member/${id}`);
    assert.deepEqual(JSON.parse(book(9)), { peer: "h:9", api: "h:19" });
    const update = cluster.outcomeOf(follower, { kind: "add-learner", nodeId: 9, peer: "h:99", api: "", addressesOnly: true });
    assert.equal(update.status, "ok", JSON.stringify(update));
    assert.deepEqual(JSON.parse(book(9)), { peer: "h:99", api: "h:19" });
  });

  test("a transfer to a node that is not a member is not-a-member; a removed node refuses every request as removed, and serves again once re-added", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const leader = cluster.leader();
    expectStatus(cluster.outcomeOf(leader, { kind: "transfer-leader", targetId: 9 }), "not-applied", "not-a-member");
    const removedId = cluster.follower(leader);
    // The leader's first entry of its term must apply before it takes a membership change.
    cluster.runUntil(() => cluster.replicas.get(leader)!.status().raft.applied >= cluster.replicas.get(leader)!.status().raft.lastIndex, 2_000);
    const removal = cluster.outcomeOf(leader, { kind: "remove", nodeId: removedId });
    assert.ok(removal.status === "ok" && removal.result.kind === "membership", JSON.stringify(removal));
    const index = removal.result.index;
    cluster.runUntil(() => cluster.replicas.get(removedId)!.removedAtIndex() !== 0, 2_000);
    assert.equal(cluster.replicas.get(removedId)!.removedAtIndex(), index);
    assert.equal(cluster.replicas.get(removedId)!.status().removedAtIndex, index);
    // Reads (local ones too), writes and admin requests: none is served or forwarded by the removed node.
    for (const request of [{ kind: "get", key: "k" }, { kind: "get-local", key: "k" }, { kind: "put", key: "k", value: "v" }, { kind: "transfer-leader", targetId: leader }] as const) {
      const outcome = cluster.outcomeOf(removedId, request);
      assert.ok(outcome.status === "not-applied" && outcome.reason === "removed", `${request.kind}: ${JSON.stringify(outcome)}`);
      assert.equal(outcome.detail, `this node (${removedId}) was removed from the cluster at index ${index}; contact a member`);
    }
    // Added back (as a learner), it is a member again and serves.
    const back = cluster.outcomeOf(leader, { kind: "add-learner", nodeId: removedId, peer: `h:${removedId}`, api: "", addressesOnly: false });
    assert.equal(back.status, "ok", JSON.stringify(back));
    cluster.runUntil(() => cluster.replicas.get(removedId)!.removedAtIndex() === 0, 3_000);
    expectStatus(cluster.outcomeOf(removedId, { kind: "put", key: "k", value: "again" }), "ok");
  });

  test("token-create writes a record once (a retry is ok with index 0, another record under the id is refused); token-revoke empties it, idempotently", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const leader = cluster.leader();
    const follower = cluster.follower(leader);
    const record = { id: "00112233aabbccdd", role: "read-only" as const, tenant: "", hashHex: "c".repeat(64), createdAtMs: 5_000, expiresAtMs: 0 };
    const key = `_blixard/token/${record.id}`;
    const created = cluster.outcomeOf(follower, { kind: "token-create", record });
    assert.ok(created.status === "ok" && created.result.kind === "put" && created.result.index > 0, JSON.stringify(created));
    const retry = cluster.outcomeOf(follower, { kind: "token-create", record });
    assert.ok(retry.status === "ok" && retry.result.kind === "put" && retry.result.index === 0, JSON.stringify(retry));
    expectStatus(cluster.outcomeOf(follower, { kind: "token-create", record: { ...record, role: "admin" } }), "not-applied", "invalid");
    // The record is never readable as a key, and never writable by kv put.
    expectStatus(cluster.outcomeOf(follower, { kind: "get", key }, 0), "not-applied", "invalid");
    expectStatus(cluster.outcomeOf(follower, { kind: "get-local", key }, 0), "not-applied", "invalid");
    expectStatus(cluster.outcomeOf(follower, { kind: "put", key, value: "" }, 0), "not-applied", "invalid");
    cluster.runFor(200);
    for (const machine of cluster.machines.values()) assert.notEqual(machine.query({ key }), "", "every replica holds the record");
    const revoked = cluster.outcomeOf(follower, { kind: "token-revoke", id: record.id });
    assert.ok(revoked.status === "ok" && revoked.result.kind === "put" && revoked.result.index > created.result.index, JSON.stringify(revoked));
    cluster.runFor(200);
    for (const machine of cluster.machines.values()) assert.equal(machine.query({ key }), "", "every replica dropped the record");
    const twice = cluster.outcomeOf(follower, { kind: "token-revoke", id: record.id });
    assert.ok(twice.status === "ok" && twice.result.kind === "put" && twice.result.index === 0, JSON.stringify(twice));
    expectStatus(cluster.outcomeOf(follower, { kind: "token-revoke", id: "not-an-id" }, 0), "not-applied", "invalid");
  });

  test("forwards are bounded: past forwardsPendingMax the next is not-applied overloaded", () => {
    const cluster = new PathCluster([1, 2, 3], { forwardsPendingMax: 2 });
    const leader = cluster.leader();
    const follower = cluster.follower(leader);
    cluster.blackHoled.add(`${follower}>${leader}`);
    const first = cluster.submit(follower, { kind: "put", key: "a", value: "1" });
    const second = cluster.submit(follower, { kind: "put", key: "b", value: "1" });
    const third = cluster.submit(follower, { kind: "put", key: "c", value: "1" });
    assert.equal(first(), undefined);
    assert.equal(second(), undefined);
    expectStatus(third()!, "not-applied", "overloaded");
    cluster.runUntil(() => second() !== undefined, 2_000);
    expectStatus(first()!, "unknown");
    expectStatus(second()!, "unknown");
  });

  test("deadlines are one sweep timer, armed only while forwards wait", () => {
    const cluster = new PathCluster([1, 2, 3], { forwardsPendingMax: 100 });
    const leader = cluster.leader();
    const follower = cluster.follower(leader);
    cluster.blackHoled.add(`${follower}>${leader}`);
    const before = cluster.pathTimersArmed.get(follower) ?? 0;
    assert.equal(before, 0, "no timer while nothing waits");
    const outcomes = Array.from({ length: 50 }, (_, i) => cluster.submit(follower, { kind: "put", key: `k${i}`, value: "v" }));
    cluster.runUntil(() => outcomes.every((o) => o() !== undefined), 2_000);
    for (const outcome of outcomes) expectStatus(outcome()!, "unknown", "timeout");
    const armed = cluster.pathTimersArmed.get(follower)!;
    // One sweep per interval over the forward timeout, not one per request.
    assert.ok(armed <= Math.ceil(pathOptions.forwardTimeoutMs / pathOptions.sweepIntervalMs) + 1, `${armed} timers for 50 forwards`);
    cluster.runFor(1_000);
    assert.equal(cluster.pathTimersArmed.get(follower), armed, "the sweep stops when nothing waits");
  });

  test("a late outcome after the deadline is ignored (counted), and never a second outcome", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const leader = cluster.leader();
    const follower = cluster.follower(leader);
    // The answer is late: the leader's answers to the follower are held back by isolating the link after the request arrives.
    const outcome = cluster.submit(follower, { kind: "put", key: "k", value: "late" });
    cluster.runUntil(() => cluster.paths.get(leader)!.stats.received === 1, 100);
    cluster.blackHoled.add(`${leader}>${follower}`);
    cluster.runUntil(() => outcome() !== undefined, 2_000);
    expectStatus(outcome()!, "unknown", "timeout");
    // An outcome frame for that request id now arrives by hand: ignored.
    const path = cluster.paths.get(follower)!;
    const origin = (path as unknown as { origin: number }).origin;
    const late = encodeClientFrame({ kind: "outcome", origin, requestId: 1, outcome: { status: "ok", result: { kind: "put", index: 3 }, servedBy: 1 } });
    assert.equal(cluster.paths.get(follower)!.stats.lateOutcomes, 0);
    cluster.blackHoled.clear();
    const receiverVerdict = cluster.clientSendsAs(leader, follower, late);
    assert.equal(receiverVerdict, "ok");
    assert.equal(path.stats.lateOutcomes, 1);
  });

  test("malformed bytes on the client channel are refused and counted", () => {
    const cluster = new PathCluster([1, 2, 3]);
    assert.equal(cluster.clientSends(1, new Uint8Array([9, 9, 9])), "malformed");
    assert.equal(cluster.clientSends(1, new Uint8Array([])), "malformed");
    assert.equal(cluster.paths.get(1)!.stats.malformed, 2);
  });

  test("an outcome from a node the request was not forwarded to is malformed", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const leader = cluster.leader();
    const follower = cluster.follower(leader);
    cluster.blackHoled.add(`${follower}>${leader}`);
    cluster.submit(follower, { kind: "put", key: "k", value: "v" });
    const path = cluster.paths.get(follower)!;
    const origin = (path as unknown as { origin: number }).origin;
    const bytes = encodeClientFrame({ kind: "outcome", origin, requestId: 1, outcome: { status: "ok", result: { kind: "put", index: 3 }, servedBy: 1 } });
    assert.equal(cluster.clientSends(follower, bytes), "malformed");
    assert.equal(path.forwardsPending, 1);
  });

  test("stop: waiting forwards become unknown, new requests not-applied stopped", () => {
    const cluster = new PathCluster([1, 2, 3]);
    const leader = cluster.leader();
    const follower = cluster.follower(leader);
    cluster.blackHoled.add(`${follower}>${leader}`);
    const waiting = cluster.submit(follower, { kind: "put", key: "k", value: "v" });
    cluster.paths.get(follower)!.stop();
    expectStatus(waiting()!, "unknown", "stopped");
    expectStatus(cluster.outcomeOf(follower, { kind: "put", key: "k", value: "v" }, 0), "not-applied", "stopped");
  });
});
