// The Environment's failpoint hook over a FailpointRegistry (a real node's points, set by
// BLIXARD_FAILPOINTS or the admin API): the registry decides which action a point takes, and
// this turns it into what the code at the point acts on (a FailpointVerdict), carrying out
// itself the actions the code never sees: print (a log line), panic and crash (through the
// effects the shell hands in: they do not return). Nothing set costs one branch.
//
// Which actions a point accepts is checked when it is set (checkedFailpointSettings), so an
// action the catalogue refuses at a point never reaches evaluation: asserted.

import { assert } from "../assert.ts";
import type { Failpoint, FailpointVerdict } from "../env/environment.ts";
import { failpointActionProblem, isFailpointName } from "../env/failpoints.ts";
import type { FailpointRegistry } from "./failpoint-registry.ts";
import type { FailpointSetting } from "./failpoint-spec.ts";

/** What the shell does for the actions that leave the code at the point. */
export interface FailpointEffects {
  print(name: string, message: string | undefined): void;
  /** The process stops as on a failed assertion: one line, the internal-error exit code. Does not return. */
  panic(name: string, message: string | undefined): never;
  /** The process dies at once, as kill -9 would. Does not return. */
  crash(name: string): never;
}

export function registryFailpoint(registry: FailpointRegistry, effects: FailpointEffects): Failpoint {
  return (name) => {
    // Off: the one branch.
    if (registry.activeCount === 0) return undefined;
    const action = registry.evaluate(name);
    if (action === undefined) return undefined;
    switch (action.kind) {
      case "off":
        return undefined;
      case "print":
        effects.print(name, action.arg);
        return undefined;
      case "panic":
        return effects.panic(name, action.arg);
      case "crash":
        return effects.crash(name);
      case "return":
      case "sleep":
      case "delay":
      case "pause": {
        const problem = failpointActionProblem(name, action);
        assert(problem === undefined, () => `failpoint ${name} was set with an action it refuses: ${problem}`);
        return verdictOf(registry, name, action);
      }
      default: {
        const unreachable: never = action;
        return unreachable;
      }
    }
  };
}

function verdictOf(registry: FailpointRegistry, name: string, action: { kind: "return"; arg: string | undefined } | { kind: "sleep" | "delay"; ms: number } | { kind: "pause" }): FailpointVerdict {
  if (action.kind === "return") return { kind: "return", arg: action.arg };
  if (action.kind === "pause") {
    // fail-rs: a paused path goes on when its point is changed or cleared.
    return {
      kind: "pause",
      resume: (callback) => {
        const stop = registry.onChange((changed) => {
          if (changed !== name) return;
          stop();
          callback();
        });
      },
    };
  }
  return { kind: "delay", ms: action.ms };
}

/**
 * The settings when every one names a catalogued point with actions it accepts, else the one
 * line naming the first that does not (operator input: the caller reports it, exit 2 or
 * InvalidArgument).
 */
export function checkedFailpointSettings(settings: readonly FailpointSetting[]): { readonly ok: true; readonly value: readonly FailpointSetting[] } | { readonly ok: false; readonly error: string } {
  for (const setting of settings) {
    if (!isFailpointName(setting.name)) return { ok: false, error: failpointActionProblem(setting.name, { kind: "off" })! };
    for (const task of setting.tasks) {
      const problem = failpointActionProblem(setting.name, task.action);
      if (problem !== undefined) return { ok: false, error: problem };
    }
  }
  return { ok: true, value: settings };
}
