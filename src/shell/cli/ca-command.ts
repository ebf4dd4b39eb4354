// `blixard ca init | issue`: the cluster's certificate authority for clusters started by hand.
//   ca init  --dir D                      D/ca.pem, D/ca-key.pem (the key readable by its owner only)
//   ca issue --dir D --node-id N [--host H ...]   D/node-N/{ca.pem,node.pem,node-key.pem}: a node's --tls-dir
//   ca issue --dir D --client NAME                D/client-NAME/{ca.pem,client.pem,client-key.pem}: for the CLI
// Files are written to a temporary name and renamed, so a node watching its TLS directory never
// reads half a file (a rotation is `ca issue` into the node's directory: docs/SECURITY.md).
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { UsageError } from "./usage-error.ts";
import { CERTIFICATE_VALID_DAYS_DEFAULT, createCertificateAuthority, DEFAULT_HOSTS, issueCertificate, validateHosts, type CertificateAndKey } from "../tls/certificate-authority.ts";
import { CLIENT_NAME_PATTERN } from "../tls/node-identity.ts";
import { TLS_CA_FILE, TLS_CERT_FILE, TLS_KEY_FILE } from "../tls/tls-directory.ts";

export const CA_KEY_FILE = "ca-key.pem";
export const CLIENT_CERT_FILE = "client.pem";
export const CLIENT_KEY_FILE = "client-key.pem";

function writeAtomically(path: string, text: string, mode: number): void {
  const temporary = `${path}.tmp-${process.pid}`;
  writeFileSync(temporary, text, { mode });
  renameSync(temporary, path);
}

function readCa(dir: string): CertificateAndKey {
  try {
    return { certPem: readFileSync(join(dir, TLS_CA_FILE), "utf8"), keyPem: readFileSync(join(dir, CA_KEY_FILE), "utf8") };
  } catch (error) {
    throw new UsageError(`--dir ${dir}: no CA there (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); run \`blixard ca init --dir ${dir}\` first`);
  }
}

