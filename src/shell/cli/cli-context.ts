// The CLI's context file: where the cluster is and how to prove who we are, so the local flow
// needs no flags. `blixard token bootstrap --save-context` (and `blixard up`, issue #9) writes
// it; every API command reads it. Path: $BLIXARD_CONTEXT, else
// $XDG_CONFIG_HOME/blixard/context.yaml, else ~/.config/blixard/context.yaml. YAML:
//   endpoints: [http://127.0.0.1:8001, ...]   # the first is used today
//   token: blx_<id>_<secret>                  # a bearer token (the file is written 0600)
//   ca: /path/to/ca.pem                       # the cluster CA for TLS (docs/SECURITY.md)
// Precedence, per setting: the flag (--endpoint, --token), then the environment
// (BLIXARD_ENDPOINT, BLIXARD_TOKEN), then the context file.
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import YAML from "yaml";
import { UsageError } from "./usage-error.ts";

export interface CliContext {
  readonly endpoints: readonly string[];
  readonly token: string;
  /** "" when the cluster is reached without TLS. */
  readonly ca: string;
}

/** A context file larger than this is not one. */
const CONTEXT_BYTES_MAX = 64 * 1024;
const ENDPOINTS_MAX = 64;

export function contextPath(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.BLIXARD_CONTEXT;
  if (explicit !== undefined && explicit !== "") return explicit;
  const config = env.XDG_CONFIG_HOME !== undefined && env.XDG_CONFIG_HOME !== "" ? env.XDG_CONFIG_HOME : join(homedir(), ".config");
  return join(config, "blixard", "context.yaml");
}

/** The context at `path`, or undefined when there is no file; a malformed file is a UsageError naming it. */
export function readContext(path: string = contextPath()): CliContext | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new UsageError(`context ${path}: ${(error as Error).message}`);
  }
  if (text.length > CONTEXT_BYTES_MAX) throw new UsageError(`context ${path}: larger than ${CONTEXT_BYTES_MAX} bytes`);
  let parsed: unknown;
  try {
    parsed = YAML.parse(text);
  } catch (error) {
    throw new UsageError(`context ${path}: not YAML: ${(error as Error).message.split("\n")[0]}`);
  }
  if (parsed === null || parsed === undefined) return { endpoints: [], token: "", ca: "" };
  if (typeof parsed !== "object" || Array.isArray(parsed)) throw new UsageError(`context ${path}: expected a mapping of endpoints, token, ca`);
  const { endpoints = [], token = "", ca = "" } = parsed as { endpoints?: unknown; token?: unknown; ca?: unknown };
  if (!Array.isArray(endpoints) || endpoints.length > ENDPOINTS_MAX || !endpoints.every((e) => typeof e === "string")) {
    throw new UsageError(`context ${path}: endpoints must be a list of at most ${ENDPOINTS_MAX} addresses`);
  }
  if (typeof token !== "string" || typeof ca !== "string") throw new UsageError(`context ${path}: token and ca must be strings`);
  return { endpoints: endpoints as string[], token, ca };
}

/** Writes the context (0600: it holds a token), replacing the file at once so a reader never sees half of it. */
export function writeContext(context: CliContext, path: string = contextPath()): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  const body: Record<string, unknown> = { endpoints: [...context.endpoints], token: context.token };
  if (context.ca !== "") body.ca = context.ca;
  writeFileSync(temporary, YAML.stringify(body), { mode: 0o600 });
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}
