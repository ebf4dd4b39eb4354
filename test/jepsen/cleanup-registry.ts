// Everything the harness creates (processes, namespaces, links, nftables rules, directories)
// registers how to undo it here, as it is created. The registry runs the undo steps in reverse
// order from the harness's finally block and from SIGINT/SIGTERM handlers, once, each bounded
// and each failure reported rather than stopping the others. What the finally block cannot
// cover (the harness killed with SIGKILL, or aborted out of memory) the reaper does: a detached
// process told of every process, namespace, link and directory as it is created (reaper.mjs).
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** What the reaper removes if the harness dies: a node process, a namespace, a link or a directory. */
export type Reapable = `${"pid" | "netns" | "link" | "dir"} ${string}`;

const REAPER = fileURLToPath(new URL("./reaper.mjs", import.meta.url));

export type CleanupStep = { readonly what: string; readonly undo: () => Promise<void> | void };

/** Bound on registered steps: a harness that registers more is leaking, not cleaning. */
const CLEANUP_STEPS_MAX = 10_000;

export class CleanupRegistry {
  private readonly steps: CleanupStep[] = [];
  private running: Promise<string[]> | undefined;
  private reaper: ChildProcess | undefined;
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`jepsen: ${signal}: cleaning up\n`);
    void this.runAll().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };

  /** Installs the signal handlers and starts the reaper (its log goes to `reaperLog`); `runAll` ends both. */
  constructor(reaperLog: string) {
    process.on("SIGINT", this.onSignal);
    process.on("SIGTERM", this.onSignal);
    const logFd = openSync(reaperLog, "a");
    try {
      this.reaper = spawn(process.execPath, [REAPER], { detached: true, stdio: ["pipe", "ignore", logFd] });
    } finally {
      closeSync(logFd);
    }
    this.reaper.unref();
    this.reaper.stdin!.on("error", () => undefined);
    (this.reaper.stdin as unknown as { unref?: () => void }).unref?.();
  }

  /** Registers `undo`, and tells the reaper `reap` (what to remove should the harness die first). */
  add(what: string, undo: () => Promise<void> | void, reap?: Reapable): void {
    if (this.running !== undefined) throw new Error(`cleanup already running; cannot register ${what}`);
    if (this.steps.length >= CLEANUP_STEPS_MAX) throw new Error(`more than ${CLEANUP_STEPS_MAX} cleanup steps`);
    if (reap !== undefined) this.tellReaper(reap);
    this.steps.push({ what, undo });
  }

  /** Tells the reaper of something to remove should the harness die, without a cleanup step. */
  tellReaper(reap: Reapable): void {
    if (reap.includes("\n")) throw new Error(`a reaper line holds a newline: ${JSON.stringify(reap)}`);
    this.reaper?.stdin?.write(`${reap}\n`);
  }

  /** Runs every step, last registered first; returns the failures (one line each). Idempotent. */
  runAll(): Promise<string[]> {
    this.running ??= (async () => {
      process.off("SIGINT", this.onSignal);
      process.off("SIGTERM", this.onSignal);
      const failures: string[] = [];
      while (this.steps.length > 0) {
        const step = this.steps.pop()!;
        try {
          await step.undo();
        } catch (error) {
          failures.push(`${step.what}: ${(error as Error).message.split("\n")[0]}`);
        }
      }
      // After a failed step the reaper tries everything once more (each removal is idempotent).
      this.reaper?.stdin?.end(failures.length === 0 ? "done\n" : "");
      return failures;
    })();
    return this.running;
  }
}
