// Shared plumbing of the CLI commands that talk to a node's API (`cluster`, `kv`):
// the --endpoint / --token / -o / --timeout-ms options (with the environment and the context
// file behind them, cli-context.ts), TLS (--ca, --cert, --key, --tls-dir), one-line errors, and
// plain tables.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { Code, ConnectError } from "@connectrpc/connect";
import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { createApiClients, type ApiClients, type ClientTls } from "../api/client.ts";
import { outcomeClassOfError } from "../api/outcome-codes.ts";
import { UsageError } from "./usage-error.ts";
import { readContext } from "./cli-context.ts";

export interface ApiCommandOptions {
  endpoint?: string;
  token?: string;
  output: string;
  timeoutMs: string;
  ca?: string;
  cert?: string;
  key?: string;
  tlsDir?: string;
}

export function addApiOptions(command: Command): Command {
  return command
    .option("--endpoint <URL>", "a node's API address, e.g. http://127.0.0.1:8001 (default: $BLIXARD_ENDPOINT, then the context file)")
    .option("--token <TOKEN>", "a bearer token (default: $BLIXARD_TOKEN, then the context file; prefer those: flags show in ps)")
    .option("-o, --output <FORMAT>", "table or json", "table")
    .option("--timeout-ms <MS>", "give up on the request after this long", "10000")
    .option("--ca <FILE>", "verify the node's TLS certificate against this CA (the cluster's ca.pem; default: $BLIXARD_CA); implies https://")
    .option("--cert <FILE>", "present this client certificate (with --key)")
    .option("--key <FILE>", "the client certificate's private key")
    .option("--tls-dir <DIR>", "ca.pem plus client.pem/client-key.pem (or node.pem/node-key.pem) from `blixard ca issue` (default: $BLIXARD_TLS_DIR)");
}

function readFlagFile(path: string, flag: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new UsageError(`${flag}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

/** The TLS the flags (or $BLIXARD_TLS_DIR, $BLIXARD_CA) ask for, or undefined for plaintext. */
export function clientTlsOf(options: ApiCommandOptions): ClientTls | undefined {
  const tlsDir = options.tlsDir ?? (options.ca === undefined ? process.env.BLIXARD_TLS_DIR : undefined);
  if (tlsDir !== undefined && tlsDir !== "") {
    if (options.ca !== undefined || options.cert !== undefined || options.key !== undefined) throw new UsageError("give --tls-dir or --ca/--cert/--key, not both");
    const pair = [["client.pem", "client-key.pem"], ["node.pem", "node-key.pem"]].find(([cert]) => existsSync(join(tlsDir, cert!)));
    return {
      caPem: readFlagFile(join(tlsDir, "ca.pem"), "--tls-dir"),
      ...(pair === undefined ? {} : { certPem: readFlagFile(join(tlsDir, pair[0]!), "--tls-dir"), keyPem: readFlagFile(join(tlsDir, pair[1]!), "--tls-dir") }),
    };
  }
  if ((options.cert === undefined) !== (options.key === undefined)) throw new UsageError("give --cert and --key together");
  const ca = options.ca ?? process.env.BLIXARD_CA;
  if (ca === undefined || ca === "") {
    if (options.cert !== undefined) throw new UsageError("--cert needs --ca (the CA that issued the node's certificate)");
    return undefined;
  }
  return {
    caPem: readFlagFile(ca, "--ca"),
    ...(options.cert === undefined ? {} : { certPem: readFlagFile(options.cert, "--cert"), keyPem: readFlagFile(options.key!, "--key") }),
  };
}

/**
 * A TLS failure explained in terms of the flags: which side speaks what, and what to pass.
 * `handshake`: the TLS handshake failed, so no request left (certainly not applied).
 */
export function explainTlsError(url: string, message: string): { readonly text: string; readonly handshake: boolean } | undefined {
  const text = tlsErrorText(url, message);
  if (text === undefined) return undefined;
  return { text, handshake: !/ECONNRESET|socket hang up/i.test(message) };
}

function tlsErrorText(url: string, message: string): string | undefined {
  // The TLS API port's answer to plaintext (src/shell/api/tls-api-listener.ts): clear already, never read.
  if (/API port speaks TLS only/.test(message)) return message;
  if (/wrong version number|packet length too long|EPROTO|unexpected eof while reading|ERR_SSL_WRONG_VERSION/i.test(message)) {
    return `${url} does not speak TLS (is the node running with --insecure?): use http:// and drop --ca (${message})`;
  }
  if (/self[- ]signed certificate|unable to verify|unable to get (local )?issuer|UNABLE_TO_VERIFY|certificate signature failure/i.test(message)) {
    return `the TLS certificate of ${url} is not from the CA given: pass --ca with the cluster's ca.pem (${message})`;
  }
  if (/certificate required|alert bad certificate|alert unknown ca/i.test(message)) {
    return `${url} refused the client certificate: use one issued by the cluster's CA (${message})`;
  }
  if (/ECONNRESET|socket hang up/i.test(message) && url.startsWith("http://")) {
    return `${url} closed the connection: if the node runs with TLS, use https:// and --ca (${message})`;
  }
  return undefined;
}

