// The role matrix: every method of every service a node serves (from NODE_SERVICES and the one
// role table, so a new method is covered as soon as it is served) called with a token of every
// role and with none, over the unary fast path (Connect JSON over HTTP/1.1) and over connect-node
// (gRPC over h2c). Each cell must be exactly what the table says: allowed (any answer but
// Unauthenticated or PermissionDenied: the empty requests are refused as invalid or harmless),
// PermissionDenied, or Unauthenticated. A server stream's cell is its first message or error. docs/SECURITY.md must hold the matrix the table renders.
// The planted bug authenticate-without-authorize (a valid token may call anything) must make the
// matrix check fail.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Code, ConnectError, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { create, type DescService } from "@bufbuild/protobuf";
import { silentLogger } from "../../../src/core/env/environment.ts";
import { ROLES, type Role } from "../../../src/core/replica/token-book.ts";
import { NodeRuntime } from "../../../src/shell/node/runtime.ts";
import { NODE_SERVICES } from "../../../src/shell/api/services.ts";
import { createApiClients } from "../../../src/shell/api/client.ts";
import { METHOD_ROLES, methodKey } from "../../../src/shell/auth/method-roles.ts";
import { expectedCell, MATRIX_BEGIN, MATRIX_CALLERS, MATRIX_END, renderRoleMatrix, type MatrixCell } from "../../../src/shell/auth/role-matrix.ts";
import type { GatekeeperPlantedBug } from "../../../src/shell/auth/gatekeeper.ts";
import { waitUntil } from "../../support/wait-until.ts";
import { ADMIN_TOKEN, BOOTSTRAP_TOKENS } from "../../support/admin-token.ts";

const SECURITY_DOC = resolve(import.meta.dirname, "../../../docs/SECURITY.md");

interface MatrixNode {
  readonly runtime: NodeRuntime;
  readonly url: string;
  /** A token of each role, created through the API by the bootstrap admin (so they live in the book). */
  readonly tokens: ReadonlyMap<Role, string>;
}

async function startNode(dir: string, name: string, plantedBugs?: ReadonlySet<GatekeeperPlantedBug>): Promise<MatrixNode> {
  const runtime = await NodeRuntime.start({ security: "insecure",
    nodeId: 1,
    peerListen: "127.0.0.1:0",
    apiListen: "127.0.0.1:0",
    dataDir: join(dir, name),
    initialCluster: new Map([[1, "127.0.0.1:0"]]),
    log: silentLogger,
    tickMs: 20,
    bootstrapTokens: BOOTSTRAP_TOKENS,
    gatekeeperPlantedBugs: plantedBugs,
  });
  await waitUntil("leadership", () => runtime.status().raft.role === "leader");
  const url = `http://${runtime.apiAddress}`;
  const admin = createApiClients(url, { token: ADMIN_TOKEN.text });
  const tokens = new Map<Role, string>();
  for (const role of ROLES) {
    const created = await admin.token.createToken({ role, tenant: role === "tenant" ? "acme" : "" });
    tokens.set(role, created.token);
  }
  return { runtime, url, tokens };
}

/** What one call answered, as a matrix cell ("allowed" for anything but the two refusals). */
async function cellOf(transport: Transport, service: DescService, methodName: string): Promise<MatrixCell> {
  const method = service.methods.find((m) => m.name === methodName)!;
  const client = createClient(service, transport) as unknown as Record<string, (request: unknown, options?: { signal: AbortSignal }) => unknown>;
  try {
    if (method.methodKind === "server_streaming") {
      // A stream is admitted or refused before its first message; its first message (or error) is the cell.
      const abort = new AbortController();
      const stream = client[method.localName]!(create(method.input), { signal: abort.signal }) as AsyncIterable<unknown>;
      try {
        for await (const _message of stream) break;
      } finally {
        abort.abort();
      }
      return "allowed";
    }
    await client[method.localName]!(create(method.input));
    return "allowed";
  } catch (error) {
    const code = ConnectError.from(error).code;
    if (code === Code.Unauthenticated) return "Unauthenticated";
    if (code === Code.PermissionDenied) return "PermissionDenied";
    return "allowed";
  }
}

