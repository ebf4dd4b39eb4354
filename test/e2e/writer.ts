// A background writer for the e2e tests: puts distinct keys through random live nodes
// and remembers exactly which ones were acknowledged, so a test can check that no
// acknowledged write was lost whatever happened to the cluster meanwhile.
import type { ProcessCluster } from "./process-cluster.ts";
import { sleep } from "./process-cluster.ts";

export class BackgroundWriter {
  readonly acknowledged = new Map<string, string>();
  attempts = 0;
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly cluster: ProcessCluster,
    private readonly prefix: string,
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    let n = 0;
    while (this.running) {
      const ids = this.cluster.runningIds();
      if (ids.length === 0) {
        await sleep(50);
        continue;
      }
      const id = ids[n % ids.length]!;
      const key = `${this.prefix}-${n}`;
      const value = `value-${n}`;
      n += 1;
      this.attempts += 1;
      try {
        await this.cluster.client(id).kv.put({ key, value }, { timeoutMs: 2_000 });
        this.acknowledged.set(key, value);
      } catch {
        // Unknown or failed: the key may or may not exist; only acknowledged keys are checked.
        await sleep(20);
      }
    }
  }
}