/** The first setting that is given and not empty. */
function firstGiven(...values: Array<string | undefined>): string | undefined {
  return values.find((value) => value !== undefined && value.trim() !== "");
}

export function apiClients(options: ApiCommandOptions): ApiClients {
  // The context file is read only when a flag or the environment leaves something open.
  const fromFlagsOrEnv = { endpoint: firstGiven(options.endpoint, process.env.BLIXARD_ENDPOINT), token: firstGiven(options.token, process.env.BLIXARD_TOKEN) };
  const context = fromFlagsOrEnv.endpoint === undefined || fromFlagsOrEnv.token === undefined ? readContext() : undefined;
  const endpoint = firstGiven(fromFlagsOrEnv.endpoint, context?.endpoints[0]);
  const token = firstGiven(fromFlagsOrEnv.token, context?.token);
  if (endpoint === undefined) throw new UsageError("--endpoint is required (or set BLIXARD_ENDPOINT)");
  if (options.output !== "table" && options.output !== "json") throw new UsageError(`-o: "${options.output}" is neither table nor json`);
  if (!/^\d+$/.test(options.timeoutMs) || Number(options.timeoutMs) < 1) throw new UsageError(`--timeout-ms: "${options.timeoutMs}" is not a positive integer`);
  try {
    return createApiClients(endpoint, { timeoutMs: Number(options.timeoutMs), token: token?.trim(), tls: clientTlsOf(options) });
  } catch (error) {
    throw new UsageError(`--endpoint: ${(error as Error).message}`);
  }
}

export function parseId(text: string, what: string): bigint {
  if (!/^\d+$/.test(text) || BigInt(text) < 1n || BigInt(text) > BigInt(Number.MAX_SAFE_INTEGER)) throw new UsageError(`${what}: "${text}" is not a positive integer`);
  return BigInt(text);
}

/** A failed call whose request certainly had no effect (or a bad flag: 2, from UsageError). */
export const EXIT_NOT_APPLIED = 1;
/** A failed call whose outcome is unknown: the write or change may or may not have been applied. */
export const EXIT_OUTCOME_UNKNOWN = 3;

/**
 * Runs one API call; prints its result as JSON or through `table`. A failure is one line on
 * stderr, exit 1 when the request certainly had no effect, exit 3 when its outcome is unknown
 * (docs/OPERATIONS.md: deadline_exceeded from the node, or the connection broke after sending).
 */
export async function runApiCall<Desc extends DescMessage>(
  options: ApiCommandOptions,
  schema: Desc,
  call: (clients: ApiClients) => Promise<MessageShape<Desc>>,
  table: (response: MessageShape<Desc>, clients: ApiClients) => string,
): Promise<void> {
  const clients = apiClients(options);
  let response: MessageShape<Desc>;
  try {
    response = await call(clients);
  } catch (error) {
    const connect = ConnectError.from(error);
    const tlsReason = explainTlsError(clients.url, connect.rawMessage);
    const reason =
      tlsReason !== undefined
        ? tlsReason.text
        : connect.code === Code.Unavailable && /ECONNREFUSED|fetch failed|connect/i.test(connect.rawMessage)
          ? `cannot reach ${clients.url}: ${connect.rawMessage}`
          : connect.rawMessage;
    const unknown = tlsReason?.handshake !== true && outcomeClassOfError(connect) === "unknown";
    process.stderr.write(`blixard: ${Code[connect.code]}: ${reason.split("\n")[0]}${unknown && !/outcome unknown/.test(reason) ? " (outcome unknown: it may or may not have been applied)" : ""}\n`);
    process.exitCode = unknown ? EXIT_OUTCOME_UNKNOWN : EXIT_NOT_APPLIED;
    return;
  }
  if (options.output === "json") process.stdout.write(`${JSON.stringify(toJson(schema, response, { alwaysEmitImplicit: true }))}\n`);
  else process.stdout.write(`${table(response, clients)}\n`);
}

/** Left-aligned columns separated by two spaces. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => cell.padEnd(widths[column]!))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}
