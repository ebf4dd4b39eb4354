// `blixard help <command> [<subcommand>...]`: the help of any command at any depth (commander's own
// help command stops at the first level). Its own file so that `blixard help` loads nothing heavy.
import type { Command } from "commander";
import { UsageError } from "./usage-error.ts";

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
