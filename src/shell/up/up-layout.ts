// The shape of a local cluster started by `blixard up`: where each node's files live and which
// loopback ports it listens on, decided once and kept in <data-dir>/up.yaml, so running `up` again
// on the same directory resumes the same cluster (same ids, ports, certificates and token).
//
// <data-dir>/
//   up.yaml                 this layout (UpLayout)
//   admin-token             the first admin token (0600); its hash goes to every node
//   ca/                     the cluster CA (ca.pem, ca-key.pem), from `blixard ca init`
//   node-<id>/              the node's --data-dir; node-<id>/tls its --tls-dir; node-<id>/vms its VMs
//   node-<id>/node.log      the node's stdout and stderr (JSON log lines)
//   node-<id>/node.pid      the node process's pid while up runs it

import { join } from "node:path";
import { assert } from "../../core/assert.ts";

export const UP_NODES_MAX = 7;
export const UP_BASE_PORT_DEFAULT = 7100;
export type UpBackend = "qemu" | "process";

export interface UpLayout {
  readonly nodes: number;
  /** Node i listens for the API on basePort + i and for peers on basePort + 50 + i (loopback). */
  readonly basePort: number;
  readonly backend: UpBackend;
  /** The default image's directory (qemu). */
  readonly imageDir: string;
  /** Lease of every node's agent, ms. */
  readonly leaseMs: number;
}

export interface UpNode {
  readonly id: number;
  readonly apiAddress: string;
  readonly peerAddress: string;
  readonly dataDir: string;
  readonly tlsDir: string;
  readonly vmsDir: string;
  readonly logFile: string;
}

export function validateLayout(layout: UpLayout): string | undefined {
  if (!Number.isSafeInteger(layout.nodes) || layout.nodes < 1 || layout.nodes > UP_NODES_MAX) return `nodes: must be 1 to ${UP_NODES_MAX}`;
  if (!Number.isSafeInteger(layout.basePort) || layout.basePort < 1024 || layout.basePort + 50 + UP_NODES_MAX > 65535) return `base port: must be 1024 to ${65535 - 50 - UP_NODES_MAX}`;
  if (layout.backend !== "qemu" && layout.backend !== "process") return `backend: "${String(layout.backend)}" is not qemu or process`;
  if (!Number.isSafeInteger(layout.leaseMs) || layout.leaseMs < 1_000 || layout.leaseMs > 600_000) return "lease: must be 1000 to 600000 ms";
  return undefined;
}

export function upNodes(dataDir: string, layout: UpLayout): UpNode[] {
  assert(validateLayout(layout) === undefined, "a valid layout");
  const nodes: UpNode[] = [];
  for (let id = 1; id <= layout.nodes; id++) {
    const dir = join(dataDir, `node-${id}`);
    nodes.push({
      id,
      apiAddress: `127.0.0.1:${layout.basePort + id}`,
      peerAddress: `127.0.0.1:${layout.basePort + 50 + id}`,
      dataDir: dir,
      tlsDir: join(dir, "tls"),
      vmsDir: join(dir, "vms"),
      logFile: join(dir, "node.log"),
    });
  }
  assert(nodes.length === layout.nodes && new Set(nodes.map((n) => n.apiAddress)).size === nodes.length, "one distinct address per node");
  return nodes;
}

/** The `blixard node` arguments of one node of the layout. */
export function nodeArguments(node: UpNode, all: readonly UpNode[], layout: UpLayout, bootstrapTokenHash: string): string[] {
  assert(all.some((n) => n.id === node.id), "the node is one of the layout's");
  const args = [
    "node",
    "--id", String(node.id),
    "--peer-listen", node.peerAddress,
    "--api-listen", node.apiAddress,
    "--data-dir", node.dataDir,
    "--initial-cluster", all.map((n) => `${n.id}=${n.peerAddress}`).join(","),
    "--tls-dir", node.tlsDir,
    "--bootstrap-token-hash", bootstrapTokenHash,
    "--vm-backend", layout.backend,
    "--vms-dir", node.vmsDir,
    "--image-dir", layout.imageDir,
    "--lease-ms", String(layout.leaseMs),
    "--zone", `local-${node.id}`,
  ];
  assert(args.length % 2 === 1, "flags come in pairs after the command");
  return args;
}
