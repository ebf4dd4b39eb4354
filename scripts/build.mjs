#!/usr/bin/env node
// npm run build (and `prepare`, so npm ci runs it): compiles src/ to dist/ with tsc -p
// tsconfig.build.json (incremental: dist/.tsbuildinfo), copies the files that are not TypeScript
// (vm-guard.mjs, process-guest.mjs, guest-init.sh: modules find them beside themselves by
// import.meta.url), removes what no source produces any more, and last writes the stamp that
// bin/blixard.js checks (scripts/dist-stamp.mjs). Exits non-zero, leaving dist unstamped (so
// bin/blixard.js keeps running src/ through tsx), when tsc reports an error.
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { sourceListing, STAMP_PATH } from "./dist-stamp.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const BUILD_BOOKKEEPING = new Set([".tsbuildinfo", ".src-stamp"]);

function filesUnder(dir) {
  const out = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out.sort();
}

// The listing is taken before tsc reads anything (see dist-stamp.mjs).
const listing = sourceListing(root);
rmSync(join(root, STAMP_PATH), { force: true });
const tsc = spawnSync(process.execPath, [join(root, "node_modules/typescript/bin/tsc"), "-p", join(root, "tsconfig.build.json")], { stdio: "inherit" });
if (tsc.status !== 0) {
  console.error("build: tsc failed; dist/ is not stamped, so bin/blixard.js runs src/ through tsx");
  process.exit(tsc.status ?? 1);
}
const sources = filesUnder("src");
for (const source of sources.filter((path) => !path.endsWith(".ts"))) {
  const target = join(root, "dist", source.slice("src/".length));
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(join(root, source), target);
}
// Outputs of deleted or renamed sources, which tsc leaves behind.
for (const output of filesUnder("dist")) {
  const relative = output.slice("dist/".length);
  if (BUILD_BOOKKEEPING.has(relative)) continue;
  const source = join(root, "src", relative.endsWith(".js") && !existsSync(join(root, "src", relative)) ? `${relative.slice(0, -3)}.ts` : relative);
  if (!existsSync(source)) rmSync(join(root, output));
}
if (!statSync(join(root, "dist/shell/cli/main.js")).isFile()) throw new Error("build: dist/shell/cli/main.js missing after tsc");
writeFileSync(join(root, STAMP_PATH), listing);
