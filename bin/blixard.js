#!/usr/bin/env node
// The published entry point: TypeScript runs through tsx, so a fresh clone needs no build step.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/shell/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
