// PLACEHOLDER: replaced by the real `blixard kv` command.
import type { Command } from "commander";

export function registerKvCommand(program: Command): void {
  program
    .command("kv")
    .description("(not yet implemented)")
    .action(() => {
      process.stderr.write("blixard kv: not implemented yet\n");
      process.exitCode = 1;
    });
}
