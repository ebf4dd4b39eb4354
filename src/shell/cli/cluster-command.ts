// `blixard cluster status|wait|members|add-learner|promote|remove|transfer-leader`:
// cluster administration through any member's API (changes are forwarded to the leader).
// Membership changes one server at a time: add a node as a learner, let it catch up,
// then promote it (an operator step: `status` shows its applied index next to the leader's).
import type { Command } from "commander";
import {
  AddLearnerResponseSchema,
  PromoteResponseSchema,
  RemoveResponseSchema,
  StatusResponseSchema,
  TransferLeaderResponseSchema,
  type Member,
  type StatusResponse,
} from "../api/gen/blixard/v1/cluster_pb.ts";
import { UsageError } from "./usage-error.ts";
import { parseHostPort } from "../os/address.ts";
import { ConnectError } from "@connectrpc/connect";
import { addApiOptions, apiClients, EXIT_UNAVAILABLE, formatTable, parseId, runApiCall, type ApiCommandOptions } from "./api-output.ts";

const WAIT_POLL_MS = 200;
const WAIT_TIMEOUT_S_MAX = 86_400;

/** Polls the node's own status until it reports a leader; a progress line on a terminal, one line on failure. */
async function waitForCluster(options: ApiCommandOptions & { timeout: string }): Promise<void> {
  if (!/^\d{1,6}$/.test(options.timeout) || Number(options.timeout) < 1 || Number(options.timeout) > WAIT_TIMEOUT_S_MAX) {
    throw new UsageError(`--timeout: "${options.timeout.slice(0, 40)}" is not a whole number of seconds from 1 to ${WAIT_TIMEOUT_S_MAX}`);
  }
  const clients = apiClients(options);
  const deadline = Date.now() + Number(options.timeout) * 1000;
  const terminal = process.stderr.isTTY === true;
  let last = "";
  for (;;) {
    try {
      // A linearizable-enough check: this node's own view must name a leader, and it must answer at all.
      const status = await clients.cluster.status({ localOnly: true });
      const removed = status.nodes[0]?.role === "removed";
      if (removed) last = status.nodes[0]!.alarms.find((alarm) => alarm.startsWith("removed")) ?? "removed from the cluster";
      else if (status.leaderId > 0n) {
        if (terminal) process.stderr.write("\r\x1b[K");
        process.stdout.write(options.output === "json" ? `${JSON.stringify({ ready: true, leaderId: String(status.leaderId), nodeId: String(status.nodeId) })}\n` : `ready: node ${status.nodeId} knows leader ${status.leaderId}\n`);
        return;
      } else last = "no leader known yet";
    } catch (error) {
      last = ConnectError.from(error).rawMessage.split("\n")[0]!;
    }
    if (Date.now() >= deadline) {
      if (terminal) process.stderr.write("\r\x1b[K");
      process.stderr.write(`blixard: cluster not ready within ${options.timeout} s at ${clients.url}: ${last}\n`);
      process.exitCode = EXIT_UNAVAILABLE;
      return;
    }
    if (terminal) process.stderr.write(`\r\x1b[Kwaiting for ${clients.url}: ${last}`);
    await new Promise((resolve) => setTimeout(resolve, WAIT_POLL_MS));
  }
}

function membersTable(members: readonly Member[]): string {
  return formatTable(
    ["ID", "KIND", "PEER", "API"],
    members.map((m) => [String(m.id), m.kind, m.peerAddress, m.apiAddress]),
  );
}

/** Named on every status while on: a node served this over plaintext, so it (and its cluster) runs with --insecure. */
export const INSECURE_NOTE = "INSECURE (--insecure: plaintext, peers and clients not authenticated)";

function statusTable(status: StatusResponse, insecure: boolean): string {
  const header = `cluster ${status.clusterId}  leader ${status.leaderId === 0n ? "unknown" : String(status.leaderId)}  term ${status.term}${insecure ? `  ${INSECURE_NOTE}` : ""}`;
  const rows = status.nodes.map((node) =>
    node.reachable
      ? [String(node.id), node.role, String(node.term), String(node.commit), String(node.applied), String(node.lastIndex), node.apiAddress, node.vmBackend === "" ? "-" : node.vmBackend]
      : [String(node.id), "unreachable", "-", "-", "-", "-", `${node.apiAddress} (${node.error})`, "-"],
  );
  // Alarms after the table, one line each, so that the table's columns stay as they were.
  const alarms = status.nodes.flatMap((node) => node.alarms.map((alarm) => `ALARM node ${node.id}: ${alarm}`));
  return `${header}\n${formatTable(["ID", "ROLE", "TERM", "COMMIT", "APPLIED", "LAST", "API", "VMS"], rows)}${alarms.map((line) => `\n${line}`).join("")}`;
}

