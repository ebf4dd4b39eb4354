// A real node's failpoints (docs/FAILPOINTS.md): the registry that BLIXARD_FAILPOINTS fills at
// start and the admin API (FailpointService) changes at run time, and the Environment's hook
// over it. The actions that leave the code at a point are carried out here, for a process:
//   print  a warn line in the log naming the point;
//   panic  the one-line fatal report and exit 5 (EXIT_INTERNAL_ERROR), as a failed assertion;
//   crash  SIGKILL to itself: no handler, no flush, no cleanup, as kill -9 from outside.
// Nothing set: the hook is one branch.

import type { Failpoint, Logger } from "../../core/env/environment.ts";
import { FailpointRegistry, type FailpointStatus } from "../../core/failpoints/failpoint-registry.ts";
import { parseFailpointActions, parseFailpointSpec, renderFailpointActions, type FailpointSetting } from "../../core/failpoints/failpoint-spec.ts";
import { checkedFailpointSettings, registryFailpoint, type FailpointEffects } from "../../core/failpoints/registry-failpoint.ts";
import { EXIT_INTERNAL_ERROR, reportFatal } from "../cli/fatal-exit.ts";
import { systemRandom } from "../os/system-environment.ts";

/** The environment variable a node reads at start. */
export const FAILPOINTS_ENV = "BLIXARD_FAILPOINTS";

export type FailpointsResult<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** `name=actions;...` checked against the catalogue: the settings, or one line naming the column or the point. */
export function parseNodeFailpoints(text: string): FailpointsResult<readonly FailpointSetting[]> {
  const parsed = parseFailpointSpec(text);
  if (!parsed.ok) return parsed;
  return checkedFailpointSettings(parsed.value);
}

/** One point's actions (`20%3*return(EIO)->off`) checked against the catalogue. */
export function parsePointActions(name: string, actions: string): FailpointsResult<FailpointSetting> {
  const parsed = parseFailpointActions(actions);
  if (!parsed.ok) return parsed;
  const checked = checkedFailpointSettings([{ name, tasks: parsed.value }]);
  return checked.ok ? { ok: true, value: checked.value[0]! } : checked;
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

  constructor(
    private readonly log: Logger,
    effects: FailpointEffects = processFailpointEffects(log),
    initial: readonly FailpointSetting[] = [],
  ) {
    this.hook = registryFailpoint(this.registry, effects);
    for (const setting of initial) this.set(setting);
  }

  /** Sets a point (replacing its actions, with fresh counts). The setting must be checked (parse*). */
  set(setting: FailpointSetting): void {
    this.registry.set(setting);
    this.log.warn({ failpoint: setting.name, actions: renderFailpointActions(setting.tasks) }, "failpoint set");
  }

  /** Switches a point off; false when it was not set. */
  clear(name: string): boolean {
    const was = this.registry.clear(name);
    if (was) this.log.warn({ failpoint: name }, "failpoint cleared");
    return was;
  }

  list(): FailpointStatus[] {
    return this.registry.list();
  }

  /** How many points are set (FAILPOINT_POINTS_MAX at most). */
  get activeCount(): number {
    return this.registry.activeCount;
  }
}
