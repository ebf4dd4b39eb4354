// The catalogue of failpoints (Environment.failpoint, fail-rs / BUGGIFY style): every named
// point, where it is, what each action means there, and what the simulator does when it fires
// one. docs/FAILPOINTS.md is the reader's version of this table.
//
// Names are dotted: `area.operation` fires BEFORE the operation (it can replace it: the
// operation fails or is lost), `area.operation.after` once the operation has been done.
//
// Which actions a point takes is part of its entry, checked when a point is set (a real node:
// BLIXARD_FAILPOINTS or the admin API), never when it fires:
//   off, print, panic, crash  every point (the Environment carries them out: the code at the
//                             point never sees them);
//   return(ARG)               only where `returns` says what the error path is;
//   sleep(MS), delay(MS)      only where `waits` is set: "timer" points complete later through
//                             the Environment's timers (the core never sleeps), "async" points
//                             are shell code that awaits;
//   pause                     only at "async" points: a synchronous core caller cannot wait.
//
// In simulation the driver (src/core/sim/failpoint-driver.ts) fires a point with the action
// `simulated`. A firing the simulated world could not produce on its own (`beyondFaultModel`:
// a disk that answers EIO, when SimDisk never does) is reported as an injected fault on its
// node, so checks that trust the fault model (Clean Disk Starts, Restartable) excuse that node
// instead of blaming honest code.

import type { FailpointAction } from "../failpoints/failpoint-spec.ts";

export interface FailpointInfo {
  /** Where the point is evaluated. */
  readonly site: string;
  /** What the point stands for, in a line. */
  readonly summary: string;
  /** What return(ARG) does there; undefined: return is refused at set time. */
  readonly returns: string | undefined;
  /** "timer": sleep/delay postpone the operation's completion; "async": a shell point that awaits (sleep and pause); undefined: neither. */
  readonly waits: "timer" | "async" | undefined;
  /** The action the simulator takes when the point fires. */
  readonly simulated: FailpointAction;
  /** The simulated firing is outside SimDisk's and SimNetwork's fault model: an injected fault. */
  readonly beyondFaultModel: boolean;
}

const EIO: FailpointAction = { kind: "return", arg: "EIO" };
const RETURN: FailpointAction = { kind: "return", arg: undefined };
const CRASH: FailpointAction = { kind: "crash" };

