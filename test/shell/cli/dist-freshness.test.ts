// bin/blixard.js runs dist/ only when its build stamp matches the inputs now (scripts/dist-stamp.mjs),
// else src/ through tsx. Shown on a copy of bin/ and scripts/ in a temporary tree whose src/ and dist/
// are one-line fakes that say which of them ran, with a stamp written as the build writes it.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, beforeEach, describe, test } from "node:test";
import { BUNDLED_PACKAGES, distIsCurrent, sourceListing, STAMP_NAME } from "../../../scripts/dist-stamp.mjs";

const REPO = resolve(import.meta.dirname, "../../..");
const RUN_TIMEOUT_MS = 60_000;

function write(root: string, path: string, text: string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
}

const fakeMain = (who: string): string => `export async function main(argv) { process.stdout.write("${who} " + argv.join(" ") + "\\n"); return 0; }\n`;

/** A tree like the repository's, as far as bin/blixard.js can tell, with dist/ freshly stamped. */
function fakeRepository(): string {
  const root = mkdtempSync(join(tmpdir(), "blixard-dist-freshness-"));
  for (const path of ["bin/blixard.js", "scripts/dist-stamp.mjs", "scripts/build.mjs", "tsconfig.json", "package.json"]) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    copyFileSync(join(REPO, path), join(root, path));
  }
  // The real node_modules: tsx for the src path, and the bundled packages' package.json the stamp lists.
  symlinkSync(join(REPO, "node_modules"), join(root, "node_modules"));
  write(root, "src/shell/cli/main.ts", `${fakeMain("src")}const typed: number = 1;\nvoid typed;\n`);
  write(root, "src/shell/vm/guard/vm-guard.mjs", "// an asset\n");
  write(root, "dist/main.js", fakeMain("dist"));
  write(root, `dist/${STAMP_NAME}`, sourceListing(root));
  return root;
}

function runBin(root: string, env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [join(root, "bin/blixard.js"), "kv", "get", "k"], { env: { ...process.env, BLIXARD_RUN_FROM: "", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), RUN_TIMEOUT_MS);
    child.once("error", fail);
    child.once("close", (code) => {
      clearTimeout(timer);
      done({ code: code ?? 1, stdout, stderr });
    });
  });
}

describe("bin/blixard.js runs dist/ only when it is current", { timeout: 120_000 }, () => {
  const roots: string[] = [];
  let root = "";
  beforeEach(() => {
    root = fakeRepository();
    roots.push(root);
  });
  after(() => {
    for (const path of roots) rmSync(path, { recursive: true, force: true });
  });

  test("a freshly stamped dist/ runs, with the arguments", async () => {
    assert.equal(distIsCurrent(root), true);
    assert.deepEqual(await runBin(root), { code: 0, stdout: "dist kv get k\n", stderr: "" });
  });

  test("an edited source file sends it to src/ through tsx", async () => {
    write(root, "src/shell/cli/main.ts", `${fakeMain("src")}// edited\n`);
    assert.equal(distIsCurrent(root), false);
    assert.equal((await runBin(root)).stdout, "src kv get k\n");
  });

  test("a source rewritten with the same size is still seen, by its modification time", async () => {
    const path = join(root, "src/shell/cli/main.ts");
    const text = readFileSync(path, "utf8");
    writeFileSync(path, text.replace("const typed: number = 1", "const typed: number = 2"));
    const later = new Date(Date.now() + 5_000);
    utimesSync(path, later, later);
    assert.equal((await runBin(root)).stdout, "src kv get k\n");
  });

  test("an added, a deleted source and a changed asset each make dist/ stale", () => {
    write(root, "src/shell/cli/new-command.ts", "export {};\n");
    assert.equal(distIsCurrent(root), false);
    rmSync(join(root, "src/shell/cli/new-command.ts"));
    assert.equal(distIsCurrent(root), true, "back to the stamped listing");
    rmSync(join(root, "src/shell/vm/guard/vm-guard.mjs"));
    assert.equal(distIsCurrent(root), false);
  });

  test("a build input outside src/ (a bundled package's version, the build script) makes dist/ stale", () => {
    const later = new Date(Date.now() + 5_000);
    assert.ok(BUNDLED_PACKAGES.includes("@bufbuild/protobuf"));
    writeFileSync(join(root, "scripts/build.mjs"), `${readFileSync(join(root, "scripts/build.mjs"), "utf8")}// changed\n`);
    utimesSync(join(root, "scripts/build.mjs"), later, later);
    assert.equal(distIsCurrent(root), false);
  });

  test("no dist/ at all, or a dist/ without its stamp, runs src/", async () => {
    rmSync(join(root, "dist", STAMP_NAME));
    assert.equal((await runBin(root)).stdout, "src kv get k\n");
    rmSync(join(root, "dist"), { recursive: true });
    assert.equal((await runBin(root)).stdout, "src kv get k\n");
  });

  test("BLIXARD_RUN_FROM=src forces tsx; BLIXARD_RUN_FROM=dist refuses a stale dist/; anything else is refused", async () => {
    assert.equal((await runBin(root, { BLIXARD_RUN_FROM: "src" })).stdout, "src kv get k\n");
    assert.equal((await runBin(root, { BLIXARD_RUN_FROM: "dist" })).stdout, "dist kv get k\n");
    write(root, "src/shell/cli/main.ts", `${fakeMain("src")}// edited\n`);
    const stale = await runBin(root, { BLIXARD_RUN_FROM: "dist" });
    assert.equal(stale.code, 2);
    assert.equal(stale.stdout, "");
    assert.match(stale.stderr, /dist\/ is missing or older than src\/: run npm run build/);
    const bad = await runBin(root, { BLIXARD_RUN_FROM: "compiled" });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /BLIXARD_RUN_FROM: give src or dist/);
  });
});
