// A real node's failpoints (docs/FAILPOINTS.md): the registry that BLIXARD_FAILPOINTS fills at
// start and the admin API (FailpointService) changes at run time, and the Environment's hook
// over it. The actions that leave the code at a point are carried out here, for a process:
//   print  a warn line in the log naming the point;
//   panic  the one-line fatal report and exit 5 (EXIT_INTERNAL_ERROR), as a failed assertion;
//   crash  SIGKILL to itself: no handler, no flush, no cleanup, as kill -9 from outside.
// Nothing set: the hook is one branch.
//
// The clock points (clock.wall, clock.monotonic: src/shell/os/clock-fault-spec.ts) share the
// names, the environment variable and the admin API, but no code evaluates them: setting one
// changes the node's clocks (src/shell/os/node-clocks.ts) until it is cleared, so they live
// beside the registry, not in the core's catalogue (which the simulator draws from).

import type { Failpoint, Logger } from "../../core/env/environment.ts";
import { FailpointRegistry, type FailpointStatus } from "../../core/failpoints/failpoint-registry.ts";
import { PARTS_PER_MILLION, parseFailpointActions, parseFailpointSpec, renderFailpointActions, type FailpointSetting, type FailpointTask } from "../../core/failpoints/failpoint-spec.ts";
import { assert } from "../../core/assert.ts";
import { checkedFailpointSettings, registryFailpoint, type FailpointEffects } from "../../core/failpoints/registry-failpoint.ts";
import { isFailpointName } from "../../core/env/failpoints.ts";
import { EXIT_INTERNAL_ERROR, reportFatal } from "../cli/fatal-exit.ts";
import { systemRandom } from "../os/system-environment.ts";
import { CLOCK_MONOTONIC_POINT, CLOCK_WALL_POINT, clockChangeOf, isClockPointName } from "../os/clock-fault-spec.ts";
import { NodeClocks } from "../os/node-clocks.ts";

/** The environment variable a node reads at start. */
export const FAILPOINTS_ENV = "BLIXARD_FAILPOINTS";

export type FailpointsResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** `name=actions;...` checked against the catalogue and the clock points: the settings, or one line naming the column or the point. */
export function parseNodeFailpoints(text: string): FailpointsResult<readonly FailpointSetting[]> {
  const parsed = parseFailpointSpec(text);
  if (!parsed.ok) return parsed;
  for (const setting of parsed.value) {
    if (!isClockPointName(setting.name)) continue;
    const clock = clockChangeOf(setting);
    if (!clock.ok) return clock;
  }
  const checked = checkedFailpointSettings(parsed.value.filter((s) => !isClockPointName(s.name)));
  return checked.ok ? { ok: true, value: parsed.value } : checked;
}

/** One point's actions (`20%3*return(EIO)->off`, `return(offset:-30000)`) checked against the catalogue or the clock points. */
export function parsePointActions(name: string, actions: string): FailpointsResult<FailpointSetting> {
  const parsed = parseFailpointActions(actions);
  if (!parsed.ok) return parsed;
  const setting: FailpointSetting = { name, tasks: parsed.value };
  if (isClockPointName(name)) {
    const clock = clockChangeOf(setting);
    return clock.ok ? { ok: true, value: setting } : clock;
  }
  const checked = checkedFailpointSettings([setting]);
  return checked.ok ? { ok: true, value: checked.value[0]! } : checked;
}

/** A failpoint or a clock point: what `failpoint clear` may name. */
export function isNodeFailpointName(name: string): boolean {
  return isFailpointName(name) || isClockPointName(name);
}

/** What a process does for panic and crash: exit, SIGKILL. Tests that run a node in-process hand in their own. */
export function processFailpointEffects(log: Logger): FailpointEffects {
  return {
    print: (name, message) => log.warn({ failpoint: name, message }, "failpoint print"),
    panic: (name, message) => {
      log.error({ failpoint: name, message }, "failpoint panic: the process exits");
      reportFatal(`blixard node: fatal: failpoint ${name} panicked${message === undefined ? "" : `: ${message}`}`, EXIT_INTERNAL_ERROR);
      process.exit(EXIT_INTERNAL_ERROR);
    },
    crash: (name) => {
      // Logged for a synchronous destination; pino's buffered one loses it, as kill -9 loses everything unflushed.
      log.error({ failpoint: name }, "failpoint crash: SIGKILL");
      process.kill(process.pid, "SIGKILL");
      // The signal is delivered before the call returns on Linux; should it not be, nothing after the point may run.
      throw new Error(`failpoint ${name}: SIGKILL did not stop the process`);
    },
  };
}

export class NodeFailpoints {
  private readonly registry = new FailpointRegistry(systemRandom());
  /** The Environment's hook (src/core/env/environment.ts). */
  readonly hook: Failpoint;
  /** The node's clocks, which the clock points change: the Environment's clocks and its timers' (src/shell/node/runtime.ts). */
  readonly clocks: NodeClocks;

  constructor(
    private readonly log: Logger,
    effects: FailpointEffects = processFailpointEffects(log),
    initial: readonly FailpointSetting[] = [],
    clocks: NodeClocks = new NodeClocks(),
  ) {
    this.hook = registryFailpoint(this.registry, effects);
    this.clocks = clocks;
    for (const setting of initial) {
      const problem = this.set(setting);
      assert(problem === undefined, () => `an initial failpoint could not be set: ${problem}`);
    }
  }

  /**
   * Sets a point (replacing its actions, with fresh counts), or changes a clock. The setting must
   * be checked (parse*). A clock change the clock's state refuses (a bump beyond the offset's
   * limit) is the one line returned, and nothing changes.
   */
  set(setting: FailpointSetting): string | undefined {
    if (isClockPointName(setting.name)) {
      const clock = clockChangeOf(setting);
      assert(clock.ok, () => `clock point ${setting.name} was set unchecked`);
      if (clock.value.point === CLOCK_MONOTONIC_POINT) {
        this.clocks.changeMonotonic(clock.value.change);
      } else {
        const problem = this.clocks.changeWall(clock.value.change);
        if (problem !== undefined) return problem;
      }
    } else {
      this.registry.set(setting);
    }
    this.log.warn({ failpoint: setting.name, actions: renderFailpointActions(setting.tasks) }, "failpoint set");
    return undefined;
  }

  /** Switches a point off (a clock point: its clock is the host's again, from its current reading for the monotonic one); false when it was not set. */
  clear(name: string): boolean {
    const was = name === CLOCK_MONOTONIC_POINT ? this.clocks.clearMonotonic() : name === CLOCK_WALL_POINT ? this.clocks.clearWall() : this.registry.clear(name);
    if (was) this.log.warn({ failpoint: name }, "failpoint cleared");
    return was;
  }

  /** Every point set, clock points included (their actions are the clock's state now), in name order. */
  list(): FailpointStatus[] {
    const clockPoints: FailpointStatus[] = [];
    for (const [name, status] of [[CLOCK_MONOTONIC_POINT, this.clocks.monotonicStatus()], [CLOCK_WALL_POINT, this.clocks.wallStatus()]] as const) {
      if (status === undefined) continue;
      const task: FailpointTask = { partsPerMillion: PARTS_PER_MILLION, count: undefined, action: { kind: "return", arg: status.arg } };
      clockPoints.push({ name, tasks: [task], remaining: [undefined], evaluated: status.evaluated, fired: status.fired });
    }
    return [...this.registry.list(), ...clockPoints].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** How many registry points are set (FAILPOINT_POINTS_MAX at most; the clock points are not among them). */
  get activeCount(): number {
    return this.registry.activeCount;
  }
}
