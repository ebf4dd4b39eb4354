// PLACEHOLDER: replaced by the real `blixard cluster` command.
import type { Command } from "commander";

export function registerClusterCommand(program: Command): void {
  program
    .command("cluster")
    .description("(not yet implemented)")
    .action(() => {
      process.stderr.write("blixard cluster: not implemented yet\n");
      process.exitCode = 1;
    });
}
