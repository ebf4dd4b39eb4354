// Shared plumbing of the CLI commands that talk to a node's API (`cluster`, `kv`, `vm`, the
// node-admin subcommands, `tenant`): the --endpoint / --token / -o / --timeout-ms options (with the environment and the context
// file behind them, cli-context.ts), TLS (--ca, --cert, --key, --tls-dir), one-line errors, and
// plain tables.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { Code, ConnectError } from "@connectrpc/connect";
import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import YAML from "yaml";
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
    .option("--endpoint <URL,...>", "a node's API address, e.g. https://127.0.0.1:8001, or several members separated by commas (a refused connection moves on to the next; default: $BLIXARD_ENDPOINT, then every endpoint in the context file)")
    .option("--token <TOKEN>", "a bearer token (default: $BLIXARD_TOKEN, then the context file; prefer those: flags show in ps)")
    .option("-o, --output <FORMAT>", "table, json or yaml", "table")
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
  const tlsFromFlagsOrEnv = [options.tlsDir, options.ca, options.cert, options.key, process.env.BLIXARD_TLS_DIR, process.env.BLIXARD_CA].some((value) => value !== undefined && value !== "");
  const context = fromFlagsOrEnv.endpoint === undefined || fromFlagsOrEnv.token === undefined || !tlsFromFlagsOrEnv ? readContext() : undefined;
  // A flag or variable may list several members ("a,b,c"); the context lists every member up wrote.
  const endpoints = fromFlagsOrEnv.endpoint !== undefined ? fromFlagsOrEnv.endpoint.split(",").map((e) => e.trim()).filter((e) => e !== "") : (context?.endpoints ?? []).filter((e) => e.trim() !== "");
  const endpoint = endpoints[0];
  const token = firstGiven(fromFlagsOrEnv.token, context?.token);
  if (endpoint === undefined) throw new UsageError("--endpoint is required (or set BLIXARD_ENDPOINT)");
  if (options.output !== "table" && options.output !== "json" && options.output !== "yaml") throw new UsageError(`-o: "${options.output}" is not table, json or yaml`);
  if (!/^\d+$/.test(options.timeoutMs) || Number(options.timeoutMs) < 1) throw new UsageError(`--timeout-ms: "${options.timeoutMs.slice(0, 40)}" is not a positive integer`);
  if (Number(options.timeoutMs) > TIMEOUT_MS_MAX) throw new UsageError(`--timeout-ms: ${options.timeoutMs.slice(0, 40)} is more than ${TIMEOUT_MS_MAX} (about 24 days, the longest timer Node.js keeps)`);
  for (const endpoint of endpoints) {
    const problem = endpointProblem(endpoint);
    if (problem !== undefined) throw new UsageError(`--endpoint: "${endpoint.slice(0, 100)}" ${problem}`);
  }
  try {
    // The context's CA (what `blixard up` writes) when no flag or variable names TLS files.
    const tls = tlsFromFlagsOrEnv || context === undefined || context.ca === "" ? clientTlsOf(options) : clientTlsOf({ ...options, ca: context.ca });
    return createApiClients(endpoints, { timeoutMs: Number(options.timeoutMs), token: token?.trim(), tls });
  } catch (error) {
    throw new UsageError(`--endpoint: ${(error as Error).message}`);
  }
}

export function parseId(text: string, what: string): bigint {
  if (!/^\d+$/.test(text) || BigInt(text) < 1n) throw new UsageError(`${what}: "${text.slice(0, 40)}" is not a positive integer`);
  if (BigInt(text) > BigInt(Number.MAX_SAFE_INTEGER)) throw new UsageError(`${what}: ${text.slice(0, 40)} is too large (at most ${Number.MAX_SAFE_INTEGER})`);
  return BigInt(text);
}

/** The longest timeout a Node.js timer keeps (2^31 - 1 ms); a longer one fires at once, with a warning. */
export const TIMEOUT_MS_MAX = 2_147_483_647;

