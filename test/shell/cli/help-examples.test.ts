// Every command at every depth has a one-line description and ends its --help with an example
// (issue #13: "Every command has help with an example"), whether its own file gives one or
// src/shell/cli/command-examples.ts does; and no example names a command that does not exist.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Command } from "commander";
import { buildFullProgram } from "../../../src/shell/cli/main.ts";
import { COMMAND_EXAMPLES } from "../../../src/shell/cli/command-examples.ts";

function helpOf(command: Command): string {
  let text = "";
  command.configureOutput({ writeOut: (chunk) => (text += chunk), writeErr: (chunk) => (text += chunk) });
  command.outputHelp();
  return text;
}

test("every command has a description and an example in its help", async () => {
  const program = await buildFullProgram();
  const paths: string[] = [];
  const problems: string[] = [];
  const walk = (command: Command, path: string): void => {
    paths.push(path);
    if (command.description().trim() === "") problems.push(`${path}: no description`);
    if (!/^Examples?:$/m.test(helpOf(command))) problems.push(`${path}: no example`);
    for (const sub of command.commands) walk(sub, `${path} ${sub.name()}`);
  };
  for (const command of program.commands) walk(command, command.name());
  assert.ok(paths.length > 40, `the whole tree was walked (${paths.length} commands)`);
  assert.deepEqual(problems, []);
  for (const path of Object.keys(COMMAND_EXAMPLES)) assert.ok(paths.includes(path), `command-examples.ts names ${path}, which is no command`);
});
