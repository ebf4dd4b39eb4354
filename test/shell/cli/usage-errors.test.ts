// Bad input to the CLI gets one line naming what is wrong and exit 2, before any request is sent
// (issue #13's list: suggestions that reached nobody, endpoints that were not addresses, timeouts
// Node.js cannot keep, numbers too large called "not a positive integer").
import { test } from "node:test";
import { runCli, type CliRun } from "../../support/run-cli.ts";
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { endpointProblem } from "../../../src/shell/cli/api-output.ts";


function blixard(...args: string[]): Promise<CliRun> {
  return runCli(args, { env: { BLIXARD_CONTEXT: "/nonexistent/context.yaml" } });
}

const cases: Array<[string[], RegExp]> = [
  [["kv", "gett"], /^error: unknown command 'gett' \(Did you mean get\?\)$/],
  [["kv", "get", "k", "--endpoint", "ftp://h:1"], /^blixard: --endpoint: "ftp:\/\/h:1" is not http:\/\/ or https:\/\//],
  [["kv", "get", "k", "--endpoint", "127.0.0.1"], /^blixard: --endpoint: "127.0.0.1" has no port/],
  [["kv", "get", "k", "--endpoint", "h:1", "--timeout-ms", "99999999999999"], /^blixard: --timeout-ms: 99999999999999 is more than 2147483647/],
  [["cluster", "remove", "99999999999999999999", "--endpoint", "h:1"], /^blixard: id: 99999999999999999999 is too large/],
];

for (const [args, message] of cases) {
  test(`usage error, one line, exit 2: blixard ${args.join(" ")}`, async () => {
    const run = await blixard(...args);
    assert.equal(run.code, 2, run.stderr);
    assert.equal(run.stderr.trimEnd().split("\n").length, 1, run.stderr);
    assert.match(run.stderr.trimEnd(), message);
  });
}

test("endpoints: host:port and http(s) URLs with a port; every other shape is named", () => {
  for (const good of ["127.0.0.1:8001", "http://127.0.0.1:8001", "https://n1.example:443", "[::1]:8001"]) assert.equal(endpointProblem(good), undefined, good);
  for (const bad of ["ftp://a:1", "a", "http://a", "https://a:1/path", "http://u:p@a:1", "a b:1"]) assert.notEqual(endpointProblem(bad), undefined, bad);
});

test("help reaches any depth: help kv put is kv put's help; an unknown one is named", async () => {
  const help = await blixard("help", "kv", "put");
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^Usage: blixard kv put \[options\] <key> \[value\]/m);
  const unknown = await blixard("help", "kv", "putt");
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^blixard: help: no command "kv putt"/);
});

test("version: the client's, from package.json, with no cluster known", async () => {
  const { version } = JSON.parse((await import("node:fs")).readFileSync(resolve(import.meta.dirname, "../../../package.json"), "utf8")) as { version: string };
  const run = await blixard("version");
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, `client  ${version}\n`);
  assert.equal((await blixard("--version")).stdout.trim(), version);
});

test("check of an empty file is bad input (exit 3), never 'linearizable, 0 operations'", async () => {
  const run = await blixard("check", "/dev/null", "--model", "register");
  assert.equal(run.code, 3, run.stdout);
  assert.equal(run.stdout, "");
  assert.match(run.stderr, /^blixard check: \/dev\/null: empty: no operations to check\n$/);
});

test("check takes -o json and -o yaml like every other command (--json stays), and refuses another format", async () => {
  const history = resolve(import.meta.dirname, "../../../../shared/histories/knossos/cas-register/bad/bad-analysis.edn");
  const json = await blixard("check", history, "--model", "cas-register", "-o", "json");
  assert.equal(json.code, 1, "not linearizable");
  assert.equal((JSON.parse(json.stdout) as { verdict: string }).verdict, "illegal");
  const legacy = JSON.parse((await blixard("check", history, "--model", "cas-register", "--json")).stdout) as { verdict: string; operationCount: number };
  assert.deepEqual([legacy.verdict, legacy.operationCount], ["illegal", (JSON.parse(json.stdout) as { operationCount: number }).operationCount]);
  const yaml = await blixard("check", history, "--model", "cas-register", "-o", "yaml");
  assert.match(yaml.stdout, /^---\nformat: edn\nverdict: illegal\n/);
  const xml = await blixard("check", history, "--model", "cas-register", "-o", "xml");
  assert.equal(xml.code, 3);
  assert.match(xml.stderr, /^blixard check: -o: "xml" is not table, json or yaml\n$/);
});

test("cluster wait gives up at its timeout with one line and exit 9 (unavailable); a bad timeout is a usage error", async () => {
  const run = await blixard("cluster", "wait", "--endpoint", "127.0.0.1:1", "--timeout", "1");
  assert.equal(run.code, 9);
  assert.match(run.stderr, /^blixard: cluster not ready within 1 s at http:\/\/127\.0\.0\.1:1: .*ECONNREFUSED.*\n$/);
  const bad = await blixard("cluster", "wait", "--endpoint", "127.0.0.1:1", "--timeout", "0");
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^blixard: --timeout: "0" is not a whole number of seconds/);
});
