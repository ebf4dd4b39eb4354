// `blixard version`: the client's version and, when an endpoint is known (flag, environment or
// context file), the versions every member reports. (`blixard help` is in help-command.ts.)
import type { Command } from "commander";
import { StatusResponseSchema } from "../api/gen/blixard/v1/cluster_pb.ts";
import { BLIXARD_VERSION } from "../version.ts";
import { addApiOptions, runApiCall, type ApiCommandOptions } from "./api-output.ts";
import { readContext } from "./cli-context.ts";

function endpointKnown(options: ApiCommandOptions): boolean {
  if (options.endpoint !== undefined || (process.env.BLIXARD_ENDPOINT ?? "") !== "") return true;
  return (readContext()?.endpoints.length ?? 0) > 0;
}

export function registerVersionCommand(program: Command): void {
  addApiOptions(program.command("version").description("the client's version, and every member's when a cluster is known"))
    .addHelpText("after", "\nExample:\n  blixard version\n  blixard version --endpoint https://127.0.0.1:7101 -o json\n")
    .action(async (options: ApiCommandOptions) => {
      if (!endpointKnown(options)) {
        process.stdout.write(options.output === "json" ? `${JSON.stringify({ client: BLIXARD_VERSION })}\n` : `client  ${BLIXARD_VERSION}\n`);
        return;
      }
      await runApiCall(options, StatusResponseSchema, (clients) => clients.cluster.status({}), (status) =>
        [`client  ${BLIXARD_VERSION}`, ...status.nodes.map((node) => `node ${node.id}  ${node.reachable ? node.version || "unknown (older than 0.1.0)" : `unreachable (${node.error})`}`)].join("\n"),
      );
    });
}
