// The models by name, as the `blixard check --model NAME` option knows them.
import type { SomeModel } from "../model.ts";
import type { Value } from "../value.ts";
import { counterModel } from "./counter.ts";
import { kvModel } from "./kv.ts";
import { multiRegisterModel } from "./multi-register.ts";
import { mutexModel } from "./mutex.ts";
import { registerModel } from "./register.ts";
import { setModel } from "./set.ts";
import { vmRegistryModel } from "./vm-registry.ts";

export type ModelName = "register" | "cas-register" | "multi-register" | "kv" | "set" | "counter" | "mutex" | "vm-registry";
export const MODEL_NAMES: readonly ModelName[] = ["register", "cas-register", "multi-register", "kv", "set", "counter", "mutex", "vm-registry"];

export interface ModelOptions {
  /** Initial value for register, cas-register and multi-register (default 0); null (nil) starts a register absent. */
  readonly initial?: Value;
}

export function isModelName(name: string): name is ModelName {
  return (MODEL_NAMES as readonly string[]).includes(name);
}

/** A fresh model instance (models intern values, so use one instance per history). */
export function createModel(name: ModelName, options: ModelOptions = {}): SomeModel {
  switch (name) {
    case "register":
      return registerModel({ initial: options.initial, withCas: false }) as unknown as SomeModel;
    case "cas-register":
      return registerModel({ initial: options.initial, withCas: true }) as unknown as SomeModel;
    case "multi-register":
      return multiRegisterModel({ initial: options.initial }) as unknown as SomeModel;
    case "kv":
      return kvModel() as unknown as SomeModel;
    case "set":
      return setModel() as unknown as SomeModel;
    case "counter":
      return counterModel() as unknown as SomeModel;
    case "mutex":
      return mutexModel() as unknown as SomeModel;
    case "vm-registry":
      return vmRegistryModel() as unknown as SomeModel;
  }
}

export { counterModel, kvModel, multiRegisterModel, mutexModel, registerModel, setModel, vmRegistryModel };
