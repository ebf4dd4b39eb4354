// `blixard node list|get|cordon|uncordon|drain` (and `node failpoint`, node-failpoint-command.ts): the orchestrator's nodes through a node's
// NodeService (docs/VM-API.md). They are subcommands of `blixard node`, which with flags and no
// subcommand still starts a node (node-command.ts): the program's options are positional
// (main.ts), so `--tls-dir` after `node list` is the API's, not the node's. Exit codes as `blixard vm`.
import { randomUUID } from "node:crypto";
import type { Command } from "commander";
import {
  NodeServiceCordonResponseSchema,
  NodeServiceDrainResponseSchema,
  NodeServiceGetResponseSchema,
  NodeServiceListResponseSchema,
  NodeServiceUncordonResponseSchema,
  type NodeRecord,
} from "../api/gen/blixard/v1/node_pb.ts";
import { addApiOptions, formatTable, parseId, runApiCall, type ApiCommandOptions } from "./api-output.ts";
import { registerNodeFailpointCommands } from "./node-failpoint-command.ts";

/** `node list` follows cursors for at most this many pages (50 nodes each). */
const LIST_PAGES_MAX = 200;

function nodeRows(nodes: readonly NodeRecord[]): string {
  return formatTable(
    ["ID", "STATE", "ADDRESS", "VCPUS", "MEMORY", "ALLOCATED", "EPOCH", "ZONE"],
    nodes.map((n) => [
      String(n.id),
      n.state,
      n.address === "" ? "-" : n.address,
      String(n.capacity?.vcpus ?? 0n),
      `${n.capacity?.memoryMib ?? 0n}Mi`,
      `${n.allocated?.vcpus ?? 0n} vcpus, ${n.allocated?.memoryMib ?? 0n}Mi`,
      String(n.lease?.epoch ?? 0n),
      n.topology?.zone || "-",
    ]),
  );
}

const example = (command: Command, text: string): Command => command.addHelpText("after", `\nExample:\n  $ ${text}`);

export function registerNodeAdminCommands(node: Command): void {
  node.addHelpText("after", "\nWith flags and no subcommand it starts a node; the subcommands ask a running cluster about its nodes.\nExamples:\n  $ blixard node --id 1 --peer-listen 127.0.0.1:7001 --api-listen 127.0.0.1:8001 --data-dir d1 --initial-cluster 1=127.0.0.1:7001 --insecure\n  $ blixard node list");
  example(addApiOptions(node.command("list").description("the orchestrator's nodes: state, capacity, what is allocated")), "blixard node list -o json").action(
    (options: ApiCommandOptions) =>
      runApiCall(
        options,
        NodeServiceListResponseSchema,
        async (c) => {
          const first = await c.node.list({});
          const nodes = [...first.nodes];
          let cursor = first.nextCursor;
          for (let page = 1; page < LIST_PAGES_MAX && cursor !== 0n; page++) {
            const next = await c.node.list({ cursor });
            nodes.push(...next.nodes);
            cursor = next.nextCursor;
          }
          return { ...first, nodes, nextCursor: cursor };
        },
        (r) => nodeRows(r.nodes),
      ),
  );
  example(addApiOptions(node.command("get <id>").description("one node's record")), "blixard node get 2 -o yaml").action((id: string, options: ApiCommandOptions) =>
    runApiCall(options, NodeServiceGetResponseSchema, (c) => c.node.get({ nodeId: parseId(id, "id") }), (r) => nodeRows(r.node === undefined ? [] : [r.node])),
  );
  const stateChange = (verb: string, description: string, call: "cordon" | "uncordon" | "drain", schema: typeof NodeServiceCordonResponseSchema | typeof NodeServiceUncordonResponseSchema | typeof NodeServiceDrainResponseSchema) =>
    example(addApiOptions(node.command(`${verb} <id>`).description(description)).option("--request-id <ID>", "idempotency key (default: a fresh random one)"), `blixard node ${verb} 2`).action(
      (id: string, options: ApiCommandOptions & { requestId?: string }) =>
        runApiCall(
          options,
          schema,
          (c) => c.node[call]({ nodeId: parseId(id, "id"), requestId: options.requestId ?? randomUUID() }),
          (r) => `node ${r.node?.id}: ${r.node?.state} (index ${r.index})`,
        ),
    );
  stateChange("cordon", "take no new VMs; keep the ones it has", "cordon", NodeServiceCordonResponseSchema);
  stateChange("uncordon", "take new VMs again (ready)", "uncordon", NodeServiceUncordonResponseSchema);
  stateChange("drain", "move its VMs off, take no new ones", "drain", NodeServiceDrainResponseSchema);
  registerNodeFailpointCommands(node);
}
