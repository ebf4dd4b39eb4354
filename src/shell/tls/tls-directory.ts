// A node's TLS directory (--tls-dir): ca.pem (the cluster's CA certificate), node.pem (this
// node's certificate) and node-key.pem (its private key), as `blixard ca issue` writes them.
// Loaded and checked at start (a bad directory is a one-line startup error); reloaded on
// SIGHUP and when a file in the directory changes, so a renewed certificate is taken without
// a restart (docs/SECURITY.md, rotation). A reload that fails its checks keeps the old
// credentials and says why in the log: a half-copied file never takes a node off the network.
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync, watch, type FSWatcher } from "node:fs";
import { join } from "node:path";
import tls from "node:tls";
import { assert } from "../../core/assert.ts";
import type { Logger } from "../../core/env/environment.ts";
import type { NodeId } from "../../core/raft/types.ts";
import type { TlsCredentials } from "../os/tcp-transport.ts";
import { nodeIdOfCertificate } from "./node-identity.ts";

export const TLS_CA_FILE = "ca.pem";
export const TLS_CERT_FILE = "node.pem";
export const TLS_KEY_FILE = "node-key.pem";
/** Upper bound on one PEM file's size: a certificate chain is a few KiB. */
export const TLS_FILE_BYTES_MAX = 256 * 1024;
/** Upper bound on the CA certificates in ca.pem (two during a CA rotation). */
export const CA_BUNDLE_CERTIFICATES_MAX = 8;
/** Changes closer together than this are one reload (an editor or `cp` writes in several steps). */
const RELOAD_DEBOUNCE_MS = 300;

export class TlsDirectoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TlsDirectoryError";
  }
}

