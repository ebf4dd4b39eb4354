// `blixard token bootstrap|create|list|revoke`: bearer tokens and their roles (docs/SECURITY.md).
//   bootstrap  makes a first admin token locally, before any cluster exists: prints it and the
//              --bootstrap-token-hash flag the nodes take (only the hash: a node never holds the
//              secret), optionally writes it to a 0600 file and saves it in the context file;
//   create     asks the cluster (admin) for a new token of a role; the token is printed once;
//   list       ids, roles, tenants and stamps (never a secret or a hash);
//   revoke     removes a token from the book; every node refuses it once it applies the revocation.
import { writeFileSync } from "node:fs";
import type { Command } from "commander";
import { CreateTokenResponseSchema, ListTokensResponseSchema, RevokeTokenResponseSchema, type TokenInfo } from "../api/gen/blixard/v1/token_pb.ts";
import { isRole, isTokenId, ROLES } from "../../core/replica/token-book.ts";
import { newToken } from "../auth/bearer-token.ts";
import { addApiOptions, formatTable, runApiCall, type ApiCommandOptions } from "./api-output.ts";
import { contextPath, readContext, writeContext } from "./cli-context.ts";
import { UsageError } from "./usage-error.ts";

const TTL_UNITS_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** "90s", "30m", "12h", "7d" or a number of seconds -> seconds. */
export function parseTtlSeconds(text: string): number {
  const match = /^(\d{1,9})([smhd]?)$/.exec(text.trim());
  if (match === null) throw new UsageError(`--ttl: "${text}" is not a duration like 90s, 30m, 12h or 7d`);
  const seconds = Number(match[1]) * TTL_UNITS_SECONDS[match[2] === "" ? "s" : match[2]!]!;
  if (seconds < 1) throw new UsageError("--ttl: must be at least one second");
  return seconds;
}

function stamp(ms: bigint): string {
  return ms === 0n ? "never" : new Date(Number(ms)).toISOString();
}

function tokensTable(tokens: readonly TokenInfo[]): string {
  return formatTable(
    ["ID", "ROLE", "TENANT", "CREATED", "EXPIRES"],
    tokens.map((t) => [t.id, t.role, t.tenant === "" ? "-" : t.tenant, stamp(t.createdAtMs), stamp(t.expiresAtMs)]),
  );
}

export function registerTokenCommand(program: Command): void {
  const token = program.command("token").description("bearer tokens and their roles (admin)");

  token
    .command("bootstrap")
    .description("make a first admin token for a new cluster (no cluster needed); give its hash to the nodes")
    .option("--out <FILE>", "also write the token to FILE (mode 0600)")
    .option("--save-context", "store the token in the CLI's context file")
    .option("--endpoint <URL>", "with --save-context: the endpoint to store beside it")
    .option("--hash-only", "print only the value of the nodes' --bootstrap-token-hash flag, for a shell variable (needs --out or --save-context, so the token is kept)")
    .addHelpText("after", "\nExample:\n  BOOT=$(blixard token bootstrap --hash-only --save-context --endpoint https://127.0.0.1:8001)\n  blixard node ... --bootstrap-token-hash $BOOT\n")
    .action((options: { out?: string; saveContext?: boolean; endpoint?: string; hashOnly?: boolean }) => {
      if (options.hashOnly === true && options.out === undefined && options.saveContext !== true) {
        throw new UsageError("--hash-only: give --out FILE or --save-context too, or the token itself would be lost");
      }
      const made = newToken();
      if (options.out !== undefined) writeFileSync(options.out, `${made.text}\n`, { mode: 0o600, flag: "wx" });
      if (options.saveContext === true) {
        const previous = readContext();
        writeContext({ endpoints: options.endpoint !== undefined ? [options.endpoint] : (previous?.endpoints ?? []), token: made.text, ca: previous?.ca ?? "" });
      }
      if (options.hashOnly === true) {
        process.stdout.write(`${made.id}:${made.hashHex}\n`);
        return;
      }
      process.stdout.write(`token: ${made.text}\n`);
      process.stdout.write(`node flag: --bootstrap-token-hash ${made.id}:${made.hashHex}\n`);
      if (options.saveContext === true) process.stdout.write(`saved in ${contextPath()}\n`);
    });

  addApiOptions(token.command("create").description("create a token (printed once)"))
    .requiredOption("--role <ROLE>", `one of ${ROLES.join(", ")}`)
    .option("--tenant <NAME>", "the tenant a tenant token acts for (tenant role only)")
    .option("--ttl <DURATION>", "expire after this long (90s, 30m, 12h, 7d); default: never")
    .option("--token-only", "print only the token, for a shell variable")
    .addHelpText("after", "\nExample:\n  TOKEN=$(blixard token create --role read-only --ttl 12h --token-only)\n")
    .action((options: ApiCommandOptions & { role: string; tenant?: string; ttl?: string; tokenOnly?: boolean }) => {
      if (!isRole(options.role)) throw new UsageError(`--role: "${options.role}" is not one of ${ROLES.join(", ")}`);
      if (options.role === "tenant" && options.tenant === undefined) throw new UsageError("--tenant is required for a tenant token");
      if (options.role !== "tenant" && options.tenant !== undefined) throw new UsageError(`--tenant: only a tenant token names a tenant, not a ${options.role} token`);
      const ttlSeconds = BigInt(options.ttl === undefined ? 0 : parseTtlSeconds(options.ttl));
      return runApiCall(
        options,
        CreateTokenResponseSchema,
        (clients) => clients.token.createToken({ role: options.role, tenant: options.tenant ?? "", ttlSeconds }),
        (r) => (options.tokenOnly === true ? r.token : `${r.token}\n${tokensTable(r.info === undefined ? [] : [r.info])}\n(the token is shown this once; the cluster keeps only its hash)`),
      );
    });

  addApiOptions(token.command("list").description("tokens by id: roles, tenants, stamps (never secrets)")).action((options: ApiCommandOptions) =>
    runApiCall(options, ListTokensResponseSchema, (clients) => clients.token.listTokens({}), (r) => tokensTable(r.tokens)),
  );

  addApiOptions(token.command("revoke <id>").description("revoke a token by id")).action((id: string, options: ApiCommandOptions) => {
    if (!isTokenId(id)) throw new UsageError(`id: "${id}" is not a token id (16 lowercase hex digits; see blixard token list)`);
    return runApiCall(options, RevokeTokenResponseSchema, (clients) => clients.token.revokeToken({ id }), (r) =>
      r.index === 0n ? `OK: token ${id} was not in the book (unknown or already revoked)` : `OK: token ${id} revoked (index ${r.index})`,
    );
  });
}
