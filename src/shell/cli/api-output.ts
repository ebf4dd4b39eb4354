// Shared plumbing of the CLI commands that talk to a node's API (`cluster`, `kv`):
// the --endpoint / --token / -o / --timeout-ms options (with the environment and the context
// file behind them, cli-context.ts), one-line errors, and plain tables.
import type { Command } from "commander";
import { Code, ConnectError } from "@connectrpc/connect";
import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { createApiClients, type ApiClients } from "../api/client.ts";
import { outcomeClassOfError } from "../api/outcome-codes.ts";
import { UsageError } from "./usage-error.ts";
import { readContext } from "./cli-context.ts";

export interface ApiCommandOptions {
  endpoint?: string;
  token?: string;
  output: string;
  timeoutMs: string;
}

export function addApiOptions(command: Command): Command {
  return command
    .option("--endpoint <URL>", "a node's API address, e.g. http://127.0.0.1:8001 (default: $BLIXARD_ENDPOINT, then the context file)")
    .option("--token <TOKEN>", "a bearer token (default: $BLIXARD_TOKEN, then the context file; prefer those: flags show in ps)")
    .option("-o, --output <FORMAT>", "table or json", "table")
    .option("--timeout-ms <MS>", "give up on the request after this long", "10000");
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
    return createApiClients(endpoint, { timeoutMs: Number(options.timeoutMs), token: token?.trim() });
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
  table: (response: MessageShape<Desc>) => string,
): Promise<void> {
  const clients = apiClients(options);
  let response: MessageShape<Desc>;
  try {
    response = await call(clients);
  } catch (error) {
    const connect = ConnectError.from(error);
    const reason = connect.code === Code.Unavailable && /ECONNREFUSED|fetch failed|connect/i.test(connect.rawMessage) ? `cannot reach ${clients.url}: ${connect.rawMessage}` : connect.rawMessage;
    const unknown = outcomeClassOfError(connect) === "unknown";
    process.stderr.write(`blixard: ${Code[connect.code]}: ${reason.split("\n")[0]}${unknown && !/outcome unknown/.test(reason) ? " (outcome unknown: it may or may not have been applied)" : ""}\n`);
    process.exitCode = unknown ? EXIT_OUTCOME_UNKNOWN : EXIT_NOT_APPLIED;
    return;
  }
  if (options.output === "json") process.stdout.write(`${JSON.stringify(toJson(schema, response, { alwaysEmitImplicit: true }))}\n`);
  else process.stdout.write(`${table(response)}\n`);
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
