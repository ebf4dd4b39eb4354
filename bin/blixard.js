#!/usr/bin/env node
// The installed entry point. It runs the compiled JavaScript in dist/ (npm run build; npm ci builds it
// through `prepare`) when dist was compiled from exactly the sources in src/ now, and otherwise the
// TypeScript in src/ through tsx, so an edit under src/ is never met by stale compiled code
// (scripts/dist-stamp.mjs; docs/ARCHITECTURE.md, "dist/ and the build").
// BLIXARD_RUN_FROM=src forces tsx; BLIXARD_RUN_FROM=dist forces dist and refuses a stale one.
import { distIsCurrent } from "../scripts/dist-stamp.mjs";

const root = new URL("..", import.meta.url).pathname;
const runFrom = process.env.BLIXARD_RUN_FROM ?? "";
if (runFrom !== "" && runFrom !== "src" && runFrom !== "dist") {
  process.stderr.write(`blixard: BLIXARD_RUN_FROM: give src or dist, not "${runFrom}"\n`);
  process.exit(2);
}
const current = runFrom === "src" ? false : distIsCurrent(root);
if (runFrom === "dist" && !current) {
  process.stderr.write("blixard: BLIXARD_RUN_FROM=dist, but dist/ is missing or older than src/: run npm run build\n");
  process.exit(2);
}
// A reader that went away (`blixard kv list | head`) ends the command quietly with SIGPIPE's exit
// code, as a C program's default SIGPIPE would, instead of a stack trace for an unhandled EPIPE:
// whether the EPIPE comes from stdout's stream, from a synchronous write to a file that is a pipe
// (`--trace /dev/stdout`), or from a callback.
const SIGPIPE_EXIT = 128 + 13;
const isBrokenPipe = (error) => error !== null && typeof error === "object" && error.code === "EPIPE";
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error) => {
    if (isBrokenPipe(error)) process.exit(SIGPIPE_EXIT);
    throw error;
  });
}
process.on("uncaughtException", (error) => {
  if (isBrokenPipe(error)) process.exit(SIGPIPE_EXIT);
  // Anything else is a programmer error: crash as Node would without this handler (a throw here would exit 7).
  process.stderr.write(`${error instanceof Error && error.stack !== undefined ? error.stack : String(error)}\n`);
  process.exit(1);
});
let main;
if (current) {
  ({ main } = await import("../dist/main.js"));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../src/shell/cli/main.ts"));
}
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  if (isBrokenPipe(error)) process.exit(SIGPIPE_EXIT);
  throw error;
}