/** Why an endpoint is not one ("host:port", or http:// or https:// with one), or undefined. */
export function endpointProblem(endpoint: string): string | undefined {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(endpoint);
  if (scheme !== null && scheme[1] !== "http" && scheme[1] !== "https") return `is not http:// or https:// (${scheme[1]}:// is not an API address)`;
  let url: URL;
  try {
    url = new URL(scheme === null ? `http://${endpoint}` : endpoint);
  } catch {
    return "is not an address (give HOST:PORT or https://HOST:PORT)";
  }
  // URL drops a default port (https://h:443 has port ""): read it from the text itself.
  if (url.port === "" && !/:\d{1,5}\/?$/.test(endpoint)) return "has no port (give HOST:PORT or https://HOST:PORT)";
  if (url.pathname !== "/" || url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") return "must be only a scheme, a host and a port";
  return undefined;
}

// The exit codes of every command that calls a node's API: ONE table (docs/OPERATIONS.md, "Exit
// codes of the CLI's API commands"). 2 is a usage error (UsageError, usage-error.ts); 4 and 5 are
// `blixard node`'s own (fatal-exit.ts), so the classes of "certainly not applied" start at 6.
/** A failed call whose request certainly had no effect, for a reason none of the classes below names (quota, capacity, overload, a full disk, a TLS mismatch). */
export const EXIT_NOT_APPLIED = 1;
/** A failed call whose outcome is unknown: the write or change may or may not have been applied. */
export const EXIT_OUTCOME_UNKNOWN = 3;
/** What the request names does not exist: a VM, node, tenant or member (NotFound). */
export const EXIT_NOT_FOUND = 6;
/** The state is not what the command assumed: the name is taken, a stale generation, a transition or membership change not allowed now, a `kv cas` whose compare failed (AlreadyExists, FailedPrecondition). */
export const EXIT_CONFLICT = 7;
/** The input is wrong: a spec file or a field the node refused (InvalidArgument, or a spec file refused before it was sent). */
export const EXIT_INVALID_INPUT = 8;
/** No node could take it now: unreachable, no leader, stopping, removed from the cluster (Unavailable). Retry, maybe elsewhere. */
export const EXIT_UNAVAILABLE = 9;
/** The token is missing, unknown, expired or revoked, or its role may not do this (Unauthenticated, PermissionDenied). */
export const EXIT_PERMISSION_DENIED = 10;

/** The exit code of a failed call that certainly had no effect. */
export function notAppliedExitCode(code: Code): number {
  switch (code) {
    case Code.NotFound:
      return EXIT_NOT_FOUND;
    case Code.AlreadyExists:
    case Code.FailedPrecondition:
      return EXIT_CONFLICT;
    case Code.InvalidArgument:
      return EXIT_INVALID_INPUT;
    case Code.Unavailable:
      return EXIT_UNAVAILABLE;
    case Code.Unauthenticated:
    case Code.PermissionDenied:
      return EXIT_PERMISSION_DENIED;
    default:
      return EXIT_NOT_APPLIED;
  }
}

/** Writes a failed call's one line to stderr and sets the exit code. */
export function reportApiError(error: unknown, clients: ApiClients): void {
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
  process.exitCode = unknown ? EXIT_OUTCOME_UNKNOWN : tlsReason !== undefined ? EXIT_NOT_APPLIED : notAppliedExitCode(connect.code);
}

/** A message as -o json (one line) or -o yaml (a document). */
export function formatMessage<Desc extends DescMessage>(output: string, schema: Desc, message: MessageShape<Desc>): string {
  const json = toJson(schema, message, { alwaysEmitImplicit: true });
  return output === "yaml" ? `---\n${YAML.stringify(json).trimEnd()}` : JSON.stringify(json);
}

/**
 * Runs one API call; prints its result as JSON, YAML or through `table`. A failure is one line on
 * stderr and an exit code of the one table above: 3 when its outcome is unknown (docs/OPERATIONS.md:
 * deadline_exceeded from the node, or the connection broke after sending), else the class of
 * "certainly not applied" (1, 6 to 10).
 */
export async function runApiCall<Desc extends DescMessage>(
  options: ApiCommandOptions,
  schema: Desc,
  call: (clients: ApiClients) => Promise<MessageShape<Desc>>,
  table: (response: MessageShape<Desc>, clients: ApiClients) => string,
): Promise<void> {
  await runApiCallAnswering(options, schema, call, table);
}

/** runApiCall that also hands back the response (undefined after a failure, already reported). */
export async function runApiCallAnswering<Desc extends DescMessage>(
  options: ApiCommandOptions,
  schema: Desc,
  call: (clients: ApiClients) => Promise<MessageShape<Desc>>,
  table: (response: MessageShape<Desc>, clients: ApiClients) => string,
): Promise<MessageShape<Desc> | undefined> {
  const clients = apiClients(options);
  let response: MessageShape<Desc>;
  try {
    response = await call(clients);
  } catch (error) {
    reportApiError(error, clients);
    return undefined;
  }
  if (options.output === "json" || options.output === "yaml") process.stdout.write(`${formatMessage(options.output, schema, response)}\n`);
  else process.stdout.write(`${table(response, clients)}\n`);
  return response;
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
