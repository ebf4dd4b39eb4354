// The command line: `blixard check` exit codes 0/1/2/3 and the HTML report.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const HISTORIES = path.resolve(ROOT, "../shared/histories");
const BIN = path.join(ROOT, "bin/blixard.js");
const scratch = mkdtempSync(path.join(tmpdir(), "blixard-check-"));

function blixard(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, [BIN, "check", ...args], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

function assertSelfContained(html: string): void {
  assert.match(html, /^<!DOCTYPE html>/);
  assert.doesNotMatch(html, /https?:\/\//, "no external URLs");
  assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+href=|<img[^>]+src=/, "nothing fetched at view time");
}

describe("blixard check", () => {
  test("--model list-append names the anomaly and judges --consistency", () => {
    const txns = path.join(scratch, "write-skew.edn");
    writeFileSync(
      txns,
      [
        "{:process 0, :type :invoke, :f :txn, :value [[:r x nil] [:append y 1]]}",
        "{:process 1, :type :invoke, :f :txn, :value [[:r y nil] [:append x 1]]}",
        "{:process 0, :type :ok, :f :txn, :value [[:r x []] [:append y 1]]}",
        "{:process 1, :type :ok, :f :txn, :value [[:r y []] [:append x 1]]}",
        "",
      ].join("\n"),
    );
    const strict = blixard(txns, "--model", "list-append");
    assert.equal(strict.status, 1, strict.stdout + strict.stderr);
    assert.match(strict.stdout, /NOT strict-serializable \(strongest model satisfied: snapshot-isolation/);
    assert.match(strict.stdout, /G2: ops 0, 1/);
    assert.equal(blixard(txns, "--model", "list-append", "--consistency", "snapshot-isolation").status, 0);
    const bad = blixard(txns, "--model", "list-append", "--consistency", "linearizable");
    assert.equal(bad.status, 3);
    assert.match(bad.stderr, /--consistency: "linearizable" is not one of strict-serializable/);
  });

  test("Jepsen log lines start the register absent (--initial nil); --initial 0 reads nil as unknown", () => {
    const log = path.join(scratch, "etcd.log");
    // Spaces, not tabs, between fields; a read of nil after a write has completed.
    writeFileSync(log, ["INFO  jepsen.util - 1 :invoke :write 3", "INFO  jepsen.util - 1 :ok :write 3", "INFO  jepsen.util - 0 :invoke :read nil", "INFO  jepsen.util - 0 :ok :read nil", ""].join("\n"));
    const absent = blixard(log, "--model", "cas-register");
    assert.equal(absent.status, 1, absent.stdout + absent.stderr);
    assert.match(absent.stdout, /NOT linearizable \(model cas-register, format jepsen-log/);
    assert.equal(blixard(log, "--model", "cas-register", "--initial", "nil").status, 1);
    const knossos = blixard(log, "--model", "cas-register", "--initial", "0");
    assert.equal(knossos.status, 0, knossos.stdout + knossos.stderr);
  });

  test("exit 0 and an HTML report for a linearizable history", () => {
    const report = path.join(scratch, "ok.html");
    const run = blixard(path.join(HISTORIES, "porcupine-kv/c01-ok.txt"), "--model", "kv", "--html", report);
    assert.equal(run.status, 0, run.stderr);
    assert.match(run.stdout, /linearizable/);
    const html = readFileSync(report, "utf8");
    assertSelfContained(html);
    assert.match(html, /<svg/);
    assert.match(html, /Linearization found/);
    assert.match(html, /state before:/);
  });

  test("exit 1 and an HTML report showing where the search got stuck for an illegal history", () => {
    const report = path.join(scratch, "bad.html");
    const run = blixard(path.join(HISTORIES, "knossos/cas-register/bad/rethink-fail-minimal.edn"), "--model", "cas-register", "--html", report);
    assert.equal(run.status, 1, run.stderr);
    assert.match(run.stdout, /NOT linearizable/);
    assert.match(run.stdout, /read 3 \(process 1, line 4\): rejected by the model/);
    const html = readFileSync(report, "utf8");
    assertSelfContained(html);
    assert.match(html, /Longest partial linearization/);
    assert.match(html, /stuck-not-allowed/);
  });

  test("exit 2 when the time budget runs out", () => {
    // 20 concurrent puts and a read none of them explains: about 2^20 configurations.
    const file = path.join(scratch, "hard.jsonl");
    const lines: string[] = [];
    for (let p = 0; p < 20; p += 1) lines.push(JSON.stringify({ process: p, type: "invoke", f: "put", key: "k", value: `v${p}`, time: p }));
    for (let p = 0; p < 20; p += 1) lines.push(JSON.stringify({ process: p, type: "ok", f: "put", key: "k", value: `v${p}`, time: 100 + p }));
    lines.push(JSON.stringify({ process: 99, type: "invoke", f: "get", key: "k", value: null, time: 200 }));
    lines.push(JSON.stringify({ process: 99, type: "ok", f: "get", key: "k", value: "nope", time: 201 }));
    writeFileSync(file, lines.join("\n") + "\n");
    const run = blixard(file, "--model", "kv", "--timeout", "0.2");
    assert.equal(run.status, 2, run.stderr);
    assert.match(run.stdout, /unknown/);
    assert.match(run.stdout, /time budget/);
  });

  test("exit 3 with one line naming file, line and column for malformed input", () => {
    const file = path.join(scratch, "bad.edn");
    writeFileSync(file, '{:process 0, :type :invoke, :f :read, :value nil}\n{:process 0, :type :ok, :f :read, :value [1 2}\n');
    const run = blixard(file, "--model", "cas-register");
    assert.equal(run.status, 3);
    assert.equal(run.stderr, `blixard check: ${file}:2:46: unexpected '}'\n`);
  });

  test("exit 3 for a malformed JSON line, an unknown model or format, and a missing file", () => {
    const file = path.join(scratch, "bad.jsonl");
    writeFileSync(file, '{"process":0,"type":"invoke","f":"get","key":"a","value":null,"time":1}\n{"process":0,"type":"ok",}\n');
    const json = blixard(file, "--model", "kv");
    assert.equal(json.status, 3);
    assert.match(json.stderr, /bad\.jsonl:2:26: malformed JSON/);
    assert.equal(json.stderr.trim().split("\n").length, 1);
    const model = blixard(file, "--model", "nope");
    assert.equal(model.status, 3);
    assert.match(model.stderr, /unknown model 'nope'/);
    const format = blixard(file, "--model", "kv", "--format", "xml");
    assert.equal(format.status, 3);
    assert.match(format.stderr, /unknown format 'xml'/);
    const missing = blixard(path.join(scratch, "missing.edn"), "--model", "kv");
    assert.equal(missing.status, 3);
    assert.match(missing.stderr, /cannot read \(ENOENT\)/);
    for (const run of [json, model, format, missing]) assert.doesNotMatch(run.stderr, /\n\s+at /, "no stack trace");
  });
});
