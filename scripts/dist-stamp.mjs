// Whether dist/ (npm run build, scripts/build.mjs) was built from exactly the inputs there are now.
// bin/blixard.js asks this at every start and runs dist only when the answer is yes, so compiled code
// is never stale: an edit, an added or a deleted file under src/, a changed build script or tsconfig,
// or another version of a bundled package sends the CLI back to the TypeScript through tsx until the
// next build.
//
// The stamp is the list of every build input with its size and modification time (what make and
// ccache's direct mode trust), written by the build from a listing taken BEFORE it read anything: a
// file edited during a build leaves dist stamped with the older listing, so it reads as stale.
// Checking costs one readdir per directory and one stat per file (about 250); no file is read but the
// stamp. Plain JavaScript: it runs before tsx is loaded.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

export const STAMP_NAME = ".build-stamp";
/** Packages the build bundles into dist/ (the rest load from node_modules at run time). */
export const BUNDLED_PACKAGES = ["@bufbuild/protobuf", "@connectrpc/connect", "@connectrpc/connect-node", "commander", "yaml", "zod"];
/** Build inputs besides src/: the build itself, the compiler options, and each bundled package's version. */
const INPUT_FILES = ["scripts/build.mjs", "scripts/dist-stamp.mjs", "tsconfig.json", ...BUNDLED_PACKAGES.map((name) => `node_modules/${name}/package.json`)];
/** A source tree this large is a mistake (a stray node_modules under src/), not a reason to walk on. */
const SOURCE_FILES_MAX = 20_000;

/** The package a bare import names: "@scope/name/sub" → "@scope/name", "name/sub" → "name". */
export function packageOf(specifier) {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

function line(root, path) {
  const stat = statSync(join(root, path));
  return `${path}\t${stat.size}\t${stat.mtimeMs}`;
}

/** Every src/ file and input file, sorted by path, one `path<TAB>size<TAB>mtimeMs` line each. */
export function sourceListing(root) {
  const lines = [];
  const walk = (dir) => {
    const entries = readdirSync(join(root, dir), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else lines.push(line(root, path));
      if (lines.length > SOURCE_FILES_MAX) throw new Error(`dist-stamp: more than ${SOURCE_FILES_MAX} files under src/`);
    }
  };
  walk("src");
  for (const path of INPUT_FILES) lines.push(line(root, path));
  return `${lines.join("\n")}\n`;
}

/** True when dist/ holds a stamp equal to the listing of the inputs now. */
export function distIsCurrent(root) {
  let stamp;
  try {
    stamp = readFileSync(join(root, "dist", STAMP_NAME), "utf8");
  } catch {
    return false;
  }
  return stamp === sourceListing(root);
}