/** Creates the CA files in `dir`; refuses to overwrite an existing CA (its certificates would stop working). */
export async function initCa(dir: string): Promise<void> {
  if (existsSync(join(dir, TLS_CA_FILE)) || existsSync(join(dir, CA_KEY_FILE))) throw new UsageError(`--dir ${dir} already holds a CA (${TLS_CA_FILE}, ${CA_KEY_FILE}): refusing to overwrite it`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = await createCertificateAuthority();
  writeAtomically(join(dir, CA_KEY_FILE), ca.keyPem, 0o600);
  writeAtomically(join(dir, TLS_CA_FILE), ca.certPem, 0o644);
}

/** Issues a node's certificate into `out` (a ready --tls-dir); returns `out`. */
export async function issueNode(dir: string, nodeId: number, hosts: readonly string[], out = join(dir, `node-${nodeId}`), validDays = CERTIFICATE_VALID_DAYS_DEFAULT): Promise<string> {
  const ca = readCa(dir);
  const issued = await issueCertificate(ca, { kind: "node", nodeId, hosts }, validDays);
  mkdirSync(out, { recursive: true, mode: 0o700 });
  writeAtomically(join(out, TLS_CA_FILE), ca.certPem, 0o644);
  // The key first: a reload between the two renames sees a mismatched pair and keeps the old one.
  writeAtomically(join(out, TLS_KEY_FILE), issued.keyPem, 0o600);
  writeAtomically(join(out, TLS_CERT_FILE), issued.certPem, 0o644);
  return out;
}

/** Issues a client certificate into `out`; returns `out`. */
export async function issueClient(dir: string, name: string, out = join(dir, `client-${name}`), validDays = CERTIFICATE_VALID_DAYS_DEFAULT): Promise<string> {
  const ca = readCa(dir);
  const issued = await issueCertificate(ca, { kind: "client", name }, validDays);
  mkdirSync(out, { recursive: true, mode: 0o700 });
  writeAtomically(join(out, TLS_CA_FILE), ca.certPem, 0o644);
  writeAtomically(join(out, CLIENT_KEY_FILE), issued.keyPem, 0o600);
  writeAtomically(join(out, CLIENT_CERT_FILE), issued.certPem, 0o644);
  return out;
}

interface IssueOptions {
  dir?: string;
  nodeId?: string;
  client?: string;
  host: string[];
  out?: string;
  days: string;
}

export function registerCaCommand(program: Command): void {
  const ca = program.command("ca").description("the cluster's certificate authority: create it, issue node and client certificates");

  ca.command("init")
    .description("create a CA (ca.pem, ca-key.pem) in --dir")
    .option("--dir <DIR>", "where the CA lives (created when absent)")
    .action(async (options: { dir?: string }) => {
      if (options.dir === undefined || options.dir.trim() === "") throw new UsageError("--dir is required");
      await initCa(options.dir);
      process.stdout.write(`CA created: ${join(options.dir, TLS_CA_FILE)} (certificate), ${join(options.dir, CA_KEY_FILE)} (key, keep it private)\n`);
    });

  ca.command("issue")
    .description("issue a node certificate (--node-id, usable as server and client) or a client certificate (--client)")
    .option("--dir <DIR>", "the CA's directory (from `ca init`)")
    .option("--node-id <N>", "the node id the certificate names (blixard://node/N)")
    .option("--client <NAME>", "a client certificate for NAME instead (blixard://client/NAME)")
    .option("--host <HOST>", "a DNS name or IP address the node is reached at (repeatable; default 127.0.0.1 and localhost)", (value: string, previous: string[]) => [...previous, value], [] as string[])
    .option("--out <DIR>", "where to write the files (default: DIR/node-N or DIR/client-NAME)")
    .option("--days <N>", "validity in days", String(CERTIFICATE_VALID_DAYS_DEFAULT))
    .action(async (options: IssueOptions) => {
      if (options.dir === undefined || options.dir.trim() === "") throw new UsageError("--dir is required");
      if ((options.nodeId === undefined) === (options.client === undefined)) throw new UsageError("give exactly one of --node-id N and --client NAME");
      if (!/^\d{1,5}$/.test(options.days) || Number(options.days) < 1 || Number(options.days) > 36_500) throw new UsageError(`--days: "${options.days}" is not in 1..36500`);
      const days = Number(options.days);
      if (options.nodeId !== undefined) {
        if (!/^[1-9]\d{0,15}$/.test(options.nodeId) || !Number.isSafeInteger(Number(options.nodeId))) throw new UsageError(`--node-id: "${options.nodeId}" is not a positive integer`);
        const hosts = options.host.length > 0 ? options.host : DEFAULT_HOSTS;
        try {
          validateHosts(hosts);
        } catch (error) {
          throw new UsageError(`--host: ${(error as Error).message}`);
        }
        const out = await issueNode(options.dir, Number(options.nodeId), hosts, options.out, days);
        process.stdout.write(`node ${options.nodeId}: ${out} (${TLS_CA_FILE}, ${TLS_CERT_FILE}, ${TLS_KEY_FILE}; hosts ${hosts.join(", ")}): run the node with --tls-dir ${out}\n`);
        return;
      }
      const name = options.client!;
      if (!CLIENT_NAME_PATTERN.test(name)) throw new UsageError(`--client: "${name}": use 1 to 64 letters, digits, '.', '_' or '-'`);
      if (options.host.length > 0) throw new UsageError("--host applies to node certificates only");
      const out = await issueClient(options.dir, name, options.out, days);
      process.stdout.write(`client ${name}: ${out} (${TLS_CA_FILE}, ${CLIENT_CERT_FILE}, ${CLIENT_KEY_FILE}): use --tls-dir ${out} (or --ca, --cert, --key)\n`);
    });
}
