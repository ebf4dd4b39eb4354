// Everything the harness creates (processes, namespaces, links, nftables rules, directories)
// registers how to undo it here, as it is created. The registry runs the undo steps in reverse
// order from the harness's finally block and from SIGINT/SIGTERM handlers, once, each bounded
// and each failure reported rather than stopping the others.
export type CleanupStep = { readonly what: string; readonly undo: () => Promise<void> | void };

/** Bound on registered steps: a harness that registers more is leaking, not cleaning. */
const CLEANUP_STEPS_MAX = 10_000;

export class CleanupRegistry {
  private readonly steps: CleanupStep[] = [];
  private running: Promise<string[]> | undefined;
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`jepsen: ${signal}: cleaning up\n`);
    void this.runAll().finally(() => process.exit(signal === "SIGINT" ? 130 : 143));
  };

  /** Installs the signal handlers; `runAll` removes them. */
  constructor() {
    process.on("SIGINT", this.onSignal);
    process.on("SIGTERM", this.onSignal);
  }

  add(what: string, undo: () => Promise<void> | void): void {
    if (this.running !== undefined) throw new Error(`cleanup already running; cannot register ${what}`);
    if (this.steps.length >= CLEANUP_STEPS_MAX) throw new Error(`more than ${CLEANUP_STEPS_MAX} cleanup steps`);
    this.steps.push({ what, undo });
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
      return failures;
    })();
    return this.running;
  }
}
