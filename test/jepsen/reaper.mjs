// The harness's reaper: a detached process that outlives the harness. The harness tells it, on
// its stdin, one line per thing it creates ("pid N", "netns NAME", "link NAME", "dir PATH") and
// "done" once its own cleanup has run. If stdin closes without "done" (the harness was killed,
// or aborted out of memory, and its finally blocks never ran) the reaper removes everything it
// was told of: node processes (only while their command line is still a blixard node's, so a
// reused pid is left alone), namespaces with every process inside them, links and node data.
// Plain JavaScript so it starts without the TypeScript loader. Bounded: at most LINES_MAX lines.
import { spawnSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";

const LINES_MAX = 100_000;
const kinds = { pid: new Set(), netns: new Set(), link: new Set(), dir: new Set() };
let buffered = "";
let lines = 0;
let done = false;

const log = (line) => process.stderr.write(`reaper: ${line}\n`);

function isBlixardNode(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes("node") && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("blixard");
  } catch {
    return false;
  }
}

function reap() {
  for (const pid of kinds.pid) {
    if (!isBlixardNode(pid)) continue;
    try {
      process.kill(Number(pid), "SIGKILL");
      log(`killed node pid ${pid}`);
    } catch (error) {
      log(`pid ${pid}: ${error.message}`);
    }
  }
  for (const name of kinds.netns) {
    const pids = spawnSync("ip", ["netns", "pids", name], { encoding: "utf8", timeout: 5_000 }).stdout ?? "";
    for (const pid of pids.split("\n").filter((p) => /^\d+$/.test(p))) spawnSync("kill", ["-9", pid], { timeout: 5_000 });
    const result = spawnSync("ip", ["netns", "del", name], { encoding: "utf8", timeout: 5_000 });
    log(`netns ${name}: ${result.status === 0 ? "removed" : (result.stderr ?? "").trim() || "gone"}`);
  }
  for (const name of kinds.link) {
    const result = spawnSync("ip", ["link", "del", name], { encoding: "utf8", timeout: 5_000 });
    log(`link ${name}: ${result.status === 0 ? "removed" : (result.stderr ?? "").trim() || "gone"}`);
  }
  for (const dir of kinds.dir) {
    rmSync(dir, { recursive: true, force: true });
    log(`removed ${dir}`);
  }
}

process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => {
  buffered += chunk;
  let newline;
  while ((newline = buffered.indexOf("\n")) >= 0) {
    const line = buffered.slice(0, newline);
    buffered = buffered.slice(newline + 1);
    if (line === "done") {
      done = true;
      continue;
    }
    const space = line.indexOf(" ");
    const kind = line.slice(0, space);
    if (space < 0 || !(kind in kinds) || ++lines > LINES_MAX) {
      log(`ignored line: ${line.slice(0, 80)}`);
      continue;
    }
    kinds[kind].add(line.slice(space + 1));
  }
});
process.stdin.on("close", () => {
  if (!done) {
    log("the harness ended without cleaning up; removing what it created");
    reap();
  }
  process.exit(0);
});
