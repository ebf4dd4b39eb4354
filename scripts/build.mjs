#!/usr/bin/env node
// npm run build (and `prepare`, so npm ci runs it): bundles src/ into dist/ with esbuild, which is what
// bin/blixard.js runs when dist/ is current (scripts/dist-stamp.mjs; docs/ARCHITECTURE.md, "dist/ and
// the build").
//
// Why a bundle and not tsc's one file per source: a Node.js process pays for every ES module it loads
// (resolve, read, compile), and `blixard kv get` loaded about 200 of them (ours, protobuf's, Connect's),
// which was half its start. Bundled, each command loads a few chunks: code splitting keeps the CLI's
// lazy commands (src/shell/cli/main.ts) lazy, each import("./x-command.ts") a chunk of its own.
// Types are not checked here (npm run typecheck does); esbuild strips them, as tsx does in development.
//
// Three things keep the bundle behaving as the sources do:
// - import.meta.url: a module that finds a file beside itself (package.json, bin/blixard.js,
//   vm-guard.mjs, process-guest.mjs, guest-init.sh) gets the URL it would have as dist/<its path>.js,
//   not the chunk's; the non-TypeScript files under src/ are copied there. Any other import.meta
//   property fails the build rather than silently pointing elsewhere.
// - Packages stay external (loaded from node_modules as before) except the pure-ESM ones on the CLI's
//   path, BUNDLED_PACKAGES; pino (its transports run in worker threads by file name) stays external.
// - A bundled package's version is a build input: dist-stamp.mjs lists their package.json files.
//
// The stamp's listing is taken before esbuild reads a file, and the new dist/ replaces the old one
// by rename, so a run of blixard never sees half a build.
import { copyFileSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { BUNDLED_PACKAGES, packageOf, sourceListing, STAMP_NAME } from "./dist-stamp.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const srcDir = join(root, "src");
const next = join(root, `dist.next-${process.pid}`);
const previous = join(root, `dist.previous-${process.pid}`);

function filesUnder(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else out.push(path);
  }
  return out.sort();
}

/** An esbuild plugin: what stays external, and each source's import.meta.url as if at dist/<path>.js. */
const blixardPlugin = {
  name: "blixard",
  setup(builder) {
    builder.onResolve({ filter: /^[^./]/ }, (args) => (args.path.startsWith("node:") || !BUNDLED_PACKAGES.includes(packageOf(args.path)) ? { path: args.path, external: true } : undefined));
    builder.onLoad({ filter: /\.ts$/ }, (args) => {
      const text = readFileSync(args.path, "utf8");
      if (!args.path.startsWith(srcDir + "/")) return { contents: text, loader: "ts" };
      const other = /import\.meta\.(?!url\b)\w+/.exec(text);
      if (other !== null) throw new Error(`${relative(root, args.path)}: ${other[0]} has no meaning in the bundle; use import.meta.url (scripts/build.mjs)`);
      const mirror = `./${relative(srcDir, args.path).replace(/\.ts$/, ".js")}`;
      return { contents: text.replaceAll("import.meta.url", `new URL(${JSON.stringify(mirror)}, import.meta.url).href`), loader: "ts" };
    });
  },
};

const listing = sourceListing(root);
rmSync(next, { recursive: true, force: true });
const startedMs = performance.now();
try {
  await bundle();
} catch (error) {
  // dist/ stays as it was: stamped and current only if nothing changed since it was built.
  rmSync(next, { recursive: true, force: true });
  console.error(`build: failed, dist/ left as it was: ${error.message}`);
  process.exit(1);
}
rmSync(previous, { recursive: true, force: true });
try {
  renameSync(join(root, "dist"), previous);
} catch (error) {
  if (error.code !== "ENOENT") throw error;
}
renameSync(next, join(root, "dist"));
rmSync(previous, { recursive: true, force: true });
console.log(`build: dist/ from src/ in ${Math.round(performance.now() - startedMs)} ms`);

/** The bundle, the copied files and the stamp, in `next`. */
async function bundle() {
  await build({
    absWorkingDir: root,
    entryPoints: { main: "src/shell/cli/main.ts" },
    outdir: next,
    // Every chunk in dist/ itself: the import.meta.url rewrite above is relative to dist/.
    chunkNames: "[name]-[hash]",
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    keepNames: true,
    sourcemap: true,
    logLevel: "warning",
    // A bundled CommonJS module's require() of a Node.js module needs a require in ES module scope.
    banner: { js: 'import { createRequire as __blixardCreateRequire } from "node:module"; const require = __blixardCreateRequire(import.meta.url);' },
    plugins: [blixardPlugin],
  });
  for (const source of filesUnder(srcDir).filter((path) => !path.endsWith(".ts"))) {
    const target = join(next, relative(srcDir, source));
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(source, target);
  }
  writeFileSync(join(next, STAMP_NAME), listing);
}
