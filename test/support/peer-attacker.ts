// A hostile peer for the attack tests (test/shell/os/tcp-transport-tls.test.ts on transports in
// process, test/e2e/peer-attacks.test.ts on real nodes): the bytes of a forged hello and forged
// Raft messages, and one bounded connection that sends them and reports how it ended.
import net from "node:net";
import tls from "node:tls";
import { CHANNEL_TAG_BYTES, encodeChannelFrame } from "../../src/core/wire/channel-frame.ts";
import { encodeHello, encodeMessage, WIRE_VERSION } from "../../src/core/wire/codec.ts";
import { DEFAULT_MAX_FRAME_BYTES, encodeFrame } from "../../src/core/wire/frame.ts";
import { encodeKvCommand } from "../../src/core/replica/kv-state-machine.ts";
import type { Message, NodeId } from "../../src/core/raft/types.ts";

export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function helloFrame(clusterId: string, from: NodeId, to: NodeId): Uint8Array {
  return encodeFrame(encodeHello({ kind: "hello", version: WIRE_VERSION, clusterId, from, to }));
}

export function raftFrame(message: Message): Uint8Array {
  return encodeChannelFrame("raft", encodeMessage(message), DEFAULT_MAX_FRAME_BYTES - CHANNEL_TAG_BYTES);
}

/** The attack of issue #12: a hello claiming `from`, then an append at term 2000 that commits a put of `key`. */
export function forgedAppend(clusterId: string, from: NodeId, to: NodeId, lastIndex: number, key: string): Uint8Array {
  const data = encodeKvCommand({ op: "put", key, value: "forged" });
  const append: Message = {
    type: "append",
    from,
    to,
    term: 2000,
    prevLogIndex: 0,
    prevLogTerm: 0,
    // A log that replaces the target's from index 1, committed at once: what a forger would try.
    entries: Array.from({ length: lastIndex + 1 }, (_, i) => ({ term: 2000, index: i + 1, type: "normal" as const, data })),
    commit: lastIndex + 1,
    readContext: 0,
  };
  return concatBytes([helloFrame(clusterId, from, to), raftFrame(append)]);
}

/** The forged heartbeat of issue #12: term 1000 from `from`. */
export function forgedHeartbeat(clusterId: string, from: NodeId, to: NodeId): Uint8Array {
  return concatBytes([helloFrame(clusterId, from, to), raftFrame({ type: "heartbeat", from, to, term: 1000, commit: 0, readContext: 0 })]);
}

export type AttackCredentials = "plain" | { readonly caPem?: string; readonly certPem?: string; readonly keyPem?: string };

export interface AttackResult {
  /** The other side closed (or reset) the connection before the deadline. */
  readonly closedByPeer: boolean;
  /** The TLS handshake completed (the attacker got past certificate checks). */
  readonly secured: boolean;
  readonly elapsedMs: number;
  readonly error: string | undefined;
}

/**
 * Connects (plain TCP, or TLS with the given credentials, never checking the server), writes
 * `bytes` (all at once, or `trickleMs` apart one byte at a time), and waits at most `deadlineMs`
 * for the peer to close. Always destroys its socket before resolving.
 */
export function attack(address: string, credentials: AttackCredentials, bytes: Uint8Array, deadlineMs: number, trickleMs?: number): Promise<AttackResult> {
  const [host, port] = address.split(":");
  const started = Date.now();
  return new Promise((resolve) => {
    let secured = false;
    let error: string | undefined;
    let trickle: NodeJS.Timeout | undefined;
    const socket =
      credentials === "plain"
        ? net.connect({ host: host!, port: Number(port) })
        : tls.connect({ host: host!, port: Number(port), ca: credentials.caPem, cert: credentials.certPem, key: credentials.keyPem, rejectUnauthorized: false });
    const finish = (closedByPeer: boolean): void => {
      clearTimeout(timer);
      clearInterval(trickle);
      socket.destroy();
      resolve({ closedByPeer, secured, elapsedMs: Date.now() - started, error });
    };
    const timer = setTimeout(() => finish(false), deadlineMs);
    socket.on("error", (e) => (error = e.message));
    socket.on("close", () => finish(true));
    socket.on("data", () => undefined);
    socket.once(credentials === "plain" ? "connect" : "secureConnect", () => {
      secured = credentials !== "plain";
      if (trickleMs === undefined) {
        socket.write(bytes);
        return;
      }
      let next = 0;
      trickle = setInterval(() => {
        if (next < bytes.length && !socket.destroyed) socket.write(bytes.subarray(next, ++next));
      }, trickleMs);
    });
  });
}

export interface FloodResult {
  readonly closedByPeer: boolean;
  /** Bytes handed to the socket before it closed (the kernel's buffers hold some of them; the peer read fewer). */
  readonly bytesWritten: number;
  readonly elapsedMs: number;
}

/**
 * Connects like attack() and writes `first`, then zeros in 64 KiB chunks (respecting back
 * pressure) until `totalBytes` are written, the peer closes, or `deadlineMs` passes.
 */
export function flood(address: string, credentials: AttackCredentials, first: Uint8Array, totalBytes: number, deadlineMs: number): Promise<FloodResult> {
  const [host, port] = address.split(":");
  const started = Date.now();
  const chunk = new Uint8Array(64 * 1024);
  return new Promise((resolve) => {
    let bytesWritten = 0;
    let done = false;
    const socket =
      credentials === "plain"
        ? net.connect({ host: host!, port: Number(port) })
        : tls.connect({ host: host!, port: Number(port), ca: credentials.caPem, cert: credentials.certPem, key: credentials.keyPem, rejectUnauthorized: false });
    const finish = (closedByPeer: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ closedByPeer, bytesWritten, elapsedMs: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), deadlineMs);
    const pump = (): void => {
      while (!done && !socket.destroyed && bytesWritten < totalBytes) {
        bytesWritten += chunk.length;
        if (!socket.write(chunk)) return void socket.once("drain", pump);
      }
    };
    socket.on("error", () => undefined);
    socket.on("close", () => finish(true));
    socket.on("data", () => undefined);
    socket.once(credentials === "plain" ? "connect" : "secureConnect", () => {
      socket.write(first);
      bytesWritten += first.length;
      pump();
    });
  });
}
