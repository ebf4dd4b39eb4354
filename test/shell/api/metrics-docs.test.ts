// docs/OPERATIONS.md's metrics table and a live node's /metrics agree: every metric the table
// names is exported with the type it says, every exported blixard_* metric is in the table, and
// the labels a sample carries are the ones the table lists (besides node_id, and le on buckets).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NodeRuntime } from "../../../src/shell/node/runtime.ts";
import { createApiClients } from "../../../src/shell/api/client.ts";
import { ADMIN_HEADERS, ADMIN_TOKEN } from "../../support/admin-token.ts";
import { startSingleNode } from "../../support/single-node.ts";
import { parseExposition, type Exposition } from "../../support/prometheus-text.ts";

interface DocumentedMetric {
  readonly type: string;
  readonly labels: ReadonlySet<string>;
}

/** The rows between the metrics markers: | `name` | type | `label`, `label` | meaning |. */
export function documentedMetrics(markdown: string): Map<string, DocumentedMetric> {
  const begin = markdown.indexOf("<!-- metrics:begin");
  const end = markdown.indexOf("<!-- metrics:end -->");
  assert.ok(begin >= 0 && end > begin, "docs/OPERATIONS.md has the metrics markers");
  const metrics = new Map<string, DocumentedMetric>();
  for (const line of markdown.slice(begin, end).split("\n")) {
    const cells = line.split("|").map((cell) => cell.trim());
    const name = /^`(blixard_[a-z0-9_]+)`$/.exec(cells[1] ?? "")?.[1];
    if (name === undefined) continue;
    assert.ok(!metrics.has(name), `${name} is documented twice`);
    const labels = new Set([...(cells[3] ?? "").matchAll(/`([a-z_]+)`/g)].map((match) => match[1]!));
    metrics.set(name, { type: cells[2] ?? "", labels });
  }
  return metrics;
}

/** The family a sample belongs to (histograms export _bucket, _sum and _count). */
function familyOf(sampleName: string, exposition: Exposition): string {
  for (const suffix of ["_bucket", "_sum", "_count"]) {
    const base = sampleName.endsWith(suffix) ? sampleName.slice(0, -suffix.length) : undefined;
    if (base !== undefined && exposition.types.get(base) === "histogram") return base;
  }
  return sampleName;
}

describe("docs/OPERATIONS.md's metrics are what a node exports", { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-metrics-docs-"));
  let node: NodeRuntime;
  before(async () => {
    node = await startSingleNode(dir);
  });
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the table parses into a plausible list", () => {
    const documented = documentedMetrics(readFileSync("docs/OPERATIONS.md", "utf8"));
    assert.ok(documented.size >= 20, `only ${documented.size} metrics documented`);
    assert.deepEqual(documentedMetrics("<!-- metrics:begin -->\n| `blixard_x` | gauge | `a`, `b` | x |\n<!-- metrics:end -->"), new Map([["blixard_x", { type: "gauge", labels: new Set(["a", "b"]) }]]));
  });

  test("every documented metric is exported with its type and labels, and every exported one is documented", async () => {
    // A request first, so the API metrics have samples whose labels can be checked.
    await createApiClients(node.apiAddress, { token: ADMIN_TOKEN.text }).kv.put({ key: "docs", value: "x" });
    const response = await fetch(`http://${node.apiAddress}/metrics`, { headers: ADMIN_HEADERS, signal: AbortSignal.timeout(5_000) });
    assert.equal(response.status, 200);
    const exposition = parseExposition(await response.text());
    const documented = documentedMetrics(readFileSync("docs/OPERATIONS.md", "utf8"));
    const exported = [...exposition.types.keys()].filter((name) => name.startsWith("blixard_")).sort();
    assert.deepEqual(exported.filter((name) => !documented.has(name)), [], "exported but not in docs/OPERATIONS.md");
    assert.deepEqual([...documented.keys()].filter((name) => !exposition.types.has(name)).sort(), [], "documented but not exported");
    for (const [name, metric] of documented) assert.equal(exposition.types.get(name), metric.type, `${name}'s type`);
    for (const sample of exposition.samples) {
      const family = familyOf(sample.name, exposition);
      if (!family.startsWith("blixard_")) continue;
      const allowed = new Set([...documented.get(family)!.labels, "node_id", ...(sample.name.endsWith("_bucket") ? ["le"] : [])]);
      const extra = Object.keys(sample.labels).filter((label) => !allowed.has(label));
      assert.deepEqual(extra, [], `${sample.name} carries labels the docs do not list`);
    }
  });
});
