// PLACEHOLDER: replaced by the real `blixard sim` command.
import type { Command } from "commander";

export function registerSimCommand(program: Command): void {
  program
    .command("sim")
    .description("(not yet implemented)")
    .action(() => {
      process.stderr.write("blixard sim: not implemented yet\n");
      process.exitCode = 1;
    });
}
