// `blixard completion bash|zsh`: the bash script, sourced in bash with COMP_WORDS and COMP_CWORD set as
// bash sets them at a TAB, completes commands, subcommands and flags from the command tree. zsh is
// run when it is installed; otherwise its script's shared helpers run under bash and its text is checked.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Command } from "commander";
import { completionNodes, completionScript } from "../../../src/shell/cli/completion-command.ts";
import { buildFullProgram } from "../../../src/shell/cli/main.ts";
import { runCli } from "../../support/run-cli.ts";

const SHELL_TIMEOUT_MS = 30_000;
const ZSH_INSTALLED = spawnSync("zsh", ["-c", "true"]).status === 0;

function shell(program: string, script: string): Promise<string> {
  return new Promise((done, fail) => {
    const child = spawn(program, ["-c", script], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), SHELL_TIMEOUT_MS);
    child.once("error", fail);
    child.once("close", (code) => {
      clearTimeout(timer);
      if (code === 0) done(stdout);
      else fail(new Error(`${program} exited ${code}: ${stderr}`));
    });
  });
}

const quote = (word: string): string => `'${word.replaceAll("'", "'\\''")}'`;

describe("blixard completion", { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "blixard-completion-"));
  let program: Command;
  let bashFile = "";
  let zshFile = "";
  before(async () => {
    program = await buildFullProgram();
    bashFile = join(dir, "blixard.bash");
    zshFile = join(dir, "blixard.zsh");
    writeFileSync(bashFile, completionScript(program, "bash"));
    writeFileSync(zshFile, completionScript(program, "zsh"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** COMPREPLY for the words typed so far; the last word is the one under the cursor ("" after a space). */
  async function complete(words: readonly string[]): Promise<string[]> {
    const out = await shell("bash", `source ${quote(bashFile)}\nCOMP_WORDS=(${words.map(quote).join(" ")})\nCOMP_CWORD=${words.length - 1}\n_blixard\nprintf '%s\\n' "\${COMPREPLY[@]}"`);
    return out.split("\n").filter((line) => line !== "");
  }

  const subcommandsOf = (path: string): string[] => completionNodes(program).find((node) => node.path === path)!.subcommands.slice();

  test("blixard k completes to kv; blixard kv completes to its subcommands", async () => {
    assert.deepEqual(await complete(["blixard", "k"]), ["kv"]);
    const kv = await complete(["blixard", "kv", ""]);
    assert.deepEqual(kv, subcommandsOf("kv"));
    for (const name of ["get", "put", "cas"]) assert.ok(kv.includes(name), `kv offers ${name}: ${kv.join(" ")}`);
    assert.deepEqual(await complete(["blixard", "tenant", "quota", "s"]), ["set"]);
  });

  test("flags complete from the command's own options; a flag's value is passed over", async () => {
    const flags = await complete(["blixard", "kv", "get", "--t"]);
    assert.deepEqual(flags, ["--token", "--timeout-ms", "--tls-dir"].filter((flag) => flags.includes(flag)));
    assert.ok(flags.includes("--token") && flags.includes("--timeout-ms"), flags.join(" "));
    // `node --data-dir list`: "list" is the directory, not the subcommand, so node's own flags follow.
    assert.ok((await complete(["blixard", "node", "--data-dir", "list", "--i"])).includes("--id"));
    assert.ok(!(await complete(["blixard", "node", "list", "--i"])).includes("--id"));
    // After a flag that takes a value, the value is the user's (files, through complete -o default).
    assert.deepEqual(await complete(["blixard", "kv", "get", "--endpoint", ""]), []);
    assert.deepEqual(await complete(["blixard", "vm", "--help", "cre"]), ["create"]);
    assert.deepEqual(await complete(["blixard", "-"]), ["-V", "--version", "-h", "--help"]);
  });

  test("the zsh script completes from the same tree", async () => {
    if (ZSH_INSTALLED) {
      const out = await shell("zsh", `compdef() { :; }\nsource ${quote(zshFile)}\n_blixard_command_path kv get --endpoint x\necho\n_blixard_subcommands kv`);
      assert.deepEqual(out.split("\n").filter((line) => line !== ""), ["kv get", ...subcommandsOf("kv")]);
    } else {
      // zsh is absent: its helpers are plain shell and run under bash; the rest is checked as text.
      const out = await shell("bash", `compdef() { :; }\nsource ${quote(zshFile)}\n_blixard_command_path kv get --endpoint x\necho\n_blixard_subcommands kv`);
      assert.deepEqual(out.split("\n").filter((line) => line !== ""), ["kv get", ...subcommandsOf("kv")]);
    }
    const text = completionScript(program, "zsh");
    assert.match(text, /^#compdef blixard\n/);
    assert.match(text, /\ncompdef _blixard blixard\n$/);
    assert.match(text, /compadd -- \$\{\(f\)"\$\(_blixard_flags "\$cmdpath"\)"\}/);
  });

  test("blixard completion bash prints the script; another shell is a usage error", async () => {
    const bash = await runCli(["completion", "bash"]);
    assert.equal(bash.code, 0, bash.stderr);
    assert.equal(bash.stdout, completionScript(program, "bash"));
    assert.match(bash.stdout, /\ncomplete -o default -F _blixard blixard\n$/);
    const fish = await runCli(["completion", "fish"]);
    assert.equal(fish.code, 2);
    assert.match(fish.stderr, /completion: give one of bash, zsh, not "fish"/);
  });
});
