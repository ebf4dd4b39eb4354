// The nemesis: faults on a schedule, each logged into the history as Jepsen does (`:nemesis`
// :info events, :start-KIND with what it did, then :stop-KIND). Every fault is undone by its stop
// and by `healAll` (which the harness also runs from its finally block). The disk and clock faults
// go through the admin API's FailpointService (storage.fsync, clock.wall, clock.monotonic), as
// `blixard node failpoint set` does.
import type { Network } from "./network.ts";
import { grudgeOf } from "./network.ts";
import type { HistoryRecorder } from "./history-recorder.ts";
import type { NodeProcesses } from "./node-processes.ts";
import type { Random } from "./random.ts";
import { localStatus } from "./recovery.ts";
import { EXIT_STORAGE_FAILED } from "../../src/shell/cli/fatal-exit.ts";

export const FAULT_KINDS = ["kill", "pause", "partition-one", "partition-majorities", "partition-ring", "partition-bridge", "rolling-restart", "membership", "slow-disk", "fsync-error", "clock-offset", "clock-bump", "clock-strobe", "clock-drift"] as const;

/** A slow disk: every fsync of the victim waits this long first (failpoint storage.fsync=delay(MS); docs/FAILPOINTS.md). */
const SLOW_FSYNC_MS = [20, 50, 150] as const;
/** How long an fsync error may take to reach the victim's disk (it fsyncs on every append it takes). */
const FSYNC_ERROR_STOP_MS = 10_000;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Wall clock offsets and bumps: seconds to minutes, either way (failpoint clock.wall; docs/FAILPOINTS.md, "Clock faults"). */
const CLOCK_SHIFT_MS = [1_000, 300_000] as const;
/** A strobe flips every 10 to 200 ms, for longer than a fault is held (the heal clears it anyway). */
const CLOCK_STROBE_PERIOD_MS = [10, 200] as const;
const CLOCK_STROBE_DURATION_MS = 60_000;
/** Monotonic drifts (clock.monotonic): within the bound, with room for the host's own clock error (NTP slews up to 500 ppm). */
const CLOCK_DRIFT_PPM = [10_000, 90_000] as const;
type ClockPoint = "clock.wall" | "clock.monotonic";

/** Which faults this run can inject, and a line for each that it cannot. */
export function availableFaults(network: Network, nodeCount: number): { readonly kinds: FaultKind[]; readonly disabled: string[] } {
  const kinds: FaultKind[] = [];
  const disabled: string[] = [];
  for (const kind of FAULT_KINDS) {
    if (kind.startsWith("partition") && !network.canPartition) disabled.push(`${kind}: needs network namespaces`);
    else if ((kind === "partition-ring" || kind === "partition-bridge") && nodeCount < 5) disabled.push(`${kind}: needs 5 nodes or more`);
    else kinds.push(kind);
  }
  return { kinds, disabled };
}

/** Highest node id a membership change may give a new node (its address is 10.77.X.(10+id)). */
export const NODE_ID_MAX = 200;

export class Nemesis {
  readonly counts = new Map<FaultKind, number>();
  private killed: number[] = [];
  /** Nodes with a failpoint set by the nemesis, to clear at the heal. */
  private slowed: number[] = [];
  private paused: number[] = [];
  /** Nodes whose clocks the nemesis made wrong, and which clock points to clear at the heal. */
  private clocked = new Map<number, Set<ClockPoint>>();
  /** A node that joined as a learner in :start-membership and is promoted in :stop-membership. */
  private learner: number | undefined;

  constructor(
    private readonly history: HistoryRecorder,
    private readonly network: Network,
    private readonly nodes: NodeProcesses,
    private readonly random: Random,
    private readonly members: () => number[],
    private readonly restartBoundMs: number,
  ) {}

