// The peer-port attacks of issue #12 against three real node processes over mutual TLS (loopback
// only; every connection bounded by a deadline; the cluster and its directory removed even when
// a test fails). Each attack must now fail to do harm:
// - a forged hello claiming the leader, then an append at term 2000 that would commit a key, and
//   a forged heartbeat at term 1000, over plain TCP, TLS without a certificate, a self-signed
//   certificate, a certificate naming the leader from another CA, and a valid certificate of
//   another node: the connection is closed, no term moves, nothing is committed;
// - a 64 MiB frame before the hello: refused at its header (limit 4 KiB), resident memory stays
//   within RSS_GROWTH_BYTES_MAX;
// - connections that trickle their handshake: closed by the one 3 s handshake deadline.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ProcessCluster, waitFor, type LocalStatus } from "./process-cluster.ts";
import { attack, concatBytes, flood, forgedAppend, forgedHeartbeat, helloFrame, type AttackCredentials } from "../support/peer-attacker.ts";
import { createCertificateAuthority, issueCertificate } from "../../src/shell/tls/certificate-authority.ts";
import { HANDSHAKE_TIMEOUT_MS_DEFAULT } from "../../src/shell/os/tcp-transport.ts";

const ATTACK_DEADLINE_MS = 10_000;
/** Twelve connections each offering 64 MiB may grow the node's resident memory by at most this. */
const RSS_GROWTH_BYTES_MAX = 48 * 1024 * 1024;
const FLOOD_CONNECTIONS = 12;

function residentBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  assert.ok(match !== null, "no VmRSS in /proc/<pid>/status");
  return Number(match[1]) * 1024;
}

