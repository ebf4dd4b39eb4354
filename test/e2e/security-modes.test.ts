// The two security modes of a real node: mutual TLS (the default of the e2e harness) as the
// CLI sees it (ca issue, --tls-dir, --ca, the http:// vs https:// errors, rotation without a
// restart), and --insecure, which keeps working and says so in every status line. A node given
// neither refuses to start with one line naming both flags.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import tls from "node:tls";
import { ProcessCluster, waitFor } from "./process-cluster.ts";
import { ADMIN_TOKEN } from "../support/admin-token.ts";

const BIN = resolve(import.meta.dirname, "../../bin/blixard.js");

function blixard(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 30_000, env: { ...process.env, BLIXARD_ENDPOINT: "", BLIXARD_CA: "", BLIXARD_TLS_DIR: "", BLIXARD_TOKEN: ADMIN_TOKEN.text } }, (error, stdout, stderr) => {
      resolvePromise({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr });
    });
  });
}

/** The serial number of the certificate a TLS server presents now. */
function servedSerial(address: string, caPem: string): Promise<string> {
  const [host, port] = address.split(":");
  return new Promise((resolveSerial, reject) => {
    const socket = tls.connect({ host: host!, port: Number(port), ca: caPem, ALPNProtocols: ["http/1.1"] }, () => {
      resolveSerial(socket.getPeerCertificate().serialNumber);
      socket.destroy();
    });
    socket.setTimeout(5_000, () => socket.destroy(new Error("timeout")));
    socket.on("error", reject);
  });
}

describe("a node over TLS, through the CLI", { timeout: 120_000 }, () => {
  const cluster = new ProcessCluster("tls-cli");
  let endpoint = "";
  let clientDir = "";

  before(async () => {
    await cluster.bootstrap([1]);
    await cluster.waitForLeader([1], 30_000);
    endpoint = cluster.nodes.get(1)!.api;
    const issued = await blixard("ca", "issue", "--dir", cluster.caDir!, "--client", "cli");
    assert.equal(issued.code, 0, issued.stderr);
    clientDir = join(cluster.caDir!, "client-cli");
  });
  after(async () => {
    await cluster.cleanup();
  });

  test("kv through https with --tls-dir or --ca; http:// and a wrong CA are one clear line each", async () => {
    const put = await blixard("kv", "put", "k", "v", "--endpoint", endpoint, "--tls-dir", clientDir);
    assert.equal(put.code, 0, put.stderr);
    const get = await blixard("kv", "get", "k", "--endpoint", `https://${endpoint}`, "--ca", join(clientDir, "ca.pem"));
    assert.equal(get.stdout, "v\n");
    const plain = await blixard("kv", "get", "k", "--endpoint", `http://${endpoint}`);
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /^blixard: FailedPrecondition: this API port speaks TLS only: use https:\/\//);
    const otherCa = mkdtempSync(join(tmpdir(), "blixard-other-ca-"));
    try {
      assert.equal((await blixard("ca", "init", "--dir", otherCa)).code, 0);
      const wrongCa = await blixard("kv", "get", "k", "--endpoint", endpoint, "--ca", join(otherCa, "ca.pem"));
      assert.equal(wrongCa.code, 1);
      assert.match(wrongCa.stderr, /is not from the CA given: pass --ca with the cluster's ca.pem/);
      assert.equal(wrongCa.stderr.trim().split("\n").length, 1);
    } finally {
      rmSync(otherCa, { recursive: true, force: true });
    }
    const mixed = await blixard("kv", "get", "k", "--endpoint", `http://${endpoint}`, "--ca", join(clientDir, "ca.pem"));
    assert.equal(mixed.code, 2);
    assert.match(mixed.stderr, /use https:\/\//);
    const status = await blixard("cluster", "status", "--endpoint", endpoint, "--tls-dir", clientDir);
    assert.equal(status.code, 0, status.stderr);
    assert.doesNotMatch(status.stdout, /INSECURE/);
    assert.match(cluster.log(1), /node started \(mutual TLS on the peer port, TLS on the API\)/);
  });

  test("rotation: a certificate issued into the node's TLS directory is served to new connections without a restart", async () => {
    const node = cluster.nodes.get(1)!;
    const caPem = readFileSync(join(cluster.caDir!, "ca.pem"), "utf8");
    const before = await servedSerial(node.api, caPem);
    const issued = await blixard("ca", "issue", "--dir", cluster.caDir!, "--node-id", "1", "--out", node.tlsDir!);
    assert.equal(issued.code, 0, issued.stderr);
    const renewed = new X509Certificate(readFileSync(join(node.tlsDir!, "node.pem"))).serialNumber;
    assert.notEqual(renewed, before);
    await waitFor("the renewed certificate on the API port", 10_000, async () => ((await servedSerial(node.api, caPem)) === renewed ? true : undefined));
    assert.match(cluster.log(1), /TLS files reloaded/);
    // SIGHUP reloads too; the node keeps running and serving.
    cluster.signal(1, "SIGHUP");
    await waitFor("the SIGHUP reload in the log", 10_000, () => (/"reason":"SIGHUP".*TLS files reloaded/.test(cluster.log(1)) ? true : undefined));
    assert.ok(cluster.isRunning(1), "the node stopped after SIGHUP");
    await cluster.put("after-rotation", "1", 10_000);
  });
});

describe("a cluster with --insecure", { timeout: 120_000 }, () => {
  const cluster = new ProcessCluster("insecure", 50, 10, "debug", { insecure: true });

  after(async () => {
    await cluster.cleanup();
  });

  test("three plaintext nodes elect, write and read; the startup line and cluster status name --insecure", async () => {
    await cluster.bootstrap([1, 2, 3]);
    const leader = await cluster.waitForLeader([1, 2, 3], 30_000);
    await cluster.put("plain", "text", 15_000);
    assert.equal(await cluster.get(leader, "plain"), "text");
    for (const id of [1, 2, 3]) assert.match(cluster.log(id), /node started INSECURE \(--insecure/);
    const status = await blixard("cluster", "status", "--endpoint", `http://${cluster.nodes.get(leader)!.api}`);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout.split("\n")[0]!, /INSECURE \(--insecure: plaintext, peers and clients not authenticated\)$/);
  });

  test("a node given neither --tls-dir nor --insecure refuses to start with one line naming both", async () => {
    const dir = mkdtempSync(join(tmpdir(), "blixard-no-security-"));
    try {
      const refused = await blixard("node", "--id", "1", "--peer-listen", "127.0.0.1:1", "--api-listen", "127.0.0.1:2", "--data-dir", dir, "--initial-cluster", "1=127.0.0.1:1");
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /^blixard: give --tls-dir DIR .* or --insecure .*\n$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