export const FAILPOINTS = {
  "storage.write": {
    site: "src/core/failpoints/failpoint-disk.ts, write()",
    summary: "a write to the data directory",
    returns: "the write fails with DiskError ARG (EIO by default; ENOSPC takes the full-disk path) before any byte lands",
    waits: undefined,
    simulated: EIO,
    beyondFaultModel: true,
  },
  "storage.write.after": {
    site: "src/core/failpoints/failpoint-disk.ts, write()",
    summary: "a write that has reached the file (not yet durable)",
    returns: "the write reports DiskError ARG although its bytes landed: the storage must undo it",
    waits: undefined,
    simulated: EIO,
    beyondFaultModel: true,
  },
  "storage.fsync": {
    site: "src/core/failpoints/failpoint-disk.ts, sync() and syncDirectory()",
    summary: "an fsync of a file or of the data directory",
    returns: "the fsync completes with DiskError ARG without making anything durable",
    waits: "timer",
    simulated: EIO,
    beyondFaultModel: true,
  },
  "storage.fsync.after": {
    site: "src/core/failpoints/failpoint-disk.ts, sync() and syncDirectory()",
    summary: "an fsync that succeeded, before its caller hears so",
    returns: "the fsync reports DiskError ARG although the data is durable (a lost completion)",
    waits: "timer",
    simulated: { kind: "delay", ms: 50 },
    beyondFaultModel: false,
  },
  "storage.rename": {
    site: "src/core/failpoints/failpoint-disk.ts, rename()",
    summary: "an atomic replace (hard state, snapshot, identity files)",
    returns: "the rename fails with DiskError ARG; the old file stays",
    waits: undefined,
    simulated: EIO,
    beyondFaultModel: true,
  },
  "storage.snapshot-write": {
    site: "src/core/storage/raft-storage.ts, writing a snapshot file (own or received)",
    summary: "a snapshot file is about to be written",
    returns: "writing the snapshot fails with DiskError ARG",
    waits: undefined,
    simulated: EIO,
    beyondFaultModel: true,
  },
  "raft.persist": {
    site: "src/core/replica/replica.ts, startReady(), before storage.persist",
    summary: "a Ready (entries, hard state, snapshot) is about to be persisted",
    returns: "the persist fails as an I/O error of the storage: the node stops (a real node exits 4)",
    waits: undefined,
    simulated: CRASH,
    beyondFaultModel: false,
  },
  "raft.persist.after": {
    site: "src/core/replica/replica.ts, onPersisted(), after the persist, before the Ready's messages are sent",
    summary: "a Ready is durable; its votes and acknowledgements have not left",
    returns: "the Ready's messages are lost, as a lossy network would lose them",
    waits: undefined,
    simulated: CRASH,
    beyondFaultModel: false,
  },
  "raft.apply": {
    site: "src/core/replica/replica.ts, applyReady(), before committed entries are applied",
    summary: "committed entries are about to be applied",
    returns: undefined,
    waits: undefined,
    simulated: CRASH,
    beyondFaultModel: false,
  },
  "raft.snapshot-early": {
    site: "src/core/replica/replica.ts, maybeSnapshot()",
    summary: "the replica decides whether to snapshot and compact its log",
    returns: "the replica snapshots and compacts at once, whatever snapshotEveryEntries says",
    waits: undefined,
    simulated: RETURN,
    beyondFaultModel: false,
  },
  "net.send": {
    site: "src/core/replica/raft-channel.ts, send(): every Raft message a node sends",
    summary: "a Raft message is about to be handed to the transport",
    returns: "the message is refused as if the peer's send queue were full; Raft retransmits",
    waits: "timer",
    simulated: RETURN,
    beyondFaultModel: false,
  },
  "net.receive": {
    site: "src/core/replica/raft-channel.ts, the raft channel's receiver",
    summary: "a well-formed Raft message arrived from a peer",
    returns: "the message is dropped, as if lost on the way",
    waits: undefined,
    simulated: RETURN,
    beyondFaultModel: false,
  },
  "agent.backend": {
    site: "src/core/agent/node-agent.ts, carryOut(), before a VM backend call",
    summary: "the node agent is about to call its VM backend (create, start, stop, kill, delete, list, arm-fence, probe)",
    returns: "the call is lost: the backend never hears it, and the reconciler must notice",
    waits: undefined,
    simulated: CRASH,
    beyondFaultModel: false,
  },
  "agent.backend.after": {
    site: "src/core/agent/node-agent.ts, the backend's report handler",
    summary: "a VM backend reported the outcome of a call",
    returns: "the report is lost before the agent reads it",
    waits: undefined,
    simulated: CRASH,
    beyondFaultModel: false,
  },
  "vm.start": {
    site: "src/shell/vm/host-backend.ts, start(), once the start is accepted, before the launch",
    summary: "a real VM (or process) is about to be launched",
    returns: "the start is refused before the VM launches (start-refused, not-startable, naming the failpoint)",
    waits: "async",
    simulated: CRASH,
    beyondFaultModel: false,
  },
  "vm.stop": {
    site: "src/shell/vm/host-backend.ts, stop(), before the guard is asked to stop the VM",
    summary: "a real VM is about to be asked to stop",
    returns: "the stop request is lost: the VM keeps running",
    waits: "async",
    simulated: CRASH,
    beyondFaultModel: false,
  },
} as const satisfies Record<string, FailpointInfo>;

export type FailpointName = keyof typeof FAILPOINTS;
export const FAILPOINT_NAMES: readonly FailpointName[] = (Object.keys(FAILPOINTS) as FailpointName[]).sort();

export function isFailpointName(name: string): name is FailpointName {
  return Object.hasOwn(FAILPOINTS, name);
}

export function failpointInfo(name: FailpointName): FailpointInfo {
  return FAILPOINTS[name];
}

/**
 * Why `action` cannot be set at `name` (one line for the operator), or undefined when it can.
 * The same rule on every path: the environment variable, the admin API and the simulator.
 */
export function failpointActionProblem(name: string, action: FailpointAction): string | undefined {
  if (!isFailpointName(name)) return `no failpoint "${name.slice(0, 60)}" (known: ${FAILPOINT_NAMES.join(", ")})`;
  const info: FailpointInfo = FAILPOINTS[name];
  switch (action.kind) {
    case "off":
    case "print":
    case "panic":
    case "crash":
      return undefined;
    case "return":
      return info.returns === undefined ? `${name} takes no return (${info.summary}: there is no error path)` : undefined;
    case "sleep":
    case "delay":
      return info.waits === undefined ? `${name} takes no ${action.kind}: it runs inside synchronous core code (sleep works at ${namesThatWait("timer").join(", ")})` : undefined;
    case "pause":
      return info.waits !== "async" ? `${name} takes no pause: only shell code that awaits can pause (${namesThatWait("async").join(", ")})` : undefined;
    default: {
      const unreachable: never = action;
      return unreachable;
    }
  }
}

function namesThatWait(kind: "timer" | "async"): FailpointName[] {
  return FAILPOINT_NAMES.filter((name) => {
    const waits: FailpointInfo["waits"] = FAILPOINTS[name].waits;
    return kind === "timer" ? waits !== undefined : waits === "async";
  });
}