describe("peer-port attacks on three node processes over mutual TLS", { timeout: 180_000 }, () => {
  const cluster = new ProcessCluster("peer-attacks");
  let leader = 0;
  let follower = 0;
  let bystander = 0;
  let clusterId = "";
  /** A valid certificate of the cluster's CA for node 9, which is no member: an insider without a seat. */
  let outsider: AttackCredentials = "plain";

  before(async () => {
    await cluster.bootstrap([1, 2, 3]);
    leader = await cluster.waitForLeader([1, 2, 3], 30_000);
    [follower, bystander] = [1, 2, 3].filter((id) => id !== leader) as [number, number];
    await cluster.put("before", "1", 15_000);
    clusterId = (await cluster.client(leader).cluster.status({ localOnly: true })).clusterId;
    const caPem = readFileSync(join(cluster.caDir!, "ca.pem"), "utf8");
    const caKeyPem = readFileSync(join(cluster.caDir!, "ca-key.pem"), "utf8");
    const node9 = await issueCertificate({ certPem: caPem, keyPem: caKeyPem }, { kind: "node", nodeId: 9, hosts: ["127.0.0.1"] });
    outsider = { certPem: node9.certPem, keyPem: node9.keyPem };
  });
  after(async () => {
    await cluster.cleanup();
  });

  test("forged hello + append at term 2000 and forged heartbeat at term 1000: refused with every kind of credential; terms unchanged, nothing committed", async () => {
    const statusesBefore = await cluster.statuses([1, 2, 3]);
    assert.equal(statusesBefore.length, 3);
    const rogueCa = await createCertificateAuthority("An attacker's CA");
    const rogueLeader = await issueCertificate(rogueCa, { kind: "node", nodeId: leader, hosts: ["127.0.0.1"] });
    const bystanderDir = cluster.nodes.get(bystander)!.tlsDir!;
    const credentials: [string, AttackCredentials][] = [
      ["plain TCP", "plain"],
      ["TLS without a certificate", {}],
      ["a self-signed certificate", { certPem: rogueCa.certPem, keyPem: rogueCa.keyPem }],
      [`a certificate naming node ${leader} from another CA`, { certPem: rogueLeader.certPem, keyPem: rogueLeader.keyPem }],
      [`node ${bystander}'s valid certificate, claiming node ${leader}`, { certPem: readFileSync(join(bystanderDir, "node.pem"), "utf8"), keyPem: readFileSync(join(bystanderDir, "node-key.pem"), "utf8") }],
    ];
    const lastIndex = Math.max(...statusesBefore.map((s) => s.commit));
    const target = cluster.nodes.get(follower)!.peer;
    for (const [name, credential] of credentials) {
      for (const bytes of [forgedAppend(clusterId, leader, follower, lastIndex, "forged"), forgedHeartbeat(clusterId, leader, follower)]) {
        const result = await attack(target, credential, bytes, ATTACK_DEADLINE_MS);
        assert.ok(result.closedByPeer, `${name}: node ${follower} kept the forged connection open`);
      }
    }
    // The cluster still works, and a write after the attacks is acknowledged by the real leader.
    await cluster.put("after", "1", 15_000);
    const statusesAfter = await cluster.statuses([1, 2, 3]);
    assert.equal(statusesAfter.length, 3);
    const byId = (list: readonly LocalStatus[], id: number): LocalStatus => list.find((s) => s.id === id)!;
    for (const id of [1, 2, 3]) {
      // Unchanged: a forged term would be 1000 or 2000 or above (the original attack made it 2001).
      assert.equal(byId(statusesAfter, id).term, byId(statusesBefore, id).term, `node ${id}'s term moved`);
      assert.equal(await cluster.get(id, "forged", true), "", `node ${id} applied the forged key`);
    }
    assert.equal(await cluster.get(leader, "forged"), "");
    assert.equal(await cluster.get(leader, "before"), "1");
    const log = cluster.log(follower);
    assert.match(log, /peer TLS handshake failed/);
    assert.match(log, /certificate names node/);
  });

  test(`${FLOOD_CONNECTIONS} connections each sending a 64 MiB frame before the hello: refused at the header; resident memory grows by less than ${RSS_GROWTH_BYTES_MAX / 1024 / 1024} MiB`, async () => {
    const pid = cluster.nodes.get(follower)!.child!.pid!;
    const rssBefore = residentBytes(pid);
    const header = new Uint8Array(8);
    new DataView(header.buffer).setUint32(0, 64 * 1024 * 1024, false);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, residentBytes(pid))), 20);
    let results;
    try {
      results = await Promise.all(Array.from({ length: FLOOD_CONNECTIONS }, () => flood(cluster.nodes.get(follower)!.peer, outsider, header, 64 * 1024 * 1024, ATTACK_DEADLINE_MS)));
    } finally {
      clearInterval(sampler);
    }
    rssPeak = Math.max(rssPeak, residentBytes(pid));
    for (const result of results) {
      assert.ok(result.closedByPeer, "a 64 MiB pre-hello frame's connection stayed open");
      assert.ok(result.bytesWritten < 64 * 1024 * 1024, `the attacker wrote all ${result.bytesWritten} bytes before being cut off`);
      assert.ok(result.elapsedMs < HANDSHAKE_TIMEOUT_MS_DEFAULT, `closed after ${result.elapsedMs} ms: by the deadline, not the frame limit`);
    }
    assert.ok(rssPeak - rssBefore < RSS_GROWTH_BYTES_MAX, `resident memory grew from ${rssBefore} to ${rssPeak} bytes`);
    assert.match(cluster.log(follower), /before the hello: frame length 67108864 exceeds limit 4096/);
    process.stdout.write(`# 64 MiB pre-hello floods: node rss ${(rssBefore / 1048576).toFixed(1)} MiB -> peak ${(rssPeak / 1048576).toFixed(1)} MiB; attacker bytes written before cut-off: max ${Math.max(...results.map((r) => r.bytesWritten))}\n`);
  });

  test(`trickling handshakes (TLS record bytes, a hello one byte at a time) are closed by the one ${HANDSHAKE_TIMEOUT_MS_DEFAULT} ms deadline while the cluster keeps serving`, async () => {
    const target = cluster.nodes.get(follower)!.peer;
    const hello = helloFrame(clusterId, 9, follower);
    const tlsRecordStart = concatBytes([new Uint8Array([0x16, 0x03, 0x01, 0x40, 0x00]), new Uint8Array(16_384)]);
    const trickles = [
      ...Array.from({ length: 6 }, () => attack(target, outsider, hello, ATTACK_DEADLINE_MS, 200)),
      ...Array.from({ length: 6 }, () => attack(target, "plain", tlsRecordStart, ATTACK_DEADLINE_MS, 200)),
    ];
    // While they trickle, the cluster serves writes through the attacked node.
    await cluster.put("during-trickle", "1", 10_000, [follower]);
    const results = await Promise.all(trickles);
    for (const result of results) {
      assert.ok(result.closedByPeer, "a trickling connection outlived the deadline");
      assert.ok(result.elapsedMs >= HANDSHAKE_TIMEOUT_MS_DEFAULT - 100 && result.elapsedMs < HANDSHAKE_TIMEOUT_MS_DEFAULT + 2_000, `closed after ${result.elapsedMs} ms`);
    }
    await waitFor("the deadline in the log", 5_000, () => (/peer handshake missed its deadline/.test(cluster.log(follower)) ? true : undefined));
  });
});
