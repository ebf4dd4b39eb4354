// The cluster's certificate authority: an ECDSA P-256 CA and the node and client certificates
// it issues (docs/SECURITY.md says why @peculiar/x509 over WebCrypto: pure JavaScript, no
// native code and no external tool, fast enough to mint a CA and a certificate per node in
// every e2e test). Only the shell uses it: `blixard ca`, the e2e harness and the tests.
//
// A node certificate is usable as server and as client (extended key usage serverAuth and
// clientAuth): the peer port is mutual TLS and a node dials as often as it accepts.
import "reflect-metadata"; // @peculiar/x509 resolves its helpers through tsyringe, which needs it first.
import * as x509 from "@peculiar/x509";
import { webcrypto } from "node:crypto";
import { isIP } from "node:net";
import type { NodeId } from "../../core/raft/types.ts";
import { clientUri, nodeUri } from "./node-identity.ts";

x509.cryptoProvider.set(webcrypto as never);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const EC_ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;
/** Backdating of notBefore: peers whose clocks lag a little still accept a fresh certificate. */
const NOT_BEFORE_SLACK_MS = 5 * 60_000;
export const CA_VALID_DAYS_DEFAULT = 3_650;
export const CERTIFICATE_VALID_DAYS_DEFAULT = 365;
/** Hosts a certificate names when none are given: a loopback cluster works out of the box. */
export const DEFAULT_HOSTS: readonly string[] = ["127.0.0.1", "localhost"];
/** Upper bound on the hosts one certificate names (a SAN list is not a host inventory). */
export const HOSTS_MAX = 64;

/** PEM texts: a certificate and its PKCS#8 private key. */
export interface CertificateAndKey {
  readonly certPem: string;
  readonly keyPem: string;
}

export type CertificateSubject =
  | { readonly kind: "node"; readonly nodeId: NodeId; readonly hosts: readonly string[] }
  | { readonly kind: "client"; readonly name: string };

function randomSerialHex(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f; // a positive DER integer
  if (bytes[0] === 0) bytes[0] = 1; // and no leading zero byte to strip
  return Buffer.from(bytes).toString("hex");
}

function validity(validDays: number): { notBefore: Date; notAfter: Date } {
  if (!Number.isSafeInteger(validDays) || validDays < 1 || validDays > 36_500) throw new Error(`validity ${validDays} days is outside 1..36500`);
  const now = Date.now();
  return { notBefore: new Date(now - NOT_BEFORE_SLACK_MS), notAfter: new Date(now + validDays * DAY_MS) };
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key));
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN PRIVATE KEY-----\n${lines.join("\n")}\n-----END PRIVATE KEY-----\n`;
}

async function generateKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_ALGORITHM, true, ["sign", "verify"])) as CryptoKeyPair;
}

/** A new CA: a self-signed certificate allowed to sign certificates only (path length 0). */
export async function createCertificateAuthority(commonName = "Blixard cluster CA", validDays = CA_VALID_DAYS_DEFAULT): Promise<CertificateAndKey> {
  const keys = await generateKeys();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialHex(),
    name: [{ CN: [commonName] }],
    ...validity(validDays),
    signingAlgorithm: EC_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: certificate.toString("pem") + "\n", keyPem: await exportKeyPem(keys.privateKey) };
}

/** Checks a host list: each an IP address or a DNS name; at least one, at most HOSTS_MAX. */
export function validateHosts(hosts: readonly string[]): void {
  if (hosts.length === 0 || hosts.length > HOSTS_MAX) throw new Error(`give 1 to ${HOSTS_MAX} hosts, not ${hosts.length}`);
  for (const host of hosts) {
    if (isIP(host) !== 0) continue;
    if (!/^(?=.{1,253}$)([A-Za-z0-9*]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(host)) throw new Error(`host "${host}" is neither an IP address nor a DNS name`);
  }
}

/** A certificate for a node (server and client) or a client (client only), signed by `ca`. */
export async function issueCertificate(ca: CertificateAndKey, subject: CertificateSubject, validDays = CERTIFICATE_VALID_DAYS_DEFAULT): Promise<CertificateAndKey> {
  const caCertificate = new x509.X509Certificate(ca.certPem);
  const caKey = await importPrivateKey(ca.keyPem);
  const keys = await generateKeys();
  const names: x509.JsonGeneralName[] = [];
  let commonName: string;
  const usages: string[] = [];
  if (subject.kind === "node") {
    validateHosts(subject.hosts);
    commonName = `blixard-node-${subject.nodeId}`;
    names.push({ type: "url", value: nodeUri(subject.nodeId) });
    for (const host of subject.hosts) names.push({ type: isIP(host) !== 0 ? "ip" : "dns", value: host });
    usages.push(x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth);
  } else {
    commonName = subject.name;
    names.push({ type: "url", value: clientUri(subject.name) });
    usages.push(x509.ExtendedKeyUsage.clientAuth);
  }
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: [{ CN: [commonName] }],
    issuer: caCertificate.subject,
    ...validity(validDays),
    signingAlgorithm: EC_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(usages, false),
      new x509.SubjectAlternativeNameExtension(names, false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCertificate.publicKey),
    ],
  });
  return { certPem: certificate.toString("pem") + "\n", keyPem: await exportKeyPem(keys.privateKey) };
}

async function importPrivateKey(pem: string): Promise<CryptoKey> {
  const body = pem.replace(/-----(BEGIN|END) PRIVATE KEY-----/g, "").replace(/\s+/g, "");
  if (body === "") throw new Error("the CA key file holds no PKCS#8 private key");
  return (await webcrypto.subtle.importKey("pkcs8", Buffer.from(body, "base64"), EC_ALGORITHM, false, ["sign"]));
}
