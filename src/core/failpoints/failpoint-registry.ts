// The failpoints switched on in one process, and the decision of what a point does when code
// reaches it (fail-rs semantics): the point's tasks are tried in order; a task whose count is
// spent is skipped; a task with a count spends one on every evaluation that reaches it; a task
// that loses its probability draw passes to the next task; the first task that wins decides.
// No task wins: the point does nothing. Counts decrement deterministically; probabilities draw
// from the Random handed in (the simulator's named stream, or the node's PRNG).
//
// Off costs one branch: `activeCount === 0` before any lookup (see evaluate).

import { assert } from "../assert.ts";
import type { Random } from "../env/environment.ts";
import { FAILPOINT_POINTS_MAX, PARTS_PER_MILLION, type FailpointAction, type FailpointSetting, type FailpointTask } from "./failpoint-spec.ts";

interface TaskState {
  readonly task: FailpointTask;
  remaining: number | undefined;
}

interface PointState {
  readonly setting: FailpointSetting;
  readonly tasks: TaskState[];
  evaluated: number;
  fired: number;
}

export interface FailpointStatus {
  readonly name: string;
  readonly tasks: readonly FailpointTask[];
  /** Per task, the count still left (undefined: no limit). */
  readonly remaining: readonly (number | undefined)[];
  readonly evaluated: number;
  readonly fired: number;
}

export class FailpointRegistry {
  private readonly points = new Map<string, PointState>();
  private changeListeners: ((name: string) => void)[] = [];

  constructor(private readonly random: Random) {}

  /** How many points are set: zero means every evaluation is one branch. */
  get activeCount(): number {
    return this.points.size;
  }

  /** Sets (or replaces, with fresh counts) a point's tasks. */
  set(setting: FailpointSetting): void {
    assert(setting.tasks.length >= 1, "a failpoint setting has at least one task");
    assert(this.points.has(setting.name) || this.points.size < FAILPOINT_POINTS_MAX, () => `at most ${FAILPOINT_POINTS_MAX} failpoints are set at once`);
    this.points.set(setting.name, { setting, tasks: setting.tasks.map((task) => ({ task, remaining: task.count })), evaluated: 0, fired: 0 });
    this.changed(setting.name);
  }

  /** Switches a point off; true when it was set. */
  clear(name: string): boolean {
    const was = this.points.delete(name);
    if (was) this.changed(name);
    return was;
  }

  /** The action the point takes now, or undefined (nothing happens). Spends counts, draws randomness. */
  evaluate(name: string): FailpointAction | undefined {
    if (this.points.size === 0) return undefined;
    const point = this.points.get(name);
    if (point === undefined) return undefined;
    point.evaluated++;
    for (const state of point.tasks) {
      if (state.remaining !== undefined) {
        if (state.remaining === 0) continue;
        state.remaining--;
      }
      const ppm = state.task.partsPerMillion;
      if (ppm < PARTS_PER_MILLION && (ppm === 0 || this.random.intBelow(PARTS_PER_MILLION) >= ppm)) continue;
      if (state.task.action.kind === "off") return undefined;
      point.fired++;
      assert(point.fired <= point.evaluated, "a failpoint fired more often than it was evaluated");
      return state.task.action;
    }
    return undefined;
  }

  /** Every set point, in name order. */
  list(): FailpointStatus[] {
    return [...this.points.values()]
      .sort((a, b) => (a.setting.name < b.setting.name ? -1 : a.setting.name > b.setting.name ? 1 : 0))
      .map((p) => ({ name: p.setting.name, tasks: p.setting.tasks, remaining: p.tasks.map((t) => t.remaining), evaluated: p.evaluated, fired: p.fired }));
  }

  /** Calls `listener` with the point's name after every set or clear (a paused path waits on it). Returns the unsubscribe. */
  onChange(listener: (name: string) => void): () => void {
    this.changeListeners.push(listener);
    return () => {
      this.changeListeners = this.changeListeners.filter((l) => l !== listener);
    };
  }

  private changed(name: string): void {
    for (const listener of [...this.changeListeners]) listener(name);
  }
}
