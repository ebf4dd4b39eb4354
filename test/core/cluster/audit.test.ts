// Every check of audit() fires: a snapshot edited to break one invariant is refused by restore(),
// which audits what it restored, with that check's message. (The planted bugs of
// planted-bugs.test.ts show the same for states that apply itself gets wrong.)

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ClusterState } from "../../../src/core/cluster/cluster-state.ts";
import { Driver, pool, spec } from "./fixtures.ts";

/** The parts of a snapshot the edits touch. */
interface Snapshot {
  nodes: { node: { allocated: { vcpus: number }; capacity: { vcpus: number } } }[];
  vms: {
    vm: {
      spec: { antiAffinity: { maxPerNode: number } };
      token: { epoch: number; nodeId: number };
      phase: string;
      desired: string;
      nodeId: number;
      addresses: { address: string; mac: string }[];
    };
  }[];
  tenants: { tenant: { usage: { vms: number }; quota: { vmsMax: number } } }[];
}

/** Two VMs (hard group "g" of up to 2 per node) running on node 1, one pending, one with an address. */
function baseline(): Snapshot {
  const d = Driver.withNodes(2);
  d.ok({ kind: "ip-pool-create", pool: pool("net", "10.0.0.0/24", "10.0.0.1") });
  const group = { group: "g", mode: "hard" as const, weight: 0, maxPerNode: 2 };
  for (const name of ["a", "b"]) {
    const id = d.create(spec(name, { antiAffinity: group }));
    d.place(id, 1);
  }
  d.create(spec("p", { interfaces: [{ mode: "user", ipPool: "net", portForwards: [] }] }));
  d.create(spec("q", { interfaces: [{ mode: "user", ipPool: "net", portForwards: [] }] }));
  assert.deepEqual(d.state.audit(), []);
  return JSON.parse(new TextDecoder().decode(d.state.snapshot())) as Snapshot;
}

function restoreFails(edit: (s: Snapshot) => void, message: RegExp, viaAudit = true): void {
  const snapshot = baseline();
  edit(snapshot);
  const state = new ClusterState();
  assert.throws(() => state.restore(new TextEncoder().encode(JSON.stringify(snapshot))), (error: Error) => {
    if (viaAudit) assert.match(error.message, /restored cluster state fails its audit/);
    assert.match(error.message, message);
    return true;
  });
}

describe("audit() checks each fire", () => {
  test("the unedited snapshot restores", () => {
    new ClusterState().restore(new TextEncoder().encode(JSON.stringify(baseline())));
  });

  test("hard anti-affinity", () => {
    restoreFails((s) => {
      s.vms[0]!.vm.spec.antiAffinity.maxPerNode = 1;
    }, /hard anti-affinity group acme\/g has 2 vms/);
  });

  test("node allocated equals the sum of its vms", () => {
    restoreFails((s) => {
      s.nodes[0]!.node.allocated.vcpus += 1;
    }, /node 1: allocated .* but its vms sum to/);
  });

  test("node allocated fits allocatable", () => {
    restoreFails((s) => {
      s.nodes[0]!.node.capacity.vcpus = 2;
    }, /node 1: allocated beyond allocatable: vcpus/);
  });

  test("tokens carry the node's epoch", () => {
    restoreFails((s) => {
      s.vms[0]!.vm.token.epoch = 7;
    }, /token .* does not match node 1 epoch 1/);
  });

  test("an unassigned vm is pending, stopped or failed; pending means desired running", () => {
    restoreFails((s) => {
      s.vms[2]!.vm.phase = "running";
    }, /unassigned but running/);
    restoreFails((s) => {
      s.vms[2]!.vm.desired = "stopped";
    }, /pending but desired stopped/);
  });

  test("no address or mac twice", () => {
    // Restore rebuilds the pools from the VMs' addresses, and the pool refuses the second holder
    // before the audit runs; audit()'s own check is shown by the planted bug ip-allocated-without-check.
    restoreFails(
      (s) => {
        s.vms[3]!.vm.addresses[0]!.address = s.vms[2]!.vm.addresses[0]!.address;
        s.vms[3]!.vm.addresses[0]!.mac = s.vms[2]!.vm.addresses[0]!.mac;
      },
      /ip pool net: 10\.0\.0\.2 already held by vm \d+/,
      false,
    );
    restoreFails((s) => {
      s.vms[3]!.vm.addresses[0]!.mac = s.vms[2]!.vm.addresses[0]!.mac;
    }, /mac 02:00:0a:00:00:02 held by vm \d+ and vm \d+/);
  });

  test("tenant usage equals the sum of its vms, within quota", () => {
    restoreFails((s) => {
      s.tenants[0]!.tenant.usage.vms += 1;
    }, /tenant acme: usage .* but its vms sum to/);
    restoreFails((s) => {
      s.tenants[0]!.tenant.quota.vmsMax = 1;
    }, /tenant acme: usage beyond quota vmsMax 1/);
  });

  test("a vm's node exists", () => {
    restoreFails((s) => {
      s.vms[0]!.vm.nodeId = 2;
      s.vms[0]!.vm.token.nodeId = 2;
    }, /node 1: allocated .* but its vms sum to|node 2: allocated/);
  });
});
