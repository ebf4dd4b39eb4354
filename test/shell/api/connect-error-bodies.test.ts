// Every HTTP error answer of the API carries a Connect error body (src/shell/api/connect-error-body.ts):
// the answers connect-node gives empty (unknown path 404, GET on a procedure 405, no or a wrong
// content type 415) get {"code","message"} as application/json, over HTTP/1.1 and h2c; the
// answers that had a body keep it.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import http2 from "node:http2";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeRuntime } from "../../../src/shell/node/runtime.ts";
import { connectErrorBodyFor } from "../../../src/shell/api/connect-error-body.ts";
import { ADMIN_HEADERS } from "../../support/admin-token.ts";
import { startSingleNode } from "../../support/single-node.ts";

interface Answer {
  readonly status: number;
  readonly contentType: string | null;
  readonly body: { code?: string; message?: string };
}

async function call(url: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(url, init);
  const text = await response.text();
  return { status: response.status, contentType: response.headers.get("content-type"), body: text === "" ? {} : (JSON.parse(text) as Answer["body"]) };
}

describe("Connect error bodies on every HTTP error", () => {
  let dir: string;
  let node: NodeRuntime;
  let base: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "blixard-error-bodies-"));
    node = await startSingleNode(dir);
    base = `http://${node.apiAddress}`;
  });
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("404: an unknown procedure and an unknown path", async () => {
    for (const path of ["/blixard.v1.KvService/Nope", "/", "/no/such/thing"]) {
      const answer = await call(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json", ...ADMIN_HEADERS }, body: "{}" });
      assert.equal(answer.status, 404, path);
      assert.equal(answer.contentType, "application/json");
      assert.equal(answer.body.code, "unimplemented");
      assert.match(answer.body.message ?? "", /no such procedure/);
    }
  });

  test("405: GET on a procedure", async () => {
    const answer = await call(`${base}/blixard.v1.KvService/Get`, { headers: ADMIN_HEADERS });
    assert.equal(answer.status, 405);
    assert.equal(answer.contentType, "application/json");
    assert.equal(answer.body.code, "unimplemented");
    assert.match(answer.body.message ?? "", /GET is not allowed.*POST/);
  });

  test("415: curl -d without a content type, a form, and no content type at all", async () => {
    const cases: Array<[string | undefined, RegExp]> = [
      ["application/x-www-form-urlencoded", /content type "application\/x-www-form-urlencoded"/],
      ["text/plain", /content type "text\/plain"/],
    ];
    for (const [contentType, given] of cases) {
      const answer = await call(`${base}/blixard.v1.KvService/Get`, { method: "POST", headers: { ...(contentType === undefined ? {} : { "content-type": contentType }), ...ADMIN_HEADERS }, body: '{"key":"k"}' });
      assert.equal(answer.status, 415, contentType);
      assert.equal(answer.contentType, "application/json");
      assert.equal(answer.body.code, "invalid_argument");
      assert.match(answer.body.message ?? "", /unsupported media type/);
      assert.match(answer.body.message ?? "", /application\/json or application\/proto/);
      assert.match(answer.body.message ?? "", given);
    }
    // fetch always sends a content type with a string body; a raw HTTP/1.1 request sends none.
    const { request } = await import("node:http");
    const [host, port] = node.apiAddress.split(":");
    const raw = await new Promise<Answer>((resolve, reject) => {
      const req = request({ host, port: Number(port), method: "POST", path: "/blixard.v1.KvService/Get", headers: { ...ADMIN_HEADERS, "content-length": 11 } }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, contentType: res.headers["content-type"] ?? null, body: JSON.parse(text) as Answer["body"] }));
      });
      req.on("error", reject);
      req.end('{"key":"k"}');
    });
    assert.equal(raw.status, 415);
    assert.equal(raw.body.code, "invalid_argument");
    assert.match(raw.body.message ?? "", /no content type/);
  });

  test("an error that had a body keeps it (401 from the gatekeeper, 429 for a body over the limit)", async () => {
    const unauthenticated = await call(`${base}/blixard.v1.KvService/Get`, { method: "POST", headers: { "content-type": "application/json" }, body: '{"key":"k"}' });
    assert.equal(unauthenticated.status, 401);
    assert.equal(unauthenticated.body.code, "unauthenticated");
    const tooLarge = await call(`${base}/blixard.v1.KvService/Put`, { method: "POST", headers: { "content-type": "application/json", ...ADMIN_HEADERS }, body: JSON.stringify({ key: "k", value: "x".repeat(1024 * 1024) }) });
    assert.ok(tooLarge.status >= 400, `status ${tooLarge.status}`);
    assert.equal(tooLarge.contentType, "application/json");
    assert.equal(tooLarge.body.code, "resource_exhausted");
  });

  test("h2c: an unknown path gets the same body", async () => {
    const session = http2.connect(base);
    try {
      const answer = await new Promise<Answer>((resolve, reject) => {
        const stream = session.request({ ":method": "POST", ":path": "/blixard.v1.KvService/Nope", "content-type": "application/json", ...ADMIN_HEADERS });
        let status = 0;
        let contentType: string | null = null;
        let text = "";
        stream.on("response", (headers) => {
          status = Number(headers[":status"]);
          contentType = (headers["content-type"] as string | undefined) ?? null;
        });
        stream.setEncoding("utf8");
        stream.on("data", (chunk: string) => (text += chunk));
        stream.on("end", () => resolve({ status, contentType, body: JSON.parse(text) as Answer["body"] }));
        stream.on("error", reject);
        stream.end("{}");
      });
      assert.equal(answer.status, 404);
      assert.equal(answer.contentType, "application/json");
      assert.equal(answer.body.code, "unimplemented");
    } finally {
      session.close();
    }
  });

  test("the statuses without a mapping pass through", () => {
    assert.equal(connectErrorBodyFor(200, "POST", "/x", undefined), undefined);
    assert.equal(connectErrorBodyFor(500, "POST", "/x", undefined), undefined);
    assert.equal(connectErrorBodyFor(413, "POST", "/x", undefined)?.code, "resource_exhausted");
  });
});
