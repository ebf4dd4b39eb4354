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
// code, as a C program's default SIGPIPE would, instead of a stack trace for an unhandled EPIPE.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error) => {
    if (error.code === "EPIPE") process.exit(128 + 13);
    throw error;
  });
}
let main;
if (current) {
  ({ main } = await import("../dist/main.js"));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../src/shell/cli/main.ts"));
}
process.exitCode = await main(process.argv.slice(2));
