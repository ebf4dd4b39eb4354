// The host backend's side of guard.sock (the GuardRequest protocol of src/shell/vm/launch-plan.ts):
// one request and its answer, or a watch that delivers every GuardState until the guard exits.
// Lines are bounded (GUARD_LINE_BYTES_MAX) and every request has a deadline.

import { createConnection, type Socket } from "node:net";
import { assert } from "../../../core/assert.ts";
import { GUARD_LINE_BYTES_MAX, type GuardRequest, type GuardResponse, type GuardState } from "../launch-plan.ts";

export type GuardAnswer = GuardResponse | { readonly ok: false; readonly error: string; readonly unreachable: true };

/** Sends one request; the answer, or {unreachable} when nothing answered (no guard, or one that is hung). */
export function guardRequest(socketPath: string, request: GuardRequest, timeoutMs: number): Promise<GuardAnswer> {
  assert(request.op !== "watch", "a watch is guardWatch's");
  assert(Number.isSafeInteger(timeoutMs) && timeoutMs > 0, "a guard request has a deadline");
  return new Promise((resolve) => {
    const socket = createConnection(socketPath);
    let buffered = "";
    const done = (answer: GuardAnswer): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done({ ok: false, error: `guard: no answer to ${request.op} within ${timeoutMs} ms`, unreachable: true }), timeoutMs);
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on("error", (error) => done({ ok: false, error: `guard: ${error.message}`, unreachable: true }));
    socket.on("close", () => done({ ok: false, error: "guard closed the connection", unreachable: true }));
    socket.on("data", (chunk: string) => {
      buffered += chunk;
      const newline = buffered.indexOf("\n");
      if (newline >= 0) return done(parseResponse(buffered.slice(0, newline)));
      if (buffered.length > GUARD_LINE_BYTES_MAX) done({ ok: false, error: "guard: answer too long", unreachable: true });
    });
  });
}

export interface GuardWatchHandlers {
  /** Every state the guard sends, the current one first. */
  readonly onState: (state: GuardState) => void;
  /** The connection ended: connected=false when it never connected (no guard listening). */
  readonly onClose: (connected: boolean, error: string) => void;
}

/** Opens a watch; returns the socket (destroy it to stop watching). */
export function guardWatch(socketPath: string, handlers: GuardWatchHandlers): Socket {
  const socket = createConnection(socketPath);
  let connected = false;
  let buffered = "";
  let lastError = "";
  socket.setEncoding("utf8");
  socket.on("connect", () => {
    connected = true;
    socket.write(`${JSON.stringify({ op: "watch" } satisfies GuardRequest)}\n`);
  });
  socket.on("error", (error) => {
    lastError = error.message;
  });
  socket.on("close", () => handlers.onClose(connected, lastError));
  socket.on("data", (chunk: string) => {
    buffered += chunk;
    let newline = buffered.indexOf("\n");
    while (newline >= 0) {
      const answer = parseResponse(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf("\n");
      if (answer.ok) handlers.onState(answer.state);
      else lastError = answer.error;
    }
    if (buffered.length > GUARD_LINE_BYTES_MAX) {
      lastError = "guard: watch line too long";
      socket.destroy();
    }
  });
  return socket;
}

function parseResponse(line: string): GuardAnswer {
  try {
    const parsed = JSON.parse(line) as GuardResponse;
    if (parsed.ok === true && typeof parsed.state === "object" && parsed.state !== null) return parsed;
    if (parsed.ok === false && typeof parsed.error === "string") return parsed;
  } catch {
    // below
  }
  return { ok: false, error: `guard: unreadable answer ${line.slice(0, 80)}`, unreachable: true };
}

/**
 * Hands a spare guard (vm-guard.mjs --spare <socket>) its VM directory; true once it has taken
 * it (it is that VM's guard from then on), false when no spare answered in time.
 */
export function guardHandOff(spareSocketPath: string, vmDir: string, timeoutMs: number): Promise<boolean> {
  assert(Number.isSafeInteger(timeoutMs) && timeoutMs > 0, "a hand-off has a deadline");
  return new Promise((resolve) => {
    const socket = createConnection(spareSocketPath);
    let buffered = "";
    const done = (taken: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(taken);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.setEncoding("utf8");
    socket.on("connect", () => socket.write(`${JSON.stringify({ vmDir })}\n`));
    socket.on("error", () => done(false));
    socket.on("close", () => done(false));
    socket.on("data", (chunk: string) => {
      buffered += chunk;
      const newline = buffered.indexOf("\n");
      if (newline < 0) return buffered.length > GUARD_LINE_BYTES_MAX ? done(false) : undefined;
      try {
        done((JSON.parse(buffered.slice(0, newline)) as { ok?: unknown }).ok === true);
      } catch {
        done(false);
      }
    });
  });
}
