// `blixard vm`, `node list|get|...` and `tenant` as a user runs them (bin/blixard.js in a child
// process) against one in-process node with no agents (VMs stay pending): tables by default,
// -o json and -o yaml, one-line errors, and the exit codes that tell not-found (6), conflict (7),
// invalid input (8) and unavailable (9) apart (api-output.ts, docs/OPERATIONS.md).
import { after, before, describe, test } from "node:test";
import { runCli } from "../../support/run-cli.ts";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import YAML from "yaml";
import { NodeRuntime } from "../../../src/shell/node/runtime.ts";
import { EXIT_CONFLICT, EXIT_INVALID_INPUT, EXIT_NOT_APPLIED, EXIT_NOT_FOUND, EXIT_UNAVAILABLE } from "../../../src/shell/cli/api-output.ts";
import { startSingleNode } from "../../support/single-node.ts";


interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function blixard(...args: string[]): Promise<Run> {
  return runCli(args);
}

function oneLine(run: Run, pattern: RegExp): void {
  assert.equal(run.stderr.split("\n").filter((line) => line !== "").length, 1, run.stderr);
  assert.match(run.stderr, pattern);
}

describe("blixard vm, node and tenant commands", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-vm-cli-"));
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

  test("tenant quota set, then vm create from flags and from a file; the same name again is a conflict (7)", async () => {
    const quota = await blixard("tenant", "quota", "set", "acme", "--vms", "5", "--vcpus", "8", "--memory", "4096", endpoint);
    assert.equal(quota.code, 0, quota.stderr);
    assert.match(quota.stdout, /^tenant acme\n/);
    assert.match(quota.stdout, /vms\s+0\s+5/);
    const created = await blixard("vm", "create", "web", "--tenant", "acme", "--vcpus", "1", "--memory", "128", "--port", "8080:80", endpoint);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stdout, /^created vm acme\/web \(id \d+, pending, index \d+\)\n$/);
    const file = join(dir, "api.yaml");
    writeFileSync(file, "tenant: acme\nname: api\nresources:\n  vcpus: 1\n  memoryMib: 256\n");
    const fromFile = await blixard("vm", "create", "-f", file, endpoint);
    assert.equal(fromFile.code, 0, fromFile.stderr);
    const again = await blixard("vm", "create", "web", "--tenant", "acme", endpoint);
    assert.equal(again.code, EXIT_CONFLICT);
    oneLine(again, /^blixard: AlreadyExists: already-exists: spec\.name: tenant acme already has a vm named "web"\n$/);
  });

  test("vm get and list: a table, -o json, -o yaml; an unknown VM is not found (6)", async () => {
    const table = await blixard("vm", "get", "web", "--tenant", "acme", endpoint);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^id:\s+\d+\ntenant:\s+acme\nname:\s+web\nphase:\s+pending\n/);
    assert.match(table.stdout, /ports:\s+8080:80\/tcp/);
    const json = JSON.parse((await blixard("vm", "get", "web", "--tenant", "acme", endpoint, "-o", "json")).stdout) as { vm: { phase: string; spec: { resources: { memoryMib: string } } } };
    assert.equal(json.vm.phase, "pending");
    assert.equal(json.vm.spec.resources.memoryMib, "128");
    const yaml = YAML.parse((await blixard("vm", "get", "api", "--tenant", "acme", endpoint, "-o", "yaml")).stdout) as { vm: { spec: { name: string } } };
    assert.equal(yaml.vm.spec.name, "api");
    const list = await blixard("vm", "list", "--tenant", "acme", endpoint);
    assert.equal(list.code, 0, list.stderr);
    const lines = list.stdout.trimEnd().split("\n");
    assert.match(lines[0]!, /^ID\s+TENANT\s+NAME\s+PHASE\s+DESIRED\s+NODE\s+VCPUS\s+MEMORY\s+GEN\s+REASON$/);
    assert.deepEqual(
      lines.slice(1).map((line) => line.split(/\s+/)[2]),
      ["web", "api"],
    );
    const missing = await blixard("vm", "get", "nope", "--tenant", "acme", endpoint);
    assert.equal(missing.code, EXIT_NOT_FOUND);
    oneLine(missing, /^blixard: NotFound: vm acme\/nope not found\n$/);
  });

  test("vm stop and start; a stale --expected-generation is a conflict (7)", async () => {
    const stopped = await blixard("vm", "stop", "web", "--tenant", "acme", endpoint);
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stdout, /^stopped vm acme\/web: stopped, desired stopped/);
    const stale = await blixard("vm", "start", "web", "--tenant", "acme", "--expected-generation", "1", endpoint);
    assert.equal(stale.code, EXIT_CONFLICT);
    oneLine(stale, /^blixard: FailedPrecondition: stale-generation: /);
    const started = await blixard("vm", "start", "web", "--tenant", "acme", endpoint);
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stdout, /: pending, desired running/);
  });

  test("invalid input exits 8 with the field named, locally and from the node; a bad flag exits 2", async () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "name: bad\nresources: {vcpus: 1, memoryMib: 0}\n");
    const local = await blixard("vm", "create", "-f", file, endpoint);
    assert.equal(local.code, EXIT_INVALID_INPUT);
    oneLine(local, /^blixard: InvalidArgument: .*bad\.yaml: spec\.resources\.memoryMib: must be at least 1\n$/);
    const flags = await blixard("vm", "create", "Bad_Name", "--memory", "64", endpoint);
    assert.equal(flags.code, EXIT_INVALID_INPUT);
    oneLine(flags, /spec\.name: must be a DNS label/);
    const unknownTenant = await blixard("vm", "create", "x", "--tenant", "nobody", endpoint);
    assert.equal(unknownTenant.code, EXIT_NOT_FOUND);
    oneLine(unknownTenant, /^blixard: NotFound: not-found: spec\.tenant: tenant "nobody" does not exist/);
    const badFlag = await blixard("vm", "list", "--node", "abc", endpoint);
    assert.equal(badFlag.code, 2);
    oneLine(badFlag, /^blixard: --node: "abc" is not a non-negative integer\n$/);
  });

  test("an unreachable node exits 9; --wait gives up after --timeout with exit 1", async () => {
    const unreachable = await blixard("vm", "list", "--endpoint=http://127.0.0.1:1");
    assert.equal(unreachable.code, EXIT_UNAVAILABLE);
    oneLine(unreachable, /^blixard: Unavailable: cannot reach http:\/\/127\.0\.0\.1:1/);
    const waited = await blixard("vm", "create", "slow", "--tenant", "acme", "--memory", "64", "--wait", "--timeout", "1", endpoint);
    assert.equal(waited.code, EXIT_NOT_APPLIED);
    assert.match(waited.stdout, /^created vm acme\/slow/);
    assert.match(waited.stderr, /^waiting for vm acme\/slow: pending/);
    assert.match(waited.stderr, /blixard: vm acme\/slow is still pending after 1 s \(--timeout\); it was created and keeps going\n$/);
  });

  test("vm events, node list and get, tenant usage", async () => {
    const events = JSON.parse((await blixard("vm", "events", endpoint, "-o", "json")).stdout) as { events: { kind: string; detail: string }[] };
    assert.ok(events.events.some((e) => e.kind === "vm-created" && e.detail.startsWith("acme/web")));
    const nodes = await blixard("node", "list", endpoint);
    assert.equal(nodes.code, 0, nodes.stderr);
    assert.match(nodes.stdout, /^ID\s+STATE\s+ADDRESS/);
    const missing = await blixard("node", "get", "5", endpoint);
    assert.equal(missing.code, EXIT_NOT_FOUND);
    const usage = await blixard("tenant", "usage", "acme", endpoint, "-o", "json");
    assert.equal((JSON.parse(usage.stdout) as { tenant: { usage: { vms: string } } }).tenant.usage.vms, "3");
    const help = await blixard("vm", "logs", "--help");
    assert.match(help.stdout, /Example:\n {2}\$ blixard vm logs web -f/);
  });
});
