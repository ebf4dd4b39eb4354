// One transport over several endpoints of one cluster (the context file's list, or a comma list
// in --endpoint): a call goes to the first endpoint, and moves on to the next only when the
// connection was refused. A refused connection carried no byte of the request, so the call is
// certainly not applied there and trying the next member is safe for every method, writes
// included; any other failure (a timeout, a reset after sending) is the caller's to judge, as
// before. The endpoint that answered last is tried first next time.
import { Code, ConnectError, type ContextValues, type StreamResponse, type Transport } from "@connectrpc/connect";
import type { DescMessage, DescMethodStreaming, MessageInitShape } from "@bufbuild/protobuf";
import { assert } from "../../core/assert.ts";

/** Endpoints one client may fail over across (a cluster has at most a few voters to try). */
export const FAILOVER_ENDPOINTS_MAX = 16;

/** Whether nothing of the request left: the connection itself was refused (or the address has no listener). */
export function connectionRefused(error: unknown): boolean {
  if (!(error instanceof ConnectError) || error.code !== Code.Unavailable) return false;
  const codes = new Set<string>();
  for (let cause: unknown = error.cause, depth = 0; cause !== undefined && cause !== null && depth < 4; depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === "string") codes.add(code);
    cause = (cause as { cause?: unknown }).cause;
  }
  return codes.has("ECONNREFUSED") || /\bECONNREFUSED\b/.test(error.rawMessage);
}

async function* replay<T>(items: readonly T[]): AsyncIterable<T> {
  for (const item of items) yield item;
}

export function createFailoverTransport(transports: readonly Transport[]): Transport {
  assert(transports.length >= 1 && transports.length <= FAILOVER_ENDPOINTS_MAX, "a failover transport has 1 to FAILOVER_ENDPOINTS_MAX endpoints");
  let preferred = 0;
  async function attempt<R>(call: (transport: Transport) => Promise<R>): Promise<R> {
    let lastError: unknown;
    for (let tried = 0; tried < transports.length; tried++) {
      const index = (preferred + tried) % transports.length;
      try {
        const result = await call(transports[index]!);
        preferred = index;
        return result;
      } catch (error) {
        if (!connectionRefused(error)) throw error;
        lastError = error;
      }
    }
    assert(lastError !== undefined, "every endpoint was tried");
    throw lastError;
  }
  return {
    unary: (method, signal, timeoutMs, header, input, contextValues) => attempt((transport) => transport.unary(method, signal, timeoutMs, header, input, contextValues)),
    async stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: Parameters<Transport["stream"]>[3],
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ): Promise<StreamResponse<I, O>> {
      // The client's messages are read once and replayed to each endpoint tried (the CLI's streams send one).
      const messages: Array<MessageInitShape<I>> = [];
      for await (const message of input) messages.push(message);
      return attempt((transport) => transport.stream(method, signal, timeoutMs, header, replay(messages), contextValues));
    },
  };
}
