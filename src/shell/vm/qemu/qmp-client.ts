// A client of QEMU's QMP (QEMU Machine Protocol, docs/interop/qmp-spec.rst) on a unix socket:
// one JSON object per line each way. The server greets ({"QMP": {...}}), the client enters
// command mode with qmp_capabilities, then each command is {"execute", "arguments", "id"} and
// is answered by {"return", "id"} or {"error": {"class", "desc"}, "id"}; asynchronous events
// ({"event", "data", "timestamp"}: SHUTDOWN, POWERDOWN, STOP, RESUME, ...) may come between.
// Every request carries its own id, so an answer that arrives after its request timed out is
// recognised and dropped instead of being taken for the next request's answer.
//
// Bounded: a line longer than lineBytesMax closes the connection (a broken or hostile peer), at
// most pendingMax requests wait at once, every request and the greeting have a timeout.

import { createConnection, type Socket } from "node:net";
import { assert } from "../../../core/assert.ts";

export const QMP_LIMITS = {
  /** QEMU's own replies are small; query-qmp-schema is the largest at about 200 KiB. */
  lineBytesMax: 1024 * 1024,
  pendingMax: 64,
  timeoutMsDefault: 5_000,
  /** How often connect() retries while the socket is not there yet (QEMU still starting). */
  connectRetryIntervalMs: 20,
} as const;

/** An error answer from QEMU: `qmpClass` is QMP's class (GenericError, CommandNotFound, DeviceNotActive, ...). */
export class QmpError extends Error {
  constructor(
    readonly command: string,
    readonly qmpClass: string,
    readonly description: string,
  ) {
    super(`QMP ${command}: ${qmpClass}: ${description}`);
    this.name = "QmpError";
  }
}

/** The connection failed, closed, timed out or spoke something other than QMP. */
export class QmpTransportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QmpTransportError";
  }
}

export interface QmpEvent {
  readonly event: string;
  readonly data: Readonly<Record<string, unknown>>;
  /** QEMU's host wall clock at the event. */
  readonly timestamp: { readonly seconds: number; readonly microseconds: number };
}

export interface QmpGreeting {
  readonly version: { readonly qemu: { readonly major: number; readonly minor: number; readonly micro: number }; readonly package: string };
  readonly capabilities: readonly string[];
}

export interface QmpConnectOptions {
  /** For the greeting and qmp_capabilities, after the socket connected. */
  readonly timeoutMs?: number;
  /** Keep retrying a missing or refusing socket this long (QEMU creates it shortly after it starts). */
  readonly connectRetryMs?: number;
  readonly lineBytesMax?: number;
  readonly pendingMax?: number;
  /** Every asynchronous event, in arrival order. */
  readonly onEvent?: (event: QmpEvent) => void;
  /** Once, when the connection is gone (the error says why, undefined for close()). */
  readonly onClose?: (error: QmpTransportError | undefined) => void;
}

interface Pending {
  readonly command: string;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function openSocket(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    const onError = (error: Error): void => reject(error);
    socket.once("error", onError);
    socket.once("connect", () => {
      socket.off("error", onError);
      resolve(socket);
    });
  });
}

