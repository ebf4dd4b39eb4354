// PLACEHOLDER: replaced by the real `blixard node` command.
import type { Command } from "commander";

export function registerNodeCommand(program: Command): void {
  program
    .command("node")
    .description("(not yet implemented)")
    .action(() => {
      process.stderr.write("blixard node: not implemented yet\n");
      process.exitCode = 1;
    });
}
