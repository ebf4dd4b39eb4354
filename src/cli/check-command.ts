// PLACEHOLDER: replaced by the real `blixard check` command.
import type { Command } from "commander";

export function registerCheckCommand(program: Command): void {
  program
    .command("check")
    .description("(not yet implemented)")
    .action(() => {
      process.stderr.write("blixard check: not implemented yet\n");
      process.exitCode = 1;
    });
}