export interface TlsFiles {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

function readPem(dir: string, name: string): string {
  let text: Buffer;
  try {
    text = readFileSync(join(dir, name));
  } catch (error) {
    throw new TlsDirectoryError(`cannot read ${join(dir, name)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (text.length > TLS_FILE_BYTES_MAX) throw new TlsDirectoryError(`${join(dir, name)} is ${text.length} bytes, more than ${TLS_FILE_BYTES_MAX}`);
  return text.toString("utf8");
}

/**
 * Checks that `files` are fit for a node: the certificate is issued and signed by the CA, in
 * its validity period, names exactly `nodeId` (when given), and the key is its key. Returns the
 * node id the certificate names.
 */
export function checkTlsFiles(files: TlsFiles, nodeId: NodeId | undefined, where: string, nowMs: number = Date.now()): NodeId {
  // ca.pem may be a bundle (old and new CA during a CA rotation): the certificate must come from one of them.
  const caPems = files.caPem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  if (caPems.length === 0 || caPems.length > CA_BUNDLE_CERTIFICATES_MAX) throw new TlsDirectoryError(`${where}: ${TLS_CA_FILE} holds ${caPems.length} certificates (1 to ${CA_BUNDLE_CERTIFICATES_MAX})`);
  let cas: X509Certificate[];
  let cert: X509Certificate;
  try {
    cas = caPems.map((pem) => new X509Certificate(pem));
    cert = new X509Certificate(files.certPem);
  } catch (error) {
    throw new TlsDirectoryError(`${where}: not a PEM certificate: ${(error as Error).message}`);
  }
  if (!cas.every((ca) => ca.ca)) throw new TlsDirectoryError(`${where}: ${TLS_CA_FILE} holds a certificate that is not a CA`);
  if (!cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) throw new TlsDirectoryError(`${where}: ${TLS_CERT_FILE} was not issued by the CA in ${TLS_CA_FILE}`);
  if (Date.parse(cert.validTo) < nowMs || Date.parse(cert.validFrom) > nowMs) throw new TlsDirectoryError(`${where}: ${TLS_CERT_FILE} is valid only from ${cert.validFrom} to ${cert.validTo}`);
  let key;
  try {
    key = createPrivateKey(files.keyPem);
  } catch (error) {
    throw new TlsDirectoryError(`${where}: ${TLS_KEY_FILE} is not a private key: ${(error as Error).message}`);
  }
  if (!cert.checkPrivateKey(key)) throw new TlsDirectoryError(`${where}: ${TLS_KEY_FILE} is not the key of ${TLS_CERT_FILE}`);
  const identity = nodeIdOfCertificate({ subjectaltname: cert.subjectAltName } as tls.PeerCertificate);
  if (!identity.ok) throw new TlsDirectoryError(`${where}: ${TLS_CERT_FILE}: ${identity.error}`);
  if (nodeId !== undefined && identity.nodeId !== nodeId) throw new TlsDirectoryError(`${where}: ${TLS_CERT_FILE} names node ${identity.nodeId}, this is node ${nodeId}`);
  return identity.nodeId;
}

export function readTlsFiles(dir: string): TlsFiles {
  return { caPem: readPem(dir, TLS_CA_FILE), certPem: readPem(dir, TLS_CERT_FILE), keyPem: readPem(dir, TLS_KEY_FILE) };
}

/** Credentials for the transport and the API from PEM texts (no checks: checkTlsFiles does those). */
export function credentialsOf(files: TlsFiles, version: number): TlsCredentials {
  const options: tls.SecureContextOptions = { ca: files.caPem, cert: files.certPem, key: files.keyPem, minVersion: "TLSv1.3" };
  return { version, options, context: tls.createSecureContext(options) };
}

/** A node's credentials from its TLS directory, current after every successful reload. */
export class TlsDirectory {
  private credentials: TlsCredentials;
  private certificateNotAfter: string;
  private watcher: FSWatcher | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private readonly listeners: ((credentials: TlsCredentials) => void)[] = [];

  private constructor(
    readonly dir: string,
    readonly nodeId: NodeId,
    private readonly log: Logger,
    files: TlsFiles,
  ) {
    this.credentials = credentialsOf(files, 1);
    this.certificateNotAfter = new X509Certificate(files.certPem).validTo;
  }

  /** Loads and checks the directory; a TlsDirectoryError (one line) when it is unfit. */
  static open(dir: string, nodeId: NodeId, log: Logger): TlsDirectory {
    const files = readTlsFiles(dir);
    checkTlsFiles(files, nodeId, dir);
    return new TlsDirectory(dir, nodeId, log, files);
  }

  current(): TlsCredentials {
    return this.credentials;
  }

  get notAfter(): string {
    return this.certificateNotAfter;
  }

  /** Called after each successful reload (the API server swaps its context). */
  onReload(listener: (credentials: TlsCredentials) => void): void {
    this.listeners.push(listener);
  }

  /** Reads and checks the files again; takes them only if they pass. Returns whether it took them. */
  reload(reason: string): boolean {
    let files: TlsFiles;
    try {
      files = readTlsFiles(this.dir);
      checkTlsFiles(files, this.nodeId, this.dir);
    } catch (error) {
      this.log.error({ dir: this.dir, reason, error: (error as Error).message }, "TLS files not reloaded: keeping the current certificate");
      return false;
    }
    const next = credentialsOf(files, this.credentials.version + 1);
    assert(next.version > this.credentials.version, "credential versions only grow");
    this.credentials = next;
    this.certificateNotAfter = new X509Certificate(files.certPem).validTo;
    this.log.info({ dir: this.dir, reason, version: next.version, notAfter: this.certificateNotAfter }, "TLS files reloaded: new connections use them");
    for (const listener of this.listeners) listener(next);
    return true;
  }

  /** Reloads when a file in the directory changes (debounced). */
  watch(): void {
    assert(this.watcher === undefined, "watch called twice");
    try {
      this.watcher = watch(this.dir, { persistent: false }, () => {
        if (this.reloadTimer !== undefined) clearTimeout(this.reloadTimer);
        this.reloadTimer = setTimeout(() => {
          this.reloadTimer = undefined;
          this.reload("a file changed");
        }, RELOAD_DEBOUNCE_MS);
      });
      this.watcher.on("error", (error) => this.log.warn({ dir: this.dir, error: error.message }, "cannot watch the TLS directory: reload with SIGHUP"));
    } catch (error) {
      this.log.warn({ dir: this.dir, error: (error as Error).message }, "cannot watch the TLS directory: reload with SIGHUP");
    }
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.reloadTimer !== undefined) clearTimeout(this.reloadTimer);
    this.reloadTimer = undefined;
  }
}
