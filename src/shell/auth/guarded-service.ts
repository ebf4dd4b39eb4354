// A service implementation whose every method first passes the gatekeeper: handlers are written
// as (request, caller, context) and never run without an admitted caller, so no method can forget
// the check, and a method without a handler is a startup failure. connect-node and the unary fast
// path call the same guarded implementation. Server-streaming methods (the VM API's Watch and
// Console) are admitted before their first message: a refused caller gets the error and no stream.
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

type Handler = (request: unknown, caller: Caller, context: HandlerContext) => unknown;

export function guardService<S extends DescService>(service: S, gate: Gatekeeper, handlers: GuardedHandlers<S>): ServiceImpl<S> {
  const implementation: Record<string, (request: unknown, context: HandlerContext) => unknown> = {};
  for (const method of service.methods) {
    assert(method.methodKind === "unary" || method.methodKind === "server_streaming", () => `${service.typeName}/${method.name}: only unary and server-streaming methods are guarded today`);
    const handler = (handlers as Record<string, unknown>)[method.localName];
    assert(typeof handler === "function", () => `${service.typeName}/${method.name} has no handler`);
    const key = methodKey(service, method.name);
    const admit = (context: HandlerContext): Caller => {
      const admitted = gate.admit(key, context.requestHeader.get("authorization"));
      if (admitted instanceof ConnectError) throw admitted;
      return admitted;
    };
    implementation[method.localName] =
      method.methodKind === "unary"
        ? async (request, context) => (handler as Handler)(request, admit(context), context)
        : async function* (request, context) {
            const caller = admit(context);
            yield* (handler as Handler)(request, caller, context) as AsyncIterable<unknown>;
          };
  }
  return implementation as unknown as ServiceImpl<S>;
}
