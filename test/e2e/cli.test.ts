// The CLI as a user runs it (bin/blixard.js in a child process) against one in-process
// node: readable lines and tables by default, JSON with -o json, one-line errors.
import { after, before, describe, test } from "node:test";
import { runCli } from "../support/run-cli.ts";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NodeRuntime } from "../../src/shell/node/runtime.ts";
import { startSingleNode } from "../support/single-node.ts";
import { EXIT_INVALID_INPUT, EXIT_NOT_FOUND, EXIT_PERMISSION_DENIED, EXIT_UNAVAILABLE } from "../../src/shell/cli/api-output.ts";


interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function blixard(...args: string[]): Promise<Run> {
  return blixardWith({}, ...args);
}

/** The CLI with the harness's admin token and no context file, unless `env` says otherwise. */
function blixardWith(env: Record<string, string>, ...args: string[]): Promise<Run> {
  return runCli(args, { env });
}

describe("blixard kv and cluster commands", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-cli-"));
  let node: NodeRuntime;
  let endpoint: string;

  before(async () => {
    node = await startSingleNode(dir);
    endpoint = `--endpoint=http://${node.apiAddress}`;
  });
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("kv put, get and cas print one line each; -o json prints JSON", async () => {
    const put = await blixard("kv", "put", "color", "blue", endpoint);
    assert.equal(put.code, 0, put.stderr);
    assert.match(put.stdout, /^OK \(index \d+\)\n$/);
    const get = await blixard("kv", "get", "color", endpoint);
    assert.equal(get.stdout, "blue\n");
    const json = await blixard("kv", "get", "color", endpoint, "-o", "json");
    assert.equal((JSON.parse(json.stdout) as { value: string }).value, "blue");
    const failed = await blixard("kv", "cas", "color", "red", "green", endpoint);
    assert.match(failed.stdout, /^FAILED: current value is "blue"/);
    assert.equal(failed.code, 7, "a failed compare exits with the conflict code");
    const swapped = await blixard("kv", "cas", "color", "blue", "green", endpoint);
    assert.match(swapped.stdout, /^OK/);
    assert.equal(swapped.code, 0);
    // Values from a file and from stdin, byte for byte (newlines kept).
    const file = join(dir, "value.txt");
    writeFileSync(file, "line one\nline two\n");
    assert.equal((await blixard("kv", "put", "from-file", "--from-file", file, endpoint)).code, 0);
    assert.equal((await blixard("kv", "get", "from-file", endpoint)).stdout, "line one\nline two\n\n");
    const piped = await runCli(["kv", "put", "from-stdin", "-", endpoint], { input: "piped\n" });
    assert.equal(piped.code, 0, piped.stderr);
    assert.equal((await blixard("kv", "get", "from-stdin", endpoint)).stdout, "piped\n\n");
  });

  test("cluster status and members print tables", async () => {
    const status = await blixard("cluster", "status", endpoint);
    assert.equal(status.code, 0, status.stderr);
    const lines = status.stdout.trimEnd().split("\n");
    // The node runs with --insecure: every status says so.
    assert.match(lines[0]!, /^cluster c-[0-9a-f]{16}  leader 1  term \d+  INSECURE \(--insecure: plaintext, peers and clients not authenticated\)$/);
    assert.match(lines[1]!, /^ID\s+ROLE\s+TERM\s+COMMIT\s+APPLIED\s+LAST\s+API\s+VMS$/);
    assert.match(lines[2]!, /^1\s+leader\s+/);
    const waited = await blixard("cluster", "wait", "--timeout", "10", endpoint);
    assert.equal(waited.code, 0, waited.stderr);
    assert.equal(waited.stdout, "ready: node 1 knows leader 1\n");
    const versions = await blixard("version", endpoint);
    assert.equal(versions.code, 0, versions.stderr);
    assert.match(versions.stdout, /^client {2}\d+\.\d+\.\d+\nnode 1 {2}\d+\.\d+\.\d+\n$/, "the client's version and the node's own");
    const members = await blixard("cluster", "members", endpoint, "-o", "json");
    assert.deepEqual(
      (JSON.parse(members.stdout) as { members: { id: string; kind: string }[] }).members.map((m) => [m.id, m.kind]),
      [["1", "voter"]],
    );
  });

  test("token bootstrap makes a token file (0600) and a context the next command uses with no flags", async () => {
    const contextFile = join(dir, "context", "context.yaml");
    const tokenFile = join(dir, "first-token");
    const made = await blixardWith({ BLIXARD_CONTEXT: contextFile }, "token", "bootstrap", "--out", tokenFile, "--save-context", "--endpoint", `http://${node.apiAddress}`);
    assert.equal(made.code, 0, made.stderr);
    const [tokenLine, flagLine] = made.stdout.split("\n");
    const token = /^token: (blx_\S+)$/.exec(tokenLine!)?.[1];
    assert.ok(token !== undefined, made.stdout);
    assert.match(flagLine!, /^node flag: --bootstrap-token-hash [0-9a-f]{16}:[0-9a-f]{64}$/);
    assert.equal(readFileSync(tokenFile, "utf8"), `${token}\n`);
    assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
    assert.equal(statSync(contextFile).mode & 0o777, 0o600);
    // This node was not started with that hash: the context's token is refused, which shows it was the one sent.
    const fromContext = await blixardWith({ BLIXARD_CONTEXT: contextFile, BLIXARD_TOKEN: "" }, "kv", "get", "color");
    assert.equal(fromContext.code, EXIT_PERMISSION_DENIED);
    assert.equal(fromContext.stderr, "blixard: Unauthenticated: unknown or revoked token\n");
    // The environment's token wins over the context's.
    const fromEnv = await blixardWith({ BLIXARD_CONTEXT: contextFile }, "kv", "get", "color");
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    const hashOnly = await blixardWith({ BLIXARD_CONTEXT: join(dir, "context", "hash-only.yaml") }, "token", "bootstrap", "--hash-only", "--save-context");
    assert.equal(hashOnly.code, 0, hashOnly.stderr);
    assert.match(hashOnly.stdout, /^[0-9a-f]{16}:[0-9a-f]{64}\n$/, "only the flag's value, for BOOT=$(...)");
    const hashLost = await blixard("token", "bootstrap", "--hash-only");
    assert.equal(hashLost.code, 2);
    assert.equal(hashLost.stderr, "blixard: --hash-only: give --out FILE or --save-context too, or the token itself would be lost\n");
    const badRole = await blixard("token", "create", "--role", "root", endpoint);
    assert.equal(badRole.code, 2);
    assert.equal(badRole.stderr, 'blixard: --role: "root" is not one of admin, operator, tenant, read-only\n');
    const badHash = await blixard("node", "--id", "1", "--peer-listen", "127.0.0.1:1", "--api-listen", "127.0.0.1:2", "--data-dir", dir, "--initial-cluster", "1=127.0.0.1:1", "--bootstrap-token-hash", "nope", "--insecure");
    assert.equal(badHash.code, 2);
    assert.match(badHash.stderr, /^blixard: --bootstrap-token-hash: "nope" is not ID:SHA256HEX/);
  });

  test("errors are one line: the exit code names the class of a failed call, exit 2 for bad input", async () => {
    const invalid = await blixard("kv", "put", "_blixard/x", "y", endpoint);
    assert.equal(invalid.code, EXIT_INVALID_INPUT);
    assert.equal(invalid.stderr, "blixard: InvalidArgument: key: keys starting with _blixard/ are reserved for the cluster\n");
    const unreachable = await blixard("kv", "get", "a", "--endpoint", "127.0.0.1:1");
    assert.equal(unreachable.code, EXIT_UNAVAILABLE);
    assert.match(unreachable.stderr, /^blixard: Unavailable: cannot reach http:\/\/127\.0\.0\.1:1[^\n]*\n$/);
    // A member the request names does not exist: not found, in the operator's words.
    const transfer = await blixard("cluster", "transfer-leader", "9", endpoint);
    assert.equal(transfer.code, EXIT_NOT_FOUND, transfer.stderr);
    assert.match(transfer.stderr, /^blixard: NotFound: cannot transfer leadership to node 9: it is not a member of the cluster \(voters: 1\)/);
    const noEndpoint = await blixard("kv", "get", "a");
    assert.equal(noEndpoint.code, 2);
    assert.equal(noEndpoint.stderr, "blixard: --endpoint is required (or set BLIXARD_ENDPOINT)\n");
    const badId = await blixard("cluster", "promote", "zero", endpoint);
    assert.equal(badId.code, 2);
    assert.equal(badId.stderr, 'blixard: id: "zero" is not a positive integer\n');
    const badOutput = await blixard("cluster", "status", endpoint, "-o", "xml");
    assert.equal(badOutput.code, 2);
    const nodeFlags = await blixard("node", "--id", "1", "--peer-listen", "127.0.0.1:1", "--api-listen", "127.0.0.1:2", "--data-dir", dir);
    assert.equal(nodeFlags.code, 2);
    assert.match(nodeFlags.stderr, /^blixard: give exactly one of --initial-cluster/);
    const syncPoints = await blixard("node", "--id", "1", "--peer-listen", "127.0.0.1:1", "--api-listen", "127.0.0.1:2", "--data-dir", dir, "--initial-cluster", "1=127.0.0.1:1", "--sync-points", "sometimes");
    assert.equal(syncPoints.code, 2);
    assert.equal(syncPoints.stderr, 'blixard: --sync-points: "sometimes" is not riding or strict\n');
  });
});
