// The `blixard` command line. Each subcommand lives in its own file and registers itself here.
//
// Lazily: a command's module (and the Connect client, protobuf code, pino, yaml... behind it) is
// imported only when that command runs, so `blixard --version` and `blixard help` load commander and
// nothing else, and `blixard kv get` loads the kv command and nothing of the node, the VMs or the
// simulator. Every other top-level command stands in the tree as a stub with its name, help line and
// description, which is all that `blixard --help` and commander's "Did you mean ...?" read;
// test/shell/cli/lazy-commands.test.ts shows the stubs say exactly what the loaded commands say.
import { Command, CommanderError, Help } from "commander";
import { UsageError, EXIT_USAGE } from "./usage-error.ts";
import { invalidUtf8Argument, readRawCmdline } from "./raw-argv.ts";
import { COMMAND_EXAMPLES, examplesText } from "./command-examples.ts";
import { registerHelpCommand } from "./help-command.ts";
import { BLIXARD_VERSION } from "../version.ts";

type Register = (program: Command) => void;

/** A top-level command whose module is imported only when it runs (or when the whole tree is asked for). */
export interface LazyCommand {
  readonly name: string;
  /** The command's term in `blixard --help` ("check [options] <file>"), as commander prints it once loaded. */
  readonly term: string;
  readonly description: string;
  readonly load: () => Promise<Register>;
}

/** In the order `blixard --help` lists them. */
export const LAZY_COMMANDS: readonly LazyCommand[] = [
  { name: "up", term: "up [options]", description: "start a local cluster (default 3 nodes) with a VM backend, until Ctrl-C", load: async () => (await import("./up-command.ts")).registerUpCommand },
  { name: "sim", term: "sim [options]", description: "run one deterministic simulation of a whole cluster under faults, checking Raft safety after every step", load: async () => (await import("./sim-command.ts")).registerSimCommand },
  { name: "vopr", term: "vopr [options]", description: "swarm-test the whole cluster: many simulations, each seed drawing its own cluster, faults and tuning, checked for safety and liveness", load: async () => (await import("./vopr-command.ts")).registerVoprCommand },
  { name: "check", term: "check [options] <file>", description: "check a recorded history for linearizability (exit 0 linearizable, 1 not, 2 unknown, 3 bad input)", load: async () => (await import("./check-command.ts")).registerCheckCommand },
  {
    name: "node",
    term: "node [options]",
    description: "run a cluster member until SIGTERM",
    load: async () => {
      const [start, admin] = await Promise.all([import("./node-command.ts"), import("./node-admin-command.ts")]);
      return (program) => {
        start.registerNodeCommand(program);
        admin.registerNodeAdminCommands(program.commands.find((command) => command.name() === "node")!);
      };
    },
  },
  { name: "cluster", term: "cluster", description: "inspect and change the cluster's membership", load: async () => (await import("./cluster-command.ts")).registerClusterCommand },
  { name: "kv", term: "kv", description: "read and write the replicated key-value map", load: async () => (await import("./kv-command.ts")).registerKvCommand },
  { name: "token", term: "token", description: "bearer tokens and their roles (admin)", load: async () => (await import("./token-command.ts")).registerTokenCommand },
  { name: "ca", term: "ca", description: "the cluster's certificate authority: create it, issue node and client certificates", load: async () => (await import("./ca-command.ts")).registerCaCommand },
  { name: "image", term: "image", description: "guest images for the qemu backend", load: async () => (await import("./image-command.ts")).registerImageCommand },
  { name: "vm", term: "vm", description: "create, inspect and change the orchestrator's VMs (docs/VM-API.md)", load: async () => (await import("./vm-command.ts")).registerVmCommand },
  { name: "tenant", term: "tenant", description: "tenants' quotas and usage", load: async () => (await import("./tenant-command.ts")).registerTenantCommand },
  { name: "version", term: "version [options]", description: "the client's version, and every member's when a cluster is known", load: async () => (await import("./version-command.ts")).registerVersionCommand },
  { name: "completion", term: "completion <shell>", description: "print a shell completion script for bash or zsh (source <(blixard completion bash))", load: async () => (await import("./completion-command.ts")).registerCompletionCommand },
];

/**
 * Which lazy commands a command line needs loaded: the one it runs (`kv get` → kv), the one whose help
 * it asks for (`help kv put` → kv), every one for `completion` (its script covers the whole tree), none
 * for `--version`, `--help`, `help` or an unknown word (the stubs answer those).
 */
export function commandsToLoad(argv: readonly string[]): ReadonlySet<string> {
  const known = new Set(LAZY_COMMANDS.map((command) => command.name));
  const first = argv[0];
  if (first === "completion") return known;
  const named = first === "help" ? argv[1] : first;
  return named !== undefined && known.has(named) ? new Set([named]) : new Set();
}

/** The command tree with the commands in `load` registered for real and every other one as a stub. */
export async function buildProgram(load: ReadonlySet<string>): Promise<Command> {
  const loaded = new Map<string, Register>();
  await Promise.all(LAZY_COMMANDS.filter((command) => load.has(command.name)).map(async (command) => loaded.set(command.name, await command.load())));
  const stubTerms = new Map<Command, string>();
  const program = new Command("blixard")
    .description("A Raft-replicated microVM orchestrator, proven in deterministic simulation.")
    .version(BLIXARD_VERSION)
    .showSuggestionAfterError(true)
    .exitOverride()
    // Options belong to the command they follow: `blixard node --tls-dir D` (start a node) and
    // `blixard node list --tls-dir D` (the API's TLS) do not collide.
    .enablePositionalOptions()
    // One line: commander's "(Did you mean get?)" arrives on a second line, and is kept.
    .configureOutput({ outputError: (text, write) => write(`${text.trim().split("\n").map((line) => line.trim()).filter((line) => line !== "").join(" ")}\n`) })
    .configureHelp({
      subcommandTerm(this: Help, command: Command): string {
        return stubTerms.get(command) ?? Help.prototype.subcommandTerm.call(this, command);
      },
    });
  for (const command of LAZY_COMMANDS) {
    const register = loaded.get(command.name);
    if (register !== undefined) register(program);
    else stubTerms.set(program.command(command.name).description(command.description), command.term);
  }
  registerHelpCommand(program);
  // Every command at every depth reports instead of exiting (the vm, node and tenant commands nest),
  // and ends its help with an example (command-examples.ts for those whose own file gives none).
  const override = (command: Command, path: string): void => {
    command.exitOverride();
    const examples = COMMAND_EXAMPLES[path];
    if (examples !== undefined && !stubTerms.has(command)) command.addHelpText("after", examplesText(examples));
    for (const sub of command.commands) override(sub, `${path} ${sub.name()}`);
  };
  for (const command of program.commands) override(command, command.name());
  return program;
}

/** The whole tree, every command loaded (completion scripts, tests). */
export function buildFullProgram(): Promise<Command> {
  return buildProgram(new Set(LAZY_COMMANDS.map((command) => command.name)));
}

/** Runs the CLI and returns the process exit code; never throws for bad input. */
export async function main(argv: readonly string[]): Promise<number> {
  const invalidArgument = invalidUtf8Argument(argv, readRawCmdline());
  if (invalidArgument !== undefined) {
    process.stderr.write(`blixard: ${invalidArgument}\n`);
    return EXIT_USAGE;
  }
  const program = await buildProgram(commandsToLoad(argv));
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
