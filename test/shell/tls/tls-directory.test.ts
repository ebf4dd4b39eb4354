// The checks on a node's TLS directory (src/shell/tls/tls-directory.ts): what a node refuses to
// start with, and the CA bundle of a CA rotation.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createCertificateAuthority, issueCertificate, type CertificateAndKey } from "../../../src/shell/tls/certificate-authority.ts";
import { checkTlsFiles, TlsDirectoryError } from "../../../src/shell/tls/tls-directory.ts";
import { nodeIdOfCertificate } from "../../../src/shell/tls/node-identity.ts";
import type { PeerCertificate } from "node:tls";

let ca: CertificateAndKey;
let newCa: CertificateAndKey;
let node1: CertificateAndKey;
let node1FromNewCa: CertificateAndKey;
let client: CertificateAndKey;

before(async () => {
  ca = await createCertificateAuthority();
  newCa = await createCertificateAuthority("Next CA");
  node1 = await issueCertificate(ca, { kind: "node", nodeId: 1, hosts: ["127.0.0.1", "localhost"] });
  node1FromNewCa = await issueCertificate(newCa, { kind: "node", nodeId: 1, hosts: ["127.0.0.1"] });
  client = await issueCertificate(ca, { kind: "client", name: "alice" });
});

const refuses = (run: () => unknown, pattern: RegExp): void => assert.throws(run, (error: unknown) => error instanceof TlsDirectoryError && pattern.test(error.message) && !error.message.includes("\n"));

describe("TLS directory checks", () => {
  test("a node certificate from the CA, naming the node, with its key, passes and names the node", () => {
    assert.equal(checkTlsFiles({ caPem: ca.certPem, certPem: node1.certPem, keyPem: node1.keyPem }, 1, "dir"), 1);
  });

  test("another node's id, another CA, a foreign key, a client certificate, an expired certificate: each one line", () => {
    refuses(() => checkTlsFiles({ caPem: ca.certPem, certPem: node1.certPem, keyPem: node1.keyPem }, 2, "dir"), /names node 1, this is node 2/);
    refuses(() => checkTlsFiles({ caPem: newCa.certPem, certPem: node1.certPem, keyPem: node1.keyPem }, 1, "dir"), /was not issued by the CA/);
    refuses(() => checkTlsFiles({ caPem: ca.certPem, certPem: node1.certPem, keyPem: client.keyPem }, 1, "dir"), /is not the key of node.pem/);
    refuses(() => checkTlsFiles({ caPem: ca.certPem, certPem: client.certPem, keyPem: client.keyPem }, 1, "dir"), /names 0 node ids/);
    refuses(() => checkTlsFiles({ caPem: ca.certPem, certPem: node1.certPem, keyPem: node1.keyPem }, 1, "dir", Date.now() + 400 * 86_400_000), /is valid only from/);
    refuses(() => checkTlsFiles({ caPem: node1.certPem, certPem: node1.certPem, keyPem: node1.keyPem }, 1, "dir"), /not a CA/);
  });

  test("a CA bundle (old then new, during a CA rotation) accepts certificates of either CA", () => {
    const bundle = ca.certPem + newCa.certPem;
    assert.equal(checkTlsFiles({ caPem: bundle, certPem: node1.certPem, keyPem: node1.keyPem }, 1, "dir"), 1);
    assert.equal(checkTlsFiles({ caPem: bundle, certPem: node1FromNewCa.certPem, keyPem: node1FromNewCa.keyPem }, 1, "dir"), 1);
  });

  test("node ids in certificates: exactly one canonical blixard://node/<id> URI", () => {
    const named = (subjectaltname: string): ReturnType<typeof nodeIdOfCertificate> => nodeIdOfCertificate({ subjectaltname } as PeerCertificate);
    assert.deepEqual(named("URI:blixard://node/7, DNS:localhost"), { ok: true, nodeId: 7 });
    for (const san of ["URI:blixard://node/07", "URI:blixard://node/0", "URI:blixard://node/-1", "URI:blixard://node/1, URI:blixard://node/2", "DNS:blixard-node-1", "URI:blixard://node/99999999999999999"]) {
      assert.equal(named(san).ok, false, san);
    }
    assert.equal(nodeIdOfCertificate(undefined).ok, false);
  });
});