function checkAddress(text: string | undefined, flag: string, required: boolean): string {
  if (text === undefined) {
    if (required) throw new UsageError(`${flag} is required (HOST:PORT)`);
    return "";
  }
  try {
    parseHostPort(text);
  } catch (error) {
    throw new UsageError(`${flag}: ${(error as Error).message}`);
  }
  return text;
}

export function registerClusterCommand(program: Command): void {
  const cluster = program.command("cluster").description("inspect and change the cluster's membership");

  addApiOptions(cluster.command("status").description("leader, term, and commit/applied index of every member"))
    .option("--local", "report only the contacted node")
    .action((options: ApiCommandOptions & { local?: boolean }) =>
      runApiCall(options, StatusResponseSchema, (clients) => clients.cluster.status({ localOnly: options.local === true }), (status, clients) => statusTable(status, clients.url.startsWith("http://"))),
    );

  addApiOptions(cluster.command("wait").description("wait until the contacted node knows a leader and can serve (a script's first step after starting nodes)"))
    .option("--timeout <SECONDS>", "give up after this long (exit 1)", "30")
    .addHelpText("after", "\nExample:\n  blixard cluster wait --endpoint 127.0.0.1:8001 --timeout 60 && blixard kv put k v\n")
    .action((options: ApiCommandOptions & { timeout: string }) => waitForCluster(options));

  addApiOptions(cluster.command("members").description("voters and learners with their addresses")).action((options: ApiCommandOptions) =>
    runApiCall(options, StatusResponseSchema, (clients) => clients.cluster.status({ localOnly: true }), (status) => membersTable(status.members)),
  );

  addApiOptions(cluster.command("add-learner <id>").description("add a node as a non-voting learner (admin); never rewrites a member's addresses"))
    .option("--peer <HOST:PORT>", "the new node's peer address")
    .option("--api <HOST:PORT>", "the new node's API address (it announces it itself when omitted)")
    .option("--update-addresses", "only rewrite the node's address record (an existing member that moved); membership does not change")
    .action((id: string, options: ApiCommandOptions & { peer?: string; api?: string; updateAddresses?: boolean }) => {
      const nodeId = parseId(id, "id");
      const peerAddress = checkAddress(options.peer, "--peer", true);
      const apiAddress = checkAddress(options.api, "--api", false);
      const addressesOnly = options.updateAddresses === true;
      return runApiCall(options, AddLearnerResponseSchema, (clients) => clients.cluster.addLearner({ nodeId, peerAddress, apiAddress, addressesOnly }), (r) =>
        `OK (index ${r.index})\n${membersTable(r.members)}`,
      );
    });

  addApiOptions(cluster.command("promote <id>").description("turn a learner into a voter")).action((id: string, options: ApiCommandOptions) => {
    const nodeId = parseId(id, "id");
    return runApiCall(options, PromoteResponseSchema, (clients) => clients.cluster.promote({ nodeId }), (r) => `OK (index ${r.index})\n${membersTable(r.members)}`);
  });

  addApiOptions(cluster.command("remove <id>").description("remove a voter or learner")).action((id: string, options: ApiCommandOptions) => {
    const nodeId = parseId(id, "id");
    return runApiCall(options, RemoveResponseSchema, (clients) => clients.cluster.remove({ nodeId }), (r) => `OK (index ${r.index})\n${membersTable(r.members)}`);
  });

  addApiOptions(cluster.command("transfer-leader <id>").description("hand leadership to a caught-up voter")).action((id: string, options: ApiCommandOptions) => {
    const targetId = parseId(id, "id");
    return runApiCall(options, TransferLeaderResponseSchema, (clients) => clients.cluster.transferLeader({ targetId }), (r) => `OK: node ${r.leaderId} leads`);
  });
}
