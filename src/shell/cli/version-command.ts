// `blixard version`: the client's version and, when an endpoint is known (flag, environment or
// context file), the versions every member reports. `blixard help <command> [<subcommand>...]`:
// the help of any command at any depth (commander's own help command stops at the first level).
import type { Command } from "commander";
import { StatusResponseSchema } from "../api/gen/blixard/v1/cluster_pb.ts";
import { BLIXARD_VERSION } from "../version.ts";
import { addApiOptions, runApiCall, type ApiCommandOptions } from "./api-output.ts";
import { readContext } from "./cli-context.ts";
import { UsageError } from "./usage-error.ts";

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

export function registerHelpCommand(program: Command): void {
  program.helpCommand(false);
  program
    .command("help [command...]")
    .description("help for a command or a subcommand (blixard help kv put)")
    .action((names: string[]) => {
      let command: Command = program;
      for (const [depth, name] of names.entries()) {
        const next = command.commands.find((sub) => sub.name() === name || sub.aliases().includes(name));
        if (next === undefined) throw new UsageError(`help: no command "${names.slice(0, depth + 1).join(" ")}" (see blixard --help)`);
        command = next;
      }
      command.outputHelp();
    });
}
