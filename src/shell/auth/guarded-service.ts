// A service implementation whose every method first passes the gatekeeper: handlers are written
// as (request, caller, context) and never run without an admitted caller, so no method can forget
// the check, and a method without a handler is a startup failure. connect-node and the unary fast
// path call the same guarded implementation.
import { ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { DescService } from "@bufbuild/protobuf";
import { assert } from "../../core/assert.ts";
import type { Caller, Gatekeeper } from "./gatekeeper.ts";
import { methodKey } from "./method-roles.ts";

export type GuardedHandlers<S extends DescService> = {
  [M in keyof ServiceImpl<S>]: ServiceImpl<S>[M] extends (request: infer Request, context: HandlerContext) => infer Response
    ? (request: Request, caller: Caller, context: HandlerContext) => Response
    : never;
};

export function guardService<S extends DescService>(service: S, gate: Gatekeeper, handlers: GuardedHandlers<S>): ServiceImpl<S> {
  const implementation: Record<string, (request: unknown, context: HandlerContext) => Promise<unknown>> = {};
  for (const method of service.methods) {
    assert(method.methodKind === "unary", () => `${service.typeName}/${method.name}: only unary methods are guarded today`);
    const handler = (handlers as Record<string, unknown>)[method.localName];
    assert(typeof handler === "function", () => `${service.typeName}/${method.name} has no handler`);
    const key = methodKey(service, method.name);
    implementation[method.localName] = async (request, context) => {
      const admitted = gate.admit(key, context.requestHeader.get("authorization"));
      if (admitted instanceof ConnectError) throw admitted;
      return (handler as (request: unknown, caller: Caller, context: HandlerContext) => unknown)(request, admitted, context);
    };
  }
  return implementation as unknown as ServiceImpl<S>;
}
