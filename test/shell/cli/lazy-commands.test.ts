// The lazy command tree (src/shell/cli/main.ts): a stub says exactly what its loaded command says,
// `blixard --help` is the same either way, each command line loads only the commands it needs, and
// --version, help and an unrelated command do not import the others' modules.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { Help, type Command } from "commander";
import { buildFullProgram, buildProgram, commandsToLoad, LAZY_COMMANDS } from "../../../src/shell/cli/main.ts";
import { BLIXARD_BIN, runCli } from "../../support/run-cli.ts";

const REPO = resolve(import.meta.dirname, "../../..");
const RUN_TIMEOUT_MS = 60_000;

function helpText(program: Command): string {
  let text = "";
  program.configureOutput({ writeOut: (chunk) => (text += chunk), writeErr: (chunk) => (text += chunk) });
  program.outputHelp();
  return text;
}

/** The src/ modules a command line imports, as a loader hook sees them (tsx path, so one module per file). */
function modulesLoaded(args: readonly string[]): Promise<string[]> {
  const hook = `data:text/javascript,${encodeURIComponent(
    'import { register } from "node:module"; register("data:text/javascript," + encodeURIComponent(`export async function load(url, context, next) { if (url.includes("/src/")) process.stderr.write("LOADED " + url + "\\\\n"); return next(url, context); }`));',
  )}`;
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ["--import", hook, BLIXARD_BIN, ...args], { env: { ...process.env, BLIXARD_RUN_FROM: "src", BLIXARD_ENDPOINT: "" }, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
    child.once("error", fail);
    child.once("close", () => {
      clearTimeout(timer);
      done([...stderr.matchAll(/^LOADED .*\/src\/(.*)$/gm)].map((match) => match[1]!));
    });
  });
}

describe("lazy commands", { timeout: 120_000 }, () => {
  test("every stub has its loaded command's name, help term and description, in the same order", async () => {
    const full = await buildFullProgram();
    const help = new Help();
    const loaded = full.commands.filter((command) => command.name() !== "help");
    assert.deepEqual(loaded.map((command) => command.name()), LAZY_COMMANDS.map((command) => command.name));
    for (const [index, command] of loaded.entries()) {
      assert.equal(LAZY_COMMANDS[index]!.term, help.subcommandTerm(command), `the term of ${command.name()}`);
      assert.equal(LAZY_COMMANDS[index]!.description, command.description(), `the description of ${command.name()}`);
    }
  });

  test("blixard --help lists the same lines with stubs as with every command loaded", async () => {
    const lazy = helpText(await buildProgram(new Set()));
    assert.match(lazy, /kv\s+read and write the replicated key-value map/);
    assert.equal(lazy, helpText(await buildFullProgram()));
  });

  test("a command line loads the command it runs or asks help for; completion loads all", () => {
    assert.deepEqual([...commandsToLoad(["kv", "get", "k"])], ["kv"]);
    assert.deepEqual([...commandsToLoad(["help", "vm", "create"])], ["vm"]);
    assert.deepEqual([...commandsToLoad(["--version"])], []);
    assert.deepEqual([...commandsToLoad(["help"])], []);
    assert.deepEqual([...commandsToLoad([])], []);
    assert.deepEqual([...commandsToLoad(["kvv", "get"])], []);
    assert.deepEqual([...commandsToLoad(["get", "kv"])], []);
    assert.equal(commandsToLoad(["completion", "bash"]).size, LAZY_COMMANDS.length);
  });

  test("--version and help import no command module; kv get --help imports kv's and not the node's", async () => {
    const commandModules = (modules: string[]): string[] => modules.filter((path) => path.endsWith("-command.ts")).sort();
    assert.deepEqual(commandModules(await modulesLoaded(["--version"])), ["shell/cli/help-command.ts"]);
    const help = await modulesLoaded(["help"]);
    assert.deepEqual(commandModules(help), ["shell/cli/help-command.ts"]);
    assert.ok(!help.some((path) => path.startsWith("shell/api/")), `help loaded the API client: ${help.join(", ")}`);
    const kv = await modulesLoaded(["kv", "get", "--help"]);
    assert.deepEqual(commandModules(kv), ["shell/cli/help-command.ts", "shell/cli/kv-command.ts"]);
    assert.ok(!kv.some((path) => path.startsWith("shell/node/") || path.startsWith("shell/vm/")), `kv get loaded the node or the VMs: ${kv.join(", ")}`);
  });

  test("blixard --version prints package.json's version, and version without a cluster the client's", async () => {
    const { version } = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string };
    assert.deepEqual(await runCli(["--version"]), { code: 0, stdout: `${version}\n`, stderr: "" });
    const run = await runCli(["version"]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, `client  ${version}\n`);
  });
});