type Protocol = "connect (fast path)" | "grpc (connect-node)";

function transportFor(protocol: Protocol, url: string, token: string | undefined): Transport {
  const withToken: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer ${token}`);
    return next(request);
  };
  const interceptors = token === undefined ? [] : [withToken];
  return protocol === "grpc (connect-node)" ? createGrpcTransport({ baseUrl: url, interceptors }) : createConnectTransport({ baseUrl: url, httpVersion: "1.1", interceptors });
}

/** Every cell that differs from the table, as "method, caller, protocol: got X, want Y". */
async function matrixViolations(node: MatrixNode): Promise<string[]> {
  const violations: string[] = [];
  for (const protocol of ["connect (fast path)", "grpc (connect-node)"] as const) {
    for (const caller of MATRIX_CALLERS) {
      const transport = transportFor(protocol, node.url, caller === "no token" ? undefined : node.tokens.get(caller));
      for (const service of NODE_SERVICES) {
        for (const method of service.methods) {
          const key = methodKey(service, method.name);
          const got = await cellOf(transport, service, method.name);
          const want = expectedCell(key, caller);
          if (got !== want) violations.push(`${key}, ${caller}, ${protocol}: got ${got}, want ${want}`);
        }
      }
    }
  }
  return violations;
}

describe("role matrix", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-roles-"));
  const nodes: NodeRuntime[] = [];
  after(async () => {
    for (const node of nodes) await node.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  let node: MatrixNode;
  before(async () => {
    node = await startNode(dir, "node");
    nodes.push(node.runtime);
  });

  test("the table has a row for every served method and nothing else", () => {
    const served = NODE_SERVICES.flatMap((service) => service.methods.map((method) => methodKey(service, method.name))).sort();
    assert.deepEqual(Object.keys(METHOD_ROLES).sort(), served);
  });

  test("fault injection (FailpointService) is admin only: every other role is PermissionDenied in the matrix below", () => {
    for (const method of ["Set", "Clear", "List"]) assert.deepEqual(METHOD_ROLES[`blixard.v1.FailpointService/${method}`], ["admin"], method);
  });

  test("every method, every role and no token, on both paths: exactly the table's cell", async () => {
    assert.deepEqual(await matrixViolations(node), []);
  });

  test("docs/SECURITY.md holds the matrix the table renders", () => {
    const doc = readFileSync(SECURITY_DOC, "utf8");
    const begin = doc.indexOf(MATRIX_BEGIN);
    const end = doc.indexOf(MATRIX_END);
    const rendered = renderRoleMatrix();
    if (process.env.BLIXARD_UPDATE_ROLE_MATRIX === "1" && begin >= 0 && end > begin) {
      writeFileSync(SECURITY_DOC, `${doc.slice(0, begin)}${rendered}${doc.slice(end + MATRIX_END.length)}`);
      return;
    }
    assert.ok(begin >= 0 && end > begin, "docs/SECURITY.md has the role-matrix markers");
    assert.equal(doc.slice(begin, end + MATRIX_END.length), rendered, "the matrix in docs/SECURITY.md is stale: BLIXARD_UPDATE_ROLE_MATRIX=1 node scripts/test.mjs role-matrix");
  });

  test("planted bug authenticate-without-authorize: the matrix check fires", async () => {
    const buggy = await startNode(dir, "buggy", new Set(["authenticate-without-authorize"]));
    nodes.push(buggy.runtime);
    const violations = await matrixViolations(buggy);
    assert.ok(violations.length > 0, "a node that skips the role check must break the matrix");
    // Only refusals turn into admissions: Unauthenticated cells still hold.
    assert.ok(violations.every((v) => /got allowed, want PermissionDenied$/.test(v)), violations.join("\n"));
    assert.ok(violations.some((v) => v.startsWith("blixard.v1.TokenService/CreateToken, read-only")));
  });
});