  /** Starts a fault of `kind`; returns once it is in force. */
  async start(kind: FaultKind): Promise<void> {
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    const ids = this.members();
    const shuffled = this.random.shuffle(ids);
    const f = `start-${kind}`;
    switch (kind) {
      case "kill": {
        const victim = shuffled[0]!;
        this.history.nemesis(f, [victim]);
        await this.nodes.kill(victim, "SIGKILL");
        this.killed.push(victim);
        this.history.nemesis(f, `killed ${victim}`);
        return;
      }
      case "pause": {
        const victim = shuffled[0]!;
        this.history.nemesis(f, [victim]);
        this.nodes.pause(victim);
        this.paused.push(victim);
        this.history.nemesis(f, `paused ${victim}`);
        return;
      }
      case "partition-one": {
        const alone = shuffled[0]!;
        return this.partition(f, ids, (a, b) => a !== alone && b !== alone, `isolated ${alone}`);
      }
      case "partition-majorities": {
        const minority = new Set(shuffled.slice(0, Math.floor(ids.length / 2)));
        return this.partition(f, ids, (a, b) => minority.has(a) === minority.has(b), `split ${[...minority].join(",")} | ${ids.filter((id) => !minority.has(id)).join(",")}`);
      }
      case "partition-ring": {
        // Each node hears its two neighbours on a random ring: every node sees a majority (of 5),
        // no two see the same one.
        const at = new Map(shuffled.map((id, i) => [id, i]));
        const n = shuffled.length;
        return this.partition(f, ids, (a, b) => {
          const d = Math.abs(at.get(a)! - at.get(b)!);
          return Math.min(d, n - d) <= 1;
        }, `ring ${shuffled.join("-")}`);
      }
      case "partition-bridge": {
        // Two halves that hear only themselves and one bridge node, which hears everyone.
        const bridge = shuffled[0]!;
        const half = new Set(shuffled.slice(1, 1 + Math.floor((shuffled.length - 1) / 2)));
        return this.partition(f, ids, (a, b) => a === bridge || b === bridge || half.has(a) === half.has(b), `bridge ${bridge} between ${[...half].join(",")} | ${ids.filter((id) => id !== bridge && !half.has(id)).join(",")}`);
      }
      case "rolling-restart": {
        this.history.nemesis(f, ids);
        for (const id of ids) {
          await this.nodes.kill(id, "SIGTERM");
          this.nodes.start(id);
          await this.waitAnswering(id);
        }
        this.history.nemesis(f, `restarted ${ids.join(",")}`);
        return;
      }
      case "membership": {
        // Remove a member that does not lead, stop it, and add a new node as a learner, all while
        // the clients write; :stop-membership promotes it.
        const leader = await this.leaderOf(ids);
        const victim = shuffled.find((id) => id !== leader) ?? shuffled[0]!;
        const newId = this.nodes.highestId + 1;
        this.history.nemesis(f, `remove ${victim}, add ${newId}`);
        if (newId > NODE_ID_MAX) {
          this.history.nemesis(f, `skipped: node ids above ${NODE_ID_MAX} have no address`);
          return;
        }
        const removed = await this.adminCall(ids.filter((id) => id !== victim), (id) => this.nodes.client(id, 2_000).cluster.remove({ nodeId: BigInt(victim) }));
        if (removed !== undefined) {
          this.history.nemesis(f, `remove ${victim} failed: ${removed}`);
          return;
        }
        await this.nodes.kill(victim, "SIGTERM");
        this.nodes.forget(victim);
        const via = ids.find((id) => id !== victim)!;
        await this.nodes.join(newId, via);
        this.learner = newId;
        await this.waitAnswering(newId);
        this.history.nemesis(f, `removed ${victim}, added ${newId} as a learner`);
        return;
      }
      case "slow-disk": {
        // Set at run time through the admin API (FailpointService), as an operator would.
        const victim = shuffled[0]!;
        const delayMs = SLOW_FSYNC_MS[this.random.below(SLOW_FSYNC_MS.length)]!;
        this.history.nemesis(f, [victim, delayMs]);
        const failed = await this.adminCall([victim], (id) => this.nodes.client(id, 2_000).failpoint.set({ name: "storage.fsync", actions: `delay(${delayMs})` }));
        if (failed === undefined) this.slowed.push(victim);
        this.history.nemesis(f, failed === undefined ? `fsyncs of ${victim} wait ${delayMs} ms` : `slow disk on ${victim} failed: ${failed}`);
        return;
      }
      case "fsync-error": {
        // An fsync that fails is not retried: the node stops with exit 4 naming the disk (as etcd
        // panics), and comes back at the heal. That stop is the design; any other exit is a crash.
        const victim = shuffled[0]!;
        this.history.nemesis(f, [victim]);
        this.nodes.expectExitCode(victim, EXIT_STORAGE_FAILED);
        const failed = await this.adminCall([victim], (id) => this.nodes.client(id, 2_000).failpoint.set({ name: "storage.fsync", actions: "return(EIO)" }));
        if (failed !== undefined) {
          this.history.nemesis(f, `fsync error on ${victim} failed: ${failed}`);
          return;
        }
        this.killed.push(victim);
        const stopped = await this.nodes.waitExit(victim, FSYNC_ERROR_STOP_MS);
        this.history.nemesis(f, stopped ? `${victim} stopped on its fsync error` : `${victim} met no fsync within ${FSYNC_ERROR_STOP_MS} ms`);
        return;
      }
      case "clock-offset":
        // Each victim's wall clock seconds to minutes off, either way: a host whose NTP never synced.
        return this.clockFault(f, "clock.wall", this.someOf(shuffled, 1), () => `offset:${this.signedBetween(CLOCK_SHIFT_MS)}`);
      case "clock-bump":
        // One step of each victim's wall clock, as an NTP step or an operator's `date -s`.
        return this.clockFault(f, "clock.wall", this.someOf(shuffled, 1), () => `bump:${this.signedBetween(CLOCK_SHIFT_MS)}`);
      case "clock-strobe":
        // Each victim's wall clock flips between two readings minutes apart, every few ms: a flapping time source.
        return this.clockFault(f, "clock.wall", this.someOf(shuffled, 1), () => `strobe:${this.signedBetween(CLOCK_SHIFT_MS)},${this.between(CLOCK_STROBE_PERIOD_MS)},${CLOCK_STROBE_DURATION_MS}`);
      case "clock-drift": {
        // Fast and slow monotonic clocks side by side (alternating along the shuffle), as far apart
        // as the bound allows less the host's own error: where a lease that ignored the bound breaks.
        const victims = this.someOf(shuffled, Math.min(2, shuffled.length));
        return this.clockFault(f, "clock.monotonic", victims, (i) => `drift:${(i % 2 === 0 ? "+" : "-") + String(this.between(CLOCK_DRIFT_PPM))}`);
      }
      default: {
        const never: never = kind;
        throw new Error(`unknown fault ${String(never)}`);
      }
    }
  }

