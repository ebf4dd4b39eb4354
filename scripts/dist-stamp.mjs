// Whether dist/ (npm run build) was compiled from exactly the sources in src/ now. bin/blixard.js asks
// this at every start and runs dist only when the answer is yes, so compiled code is never stale:
// an edit, an added or a deleted file under src/, or a changed tsconfig, sends the CLI back to the
// TypeScript through tsx until the next build.
//
// The stamp is the list of every build input with its size and modification time (what make and
// ccache's direct mode trust), written by scripts/build.mjs from a listing taken BEFORE tsc ran: a
// file edited while tsc compiles leaves dist stamped with the older listing, so it reads as stale.
// Checking costs one readdir per directory and one stat per file (about 250 under src/); the file
// contents are not read. Plain JavaScript: it runs before tsx is loaded.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

export const STAMP_PATH = "dist/.src-stamp";
/** Build inputs besides src/: the compiler options. */
const CONFIG_FILES = ["tsconfig.json", "tsconfig.build.json"];
/** A source tree this large is a mistake (a stray node_modules under src/), not a reason to walk on. */
const SOURCE_FILES_MAX = 20_000;

function line(root, path) {
  const stat = statSync(join(root, path));
  return `${path}\t${stat.size}\t${stat.mtimeMs}`;
}

/** Every src/ file and config file, sorted by path, one `path<TAB>size<TAB>mtimeMs` line each. */
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
  for (const path of CONFIG_FILES) lines.push(line(root, path));
  return `${lines.join("\n")}\n`;
}

/** True when dist/ holds a stamp equal to the listing of the sources now. */
export function distIsCurrent(root) {
  let stamp;
  try {
    stamp = readFileSync(join(root, STAMP_PATH), "utf8");
  } catch {
    return false;
  }
  return stamp === sourceListing(root);
}