export class QmpClient {
  private buffer = "";
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closedError: QmpTransportError | undefined;
  private closed = false;
  private greetingWaiter: { resolve: (greeting: QmpGreeting) => void; reject: (error: Error) => void } | undefined;
  greeting: QmpGreeting | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly options: QmpConnectOptions,
  ) {
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => this.receive(chunk));
    socket.on("error", (error) => this.fail(new QmpTransportError(`QMP socket: ${error.message}`)));
    socket.on("close", () => this.fail(new QmpTransportError("QMP connection closed")));
  }

  /** Connects, reads the greeting and enters command mode (qmp_capabilities). */
  static async connect(path: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = options.timeoutMs ?? QMP_LIMITS.timeoutMsDefault;
    const retryUntil = Date.now() + (options.connectRetryMs ?? 0);
    let socket: Socket;
    for (;;) {
      try {
        socket = await openSocket(path);
        break;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if ((code === "ENOENT" || code === "ECONNREFUSED") && Date.now() < retryUntil) {
          await delay(QMP_LIMITS.connectRetryIntervalMs);
          continue;
        }
        throw new QmpTransportError(`QMP connect ${path}: ${(error as Error).message}`);
      }
    }
    const client = new QmpClient(socket, options);
    try {
      client.greeting = await client.awaitGreeting(timeoutMs);
      await client.execute("qmp_capabilities", undefined, timeoutMs);
    } catch (error) {
      client.close();
      throw error;
    }
    return client;
  }

  private awaitGreeting(timeoutMs: number): Promise<QmpGreeting> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.greetingWaiter = undefined;
        reject(new QmpTransportError(`QMP: no greeting within ${timeoutMs} ms`));
      }, timeoutMs);
      this.greetingWaiter = {
        resolve: (greeting) => {
          clearTimeout(timer);
          resolve(greeting);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      if (this.closedError !== undefined) this.greetingWaiter.reject(this.closedError);
    });
  }

  /** Runs one command; resolves with its "return" value, rejects with a QmpError (QEMU said no) or a QmpTransportError. */
  execute(command: string, args?: Readonly<Record<string, unknown>>, timeoutMs: number = this.options.timeoutMs ?? QMP_LIMITS.timeoutMsDefault): Promise<unknown> {
    assert(command !== "" && timeoutMs > 0, "QmpClient.execute: a command and a positive timeout");
    if (this.closed) return Promise.reject(this.closedError ?? new QmpTransportError("QMP client closed"));
    const pendingMax = this.options.pendingMax ?? QMP_LIMITS.pendingMax;
    if (this.pending.size >= pendingMax) return Promise.reject(new QmpTransportError(`QMP ${command}: ${pendingMax} requests already pending`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpTransportError(`QMP ${command}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { command, resolve, reject, timer });
      const message = args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
      this.socket.write(`${JSON.stringify(message)}\n`);
    });
  }

  /** Closes the connection; pending requests fail. */
  close(): void {
    this.fail(undefined);
    this.socket.destroy();
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  private receive(chunk: string): void {
    if (this.closed) return;
    this.buffer += chunk;
    const lineBytesMax = this.options.lineBytesMax ?? QMP_LIMITS.lineBytesMax;
    for (;;) {
      const newline = this.buffer.indexOf("\n");
      if (newline < 0) break;
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (line.length > lineBytesMax) return this.abort(`QMP: a line of ${line.length} bytes, over ${lineBytesMax}`);
      if (line !== "") this.handle(line);
      if (this.closed) return;
    }
    if (this.buffer.length > lineBytesMax) this.abort(`QMP: a line of over ${lineBytesMax} bytes`);
  }

  private handle(line: string): void {
    let message: Record<string, unknown>;
    try {
      const value: unknown = JSON.parse(line);
      if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("not an object");
      message = value as Record<string, unknown>;
    } catch (error) {
      return this.abort(`QMP: not a JSON object: ${(error as Error).message}`);
    }
    if ("QMP" in message) {
      const waiter = this.greetingWaiter;
      this.greetingWaiter = undefined;
      waiter?.resolve(message.QMP as QmpGreeting);
      return;
    }
    if (typeof message.event === "string") {
      const timestamp = (message.timestamp ?? { seconds: 0, microseconds: 0 }) as QmpEvent["timestamp"];
      this.options.onEvent?.({ event: message.event, data: (message.data ?? {}) as Record<string, unknown>, timestamp });
      return;
    }
    const id = message.id;
    if (typeof id !== "number") return; // An answer without our id: not to any request of ours.
    const request = this.pending.get(id);
    if (request === undefined) return; // Its request timed out already.
    this.pending.delete(id);
    clearTimeout(request.timer);
    if ("return" in message) {
      request.resolve(message.return);
    } else if (message.error !== null && typeof message.error === "object") {
      const error = message.error as { class?: unknown; desc?: unknown };
      request.reject(new QmpError(request.command, String(error.class ?? "GenericError"), String(error.desc ?? "")));
    } else {
      request.reject(new QmpTransportError(`QMP ${request.command}: an answer with neither return nor error`));
    }
  }

  private abort(reason: string): void {
    this.fail(new QmpTransportError(reason));
    this.socket.destroy();
  }

  private fail(error: QmpTransportError | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.closedError = error ?? new QmpTransportError("QMP client closed");
    this.greetingWaiter?.reject(this.closedError);
    this.greetingWaiter = undefined;
    for (const request of this.pending.values()) {
      clearTimeout(request.timer);
      request.reject(this.closedError);
    }
    this.pending.clear();
    this.options.onClose?.(error);
    assert(this.pending.size === 0, "QmpClient: nothing pending once closed");
  }
}