  /** Sets `point` to return(ARG) on each victim through the admin API (FailpointService), logging what each got. */
  private async clockFault(f: string, point: ClockPoint, victims: readonly number[], argOf: (i: number) => string): Promise<void> {
    this.history.nemesis(f, [...victims]);
    const done: string[] = [];
    for (const [i, victim] of victims.entries()) {
      const actions = `return(${argOf(i)})`;
      const failed = await this.adminCall([victim], (id) => this.nodes.client(id, 2_000).failpoint.set({ name: point, actions }));
      if (failed === undefined) {
        const points = this.clocked.get(victim) ?? new Set<ClockPoint>();
        points.add(point);
        this.clocked.set(victim, points);
      }
      done.push(failed === undefined ? `${victim} ${point}=${actions}` : `${victim} ${point} failed: ${failed}`);
    }
    this.history.nemesis(f, done.join("; "));
  }

  /** A random subset: the first `least` to all of a shuffle's members. */
  private someOf(shuffled: readonly number[], least: number): number[] {
    return shuffled.slice(0, least + this.random.below(shuffled.length - least + 1));
  }

  private between([min, max]: readonly [number, number]): number {
    return min + this.random.below(max - min + 1);
  }

  private signedBetween(range: readonly [number, number]): string {
    const magnitude = this.between(range);
    return this.random.below(2) === 0 ? `+${magnitude}` : `-${magnitude}`;
  }

