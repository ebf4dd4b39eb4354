// What a host backend kind (QEMU, a plain process) hands the per-VM guard: the process to run
// and how to stop it. Both kinds share one guard (src/shell/vm/guard/) and one host backend
// (src/shell/vm/host-backend.ts, the VmBackend of src/core/agent/vm-backend.ts on real
// processes); a kind differs only in the plan it makes from a VM's spec.
//
// Files of one VM, all under its directory <vms-dir>/<vmId>/ (docs/VMS.md):
//   launch.json   the LaunchFile below, written by the backend before it starts the guard
//   state.json    the guard's GuardState, replaced atomically on every change
//   console.log   every line the VM printed, each prefixed with the host's wall clock
//                 (ISO 8601, milliseconds, UTC) and a space; guard notes start with "[guard] "
//   guard.sock    the guard's control socket (unix, 0600)
//   qmp.sock      QEMU's QMP socket (qemu only)
// and one file for the whole node, <vms-dir>/fence.json (FenceFile): the host CLOCK_MONOTONIC
// reading by which every VM of this node must be dead, rewritten by every armFence.

import type { FencingToken, VmId } from "../../core/cluster/types.ts";
import type { VmInstanceSpec } from "../../core/agent/vm-backend.ts";

/** The image name meaning "this node's default image" (`blixard image build`), for kernel and initrd alike. */
export const DEFAULT_IMAGE = "default";

/** Unix socket paths longer than this cannot be bound (sun_path is 108 bytes with its NUL). */
export const UNIX_SOCKET_PATH_BYTES_MAX = 107;

/** How the guard asks a VM to shut down before it kills it at the end of the grace period. */
export type GracefulStop =
  /** QMP system_powerdown (ACPI), and the console line too, for guests without ACPI handling. */
  | { readonly kind: "qmp-powerdown"; readonly consoleLine: string }
  | { readonly kind: "signal"; readonly signal: "SIGTERM" | "SIGINT" }
  | { readonly kind: "console"; readonly line: string };

export interface LaunchPlan {
  /** argv[0] is the executable (an absolute path or one found on PATH). */
  readonly argv: readonly string[];
  /** Added to the guard's own environment. */
  readonly env: Readonly<Record<string, string>>;
  readonly gracefulStop: GracefulStop;
  /** QEMU's QMP socket, "" when the kind has none. */
  readonly qmpSocket: string;
}

export interface VmLauncher {
  readonly kind: "qemu" | "process";
  /** One line for node status and `blixard up`: "qemu (kvm)", "qemu (tcg: /dev/kvm ...)", "process". */
  readonly description: string;
  /** The plan for one instance in vmDir, or why it cannot be run here (a missing image, say). */
  plan(instance: VmInstanceSpec, vmDir: string): LaunchPlan | { readonly error: string };
}

/** launch.json: everything the guard needs, so it depends on nothing but this file and fence.json. */
export interface LaunchFile {
  readonly vmId: VmId;
  readonly token: FencingToken;
  readonly plan: LaunchPlan;
  /** Absolute path of the node's fence.json. */
  readonly fenceFile: string;
  /** How often the guard reads fence.json, ms. */
  readonly fencePollMs: number;
  /** Bytes console.log may reach before the guard rotates it to console.log.1 (one old file kept). */
  readonly consoleBytesMax: number;
  /** Harness-only (docs/PLANTED-BUGS.md): set by tests' launch files only, never by the backend. */
  readonly plantedBug?: GuardPlantedBug;
  /**
   * Tests only: start the VM without setpriv's parent-death signal, as on a host without
   * util-linux, so the backend's cleanup of a VM whose guard is gone can be exercised.
   */
  readonly withoutParentDeathSignal?: true;
}

/** ignore-fence: the guard never kills for the fence deadline (and spawns past it): the fence tests must fail with it. */
export type GuardPlantedBug = "ignore-fence";

/** fence.json. deadlineNs: CLOCK_MONOTONIC nanoseconds (process.hrtime.bigint()) as a decimal string; "0" never armed. */
export interface FenceFile {
  readonly deadlineNs: string;
}

/** state.json: the guard's account of its instance. */
export interface GuardState {
  readonly vmId: VmId;
  readonly token: FencingToken;
  readonly guardPid: number;
  /** The VM's process (qemu or the command); 0 before spawn. */
  readonly childPid: number;
  /** The backend's InstanceState vocabulary: booting, running, stopping, stopped. */
  readonly state: "booting" | "running" | "stopping" | "stopped";
  /** The backend's InstanceExit vocabulary. */
  readonly exit: "none" | "stopped" | "killed" | "fenced" | "exited" | "crashed";
  /** Host wall clock, ms since 1970. */
  readonly startedAtMs: number;
  readonly stoppedAtMs: number;
  /** Free text: the exit code or signal, a QMP error, why it was fenced. */
  readonly detail: string;
}

/**
 * The guard's control protocol on guard.sock: one JSON object per line each way; every request
 * is answered with {"ok":true,"state":GuardState} or {"ok":false,"error":"..."}.
 *   stop     graceful stop (LaunchPlan.gracefulStop), killed after graceMs
 *   kill     SIGKILL now
 *   console  write one line to the VM's console input (a health ping, an agreed command)
 *   pause / resume   QMP stop / cont for qemu, SIGSTOP / SIGCONT for a process
 *   watch    answered like status, then the connection stays open and carries one more
 *            {"ok":true,"state":...} line for every later change of state.json, until the
 *            guard exits (the backend's way to follow an instance without polling)
 */
export type GuardRequest =
  | { readonly op: "status" }
  | { readonly op: "stop"; readonly graceMs: number }
  | { readonly op: "kill" }
  | { readonly op: "console"; readonly line: string }
  | { readonly op: "pause" }
  | { readonly op: "resume" }
  | { readonly op: "watch" };

/** Bytes of one request or response line on guard.sock (longer ones close the connection). */
export const GUARD_LINE_BYTES_MAX = 64 * 1024;

export type GuardResponse = { readonly ok: true; readonly state: GuardState } | { readonly ok: false; readonly error: string };

/** The guest's console protocol (the default image's init and the process backend's built-in guest speak it). */
export const GUEST_LINES = {
  /** Printed once the guest is up: `BLIXARD-READY vm=<id>`. */
  ready: "BLIXARD-READY",
  /** Printed about five times a second: `BLIXARD-HEARTBEAT vm=<id> seq=<n>`. */
  heartbeat: "BLIXARD-HEARTBEAT",
  /** Sent to the console: the guest answers `BLIXARD-PONG vm=<id>`. */
  ping: "BLIXARD-PING",
  pong: "BLIXARD-PONG",
  /** Sent to the console: the guest powers off cleanly. */
  poweroff: "BLIXARD-POWEROFF",
} as const;
