import { test } from "node:test";
import assert from "node:assert/strict";
import { nodeArguments, upNodes, validateLayout, type UpLayout } from "../../../src/shell/up/up-layout.ts";

const layout: UpLayout = { nodes: 3, basePort: 7100, backend: "process", imageDir: "", leaseMs: 10_000 };

test("up layout: one loopback API and peer port per node, data under the data directory", () => {
  const nodes = upNodes("/d", layout);
  assert.deepEqual(
    nodes.map((n) => [n.id, n.apiAddress, n.peerAddress, n.dataDir, n.tlsDir, n.vmsDir]),
    [
      [1, "127.0.0.1:7101", "127.0.0.1:7151", "/d/node-1", "/d/node-1/tls", "/d/node-1/vms"],
      [2, "127.0.0.1:7102", "127.0.0.1:7152", "/d/node-2", "/d/node-2/tls", "/d/node-2/vms"],
      [3, "127.0.0.1:7103", "127.0.0.1:7153", "/d/node-3", "/d/node-3/tls", "/d/node-3/vms"],
    ],
  );
});

test("up layout: node arguments name every member, TLS, the bootstrap token and the backend", () => {
  const nodes = upNodes("/d", layout);
  const args = nodeArguments(nodes[1]!, nodes, layout, "abc:def");
  const flag = (name: string): string | undefined => args[args.indexOf(name) + 1];
  assert.equal(args[0], "node");
  assert.equal(flag("--id"), "2");
  assert.equal(flag("--initial-cluster"), "1=127.0.0.1:7151,2=127.0.0.1:7152,3=127.0.0.1:7153");
  assert.equal(flag("--tls-dir"), "/d/node-2/tls");
  assert.equal(flag("--bootstrap-token-hash"), "abc:def");
  assert.equal(flag("--vm-backend"), "process");
  assert.ok(!args.includes("--insecure"), "up never runs a node insecure");
});

test("up layout: out-of-range settings are named", () => {
  assert.match(validateLayout({ ...layout, nodes: 0 }) ?? "", /^nodes:/);
  assert.match(validateLayout({ ...layout, nodes: 8 }) ?? "", /^nodes:/);
  assert.match(validateLayout({ ...layout, basePort: 80 }) ?? "", /^base port:/);
  assert.match(validateLayout({ ...layout, backend: "docker" as never }) ?? "", /^backend:/);
  assert.match(validateLayout({ ...layout, leaseMs: 10 }) ?? "", /^lease:/);
  assert.equal(validateLayout(layout), undefined);
});
