// The build (scripts/build.mjs) makes a dist/ that behaves as src/ does: it runs, it finds the files
// its modules locate by import.meta.url (package.json, the guard, the process guest, guest-init.sh),
// and its stamp is current right after. Builds first when dist/ is not current (as scripts/test.mjs does).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { before, describe, test } from "node:test";
import { distIsCurrent } from "../../../scripts/dist-stamp.mjs";
import { runCli } from "../../support/run-cli.ts";

const REPO = resolve(import.meta.dirname, "../../..");

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? filesUnder(join(dir, entry.name)) : [join(dir, entry.name)]));
}

describe("dist/, the build's output", { timeout: 120_000 }, () => {
  before(() => {
    if (distIsCurrent(REPO)) return;
    const build = spawnSync(process.execPath, [join(REPO, "scripts/build.mjs")], { cwd: REPO, encoding: "utf8", timeout: 110_000 });
    assert.equal(build.status, 0, `npm run build failed: ${build.stderr}`);
  });

  test("is current after the build, and runs: --version is package.json's, read from beside the bundle", async () => {
    assert.equal(distIsCurrent(REPO), true);
    const { version } = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string };
    const run = await runCli(["--version"], { env: { BLIXARD_RUN_FROM: "dist" } });
    assert.deepEqual(run, { code: 0, stdout: `${version}\n`, stderr: "" });
    const help = await runCli(["help", "kv", "get"], { env: { BLIXARD_RUN_FROM: "dist" } });
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: blixard kv get /);
  });

  test("holds every file under src/ that is not TypeScript at the same place (the modules find them there)", () => {
    const assets = filesUnder(join(REPO, "src")).filter((path) => !path.endsWith(".ts")).map((path) => relative(join(REPO, "src"), path));
    assert.ok(assets.includes("shell/vm/guard/vm-guard.mjs") && assets.includes("shell/vm/image/guest-init.sh"), assets.join(", "));
    for (const asset of assets) assert.ok(existsSync(join(REPO, "dist", asset)), `dist/${asset} is missing`);
  });

  test("rewrites import.meta.url to each source's place in dist/, never leaving the chunk's own", () => {
    const bundle = filesUnder(join(REPO, "dist")).filter((path) => path.endsWith(".js")).map((path) => readFileSync(path, "utf8")).join("\n");
    assert.match(bundle, /new URL\("\.\/shell\/version\.js", import\.meta\.url\)/);
    assert.match(bundle, /new URL\("\.\/shell\/vm\/host-backend\.js", import\.meta\.url\)/);
  });
});
