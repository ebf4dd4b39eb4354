// The `blixard` command line. Each subcommand lives in its own file and registers itself here.
import { Command, CommanderError } from "commander";
import { UsageError, EXIT_USAGE } from "./usage-error.ts";
import { registerSimCommand } from "./sim-command.ts";
import { registerCheckCommand } from "./check-command.ts";
import { registerNodeCommand } from "./node-command.ts";
import { registerClusterCommand } from "./cluster-command.ts";
import { registerKvCommand } from "./kv-command.ts";
import { registerTokenCommand } from "./token-command.ts";
import { invalidUtf8Argument, readRawCmdline } from "./raw-argv.ts";
import { registerCaCommand } from "./ca-command.ts";
import { registerUpCommand } from "./up-command.ts";
import { registerImageCommand } from "./image-command.ts";
import { registerVmCommand } from "./vm-command.ts";
import { registerTenantCommand } from "./tenant-command.ts";
import { registerNodeAdminCommands } from "./node-admin-command.ts";
import { registerHelpCommand, registerVersionCommand } from "./version-command.ts";
import { BLIXARD_VERSION } from "../version.ts";

export function buildProgram(): Command {
  const program = new Command("blixard")
    .description("A Raft-replicated microVM orchestrator, proven in deterministic simulation.")
    .version(BLIXARD_VERSION)
    .showSuggestionAfterError(true)
    .exitOverride()
    // Options belong to the command they follow: `blixard node --tls-dir D` (start a node) and
    // `blixard node list --tls-dir D` (the API's TLS) do not collide.
    .enablePositionalOptions()
    // One line: commander's "(Did you mean get?)" arrives on a second line, and is kept.
    .configureOutput({ outputError: (text, write) => write(`${text.trim().split("\n").map((line) => line.trim()).filter((line) => line !== "").join(" ")}\n`) });
  registerUpCommand(program);
  registerSimCommand(program);
  registerCheckCommand(program);
  registerNodeCommand(program);
  registerClusterCommand(program);
  registerKvCommand(program);
  registerTokenCommand(program);
  registerCaCommand(program);
  registerImageCommand(program);
  registerVmCommand(program);
  registerTenantCommand(program);
  registerNodeAdminCommands(program.commands.find((command) => command.name() === "node")!);
  registerVersionCommand(program);
  registerHelpCommand(program);
  // Every command at every depth reports instead of exiting (the vm, node and tenant commands nest).
  const override = (command: Command): void => {
    command.exitOverride();
    for (const sub of command.commands) override(sub);
  };
  for (const command of program.commands) override(command);
  return program;
}

/** Runs the CLI and returns the process exit code; never throws for bad input. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  const invalidArgument = invalidUtf8Argument(argv, readRawCmdline());
  if (invalidArgument !== undefined) {
    process.stderr.write(`blixard: ${invalidArgument}\n`);
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync([...argv], { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === "commander.helpDisplayed" || error.code === "commander.version" || error.code === "commander.help") return 0;
      return EXIT_USAGE;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`blixard: ${error.message}\n`);
      return EXIT_USAGE;
    }
    throw error;
  }
}