  private async partition(f: string, ids: readonly number[], canHear: (a: number, b: number) => boolean, description: string): Promise<void> {
    this.history.nemesis(f, description);
    this.network.partition(grudgeOf(ids, canHear));
    this.history.nemesis(f, description);
  }

  private async waitAnswering(id: number): Promise<void> {
    const start = Date.now();
    while (Date.now() - start < this.restartBoundMs) {
      if (!this.nodes.isRunning(id)) return; // a crash: recorded by NodeProcesses
      if ((await localStatus(this.nodes, id)) !== undefined) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    this.nodes.crashes.push({ id, exit: `did not answer within ${this.restartBoundMs} ms of its restart`, logTail: this.nodes.logTail(id) });
  }

  /** Stops the fault of `kind` (restarts the killed, resumes the paused, heals the network, promotes the learner). */
  async stop(kind: FaultKind): Promise<void> {
    const f = `stop-${kind}`;
    this.history.nemesis(f, null);
    const promoted = await this.healAll();
    this.history.nemesis(f, promoted ?? "healed");
  }

  private async leaderOf(ids: readonly number[]): Promise<number | undefined> {
    for (const id of ids) {
      const status = await localStatus(this.nodes, id);
      if (status?.role === "leader") return id;
    }
    return undefined;
  }

  /** An admin call through any of `ids` (followers forward), retried within the restart bound; the last error, or undefined on success. */
  private async adminCall(ids: readonly number[], call: (id: number) => Promise<unknown>): Promise<string | undefined> {
    const start = Date.now();
    let last = "no member to ask";
    for (let i = 0; Date.now() - start < this.restartBoundMs && ids.length > 0; i += 1) {
      try {
        await call(ids[i % ids.length]!);
        return undefined;
      } catch (error) {
        last = (error as Error).message.split("\n")[0]!;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    return last;
  }

  /** Undoes every fault in force: heals the network, resumes paused nodes, restarts killed ones, promotes a learner; says what it promoted. */
  async healAll(): Promise<string | undefined> {
    this.network.heal();
    for (const id of this.slowed.splice(0)) {
      if (this.nodes.isRunning(id)) await this.adminCall([id], (node) => this.nodes.client(node, 2_000).failpoint.clear({ name: "storage.fsync" }));
    }
    for (const id of this.paused.splice(0)) this.nodes.resume(id);
    // Every clock the nemesis made wrong is the host's again (a node restarted since forgot its fault anyway).
    for (const [id, points] of [...this.clocked]) {
      this.clocked.delete(id);
      if (!this.nodes.isRunning(id)) continue;
      for (const name of points) await this.adminCall([id], (node) => this.nodes.client(node, 2_000).failpoint.clear({ name }));
    }
    for (const id of this.killed.splice(0)) {
      // A victim of an fsync error that never met an fsync still has the point set: a restart clears it (runtime settings do not persist).
      if (this.nodes.isRunning(id) && this.nodes.expectsExit(id)) await this.nodes.kill(id, "SIGKILL");
      if (!this.nodes.isRunning(id)) {
        this.nodes.start(id);
        await this.waitAnswering(id);
      }
    }
    const learner = this.learner;
    if (learner === undefined) return undefined;
    this.learner = undefined;
    const failed = await this.adminCall(this.nodes.ids, (id) => this.nodes.client(id, 2_000).cluster.promote({ nodeId: BigInt(learner) }));
    return failed === undefined ? `promoted ${learner}` : `promote ${learner} failed: ${failed}`;
  }
}
