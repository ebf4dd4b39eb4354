// The VM backend: what a node agent asks of whatever runs its VMs (the simulator's
// SimVmHost, src/core/sim/sim-vm-backend.ts; the QEMU backend of the next issue, in the shell).
//
// Sans-I/O friendly: every call returns at once and its result comes back later as a
// BackendReport to the one subscriber (the agent of the current incarnation), never
// re-entrantly inside the call. A backend's instances and its fence guard outlive the node
// process (a process kill leaves the VMs running; the next incarnation adopts them with list());
// a host crash takes everything.
//
// Fencing is enforced here twice, whatever the agent does:
//   - tokens: start(vmId, token) is refused when the token's placement is older than the newest
//     placement the backend has seen for that VM, or its epoch older than the newest epoch it has
//     seen for that node (a "start-refused" report saying which);
//   - the guard: armFence(deadlineUs) names the host monotonic reading at which every VM must be
//     dead. The guard runs outside the node process (a paused process cannot fence): when the
//     host's clock reaches the deadline it kills every VM, and until the next armFence with a
//     later deadline it refuses every start.
//
// Health probes: the backend performs a probe (process alive, TCP connect, HTTP status, console
// pattern) and reports what it saw; the agent counts failures and decides.

import type { FencingToken, IpAssignment, VmId, VmSpec } from "../cluster/types.ts";

export interface VmInstanceSpec {
  readonly vmId: VmId;
  readonly spec: VmSpec;
  readonly addresses: readonly IpAssignment[];
}

/**
 * An instance's state in the backend:
 *   created   defined, never started or stopped since (ready to start)
 *   booting   started; not up yet
 *   running   up
 *   stopping  a graceful stop is under way
 *   stopped   not running; `exit` says why
 */
export type InstanceState = "created" | "booting" | "running" | "stopping" | "stopped";

/**
 * Why an instance is stopped: stopped (a graceful stop), killed (kill()), fenced (the guard),
 * exited (the VM shut down by itself, exit code 0), crashed (the VM died with an error).
 */
export type InstanceExit = "none" | "stopped" | "killed" | "fenced" | "exited" | "crashed";

export interface InstanceStatus {
  readonly vmId: VmId;
  readonly state: InstanceState;
  /** The token of the last accepted start (undefined before the first). */
  readonly token: FencingToken | undefined;
  readonly exit: InstanceExit;
}

export type StartRefusal = "stale-placement" | "stale-epoch" | "fence-expired" | "not-startable" | "unknown-vm";

export type HealthProbe =
  | { readonly kind: "process" }
  | { readonly kind: "tcp"; readonly port: number; readonly timeoutMs: number }
  | { readonly kind: "http"; readonly port: number; readonly path: string; readonly timeoutMs: number }
  | { readonly kind: "console"; readonly pattern: string };

export type BackendReport =
  | { readonly kind: "created"; readonly vmId: VmId }
  | { readonly kind: "create-failed"; readonly vmId: VmId; readonly detail: string }
  /** The instance changed state (booting, running, stopping, stopped with its exit). */
  | { readonly kind: "instance"; readonly status: InstanceStatus }
  | { readonly kind: "start-refused"; readonly vmId: VmId; readonly token: FencingToken; readonly refusal: StartRefusal; readonly detail: string }
  | { readonly kind: "deleted"; readonly vmId: VmId }
  /** Every instance the backend holds, ascending vmId, and the guard's armed deadline (0: never armed): the answer to list(). */
  | { readonly kind: "listed"; readonly instances: readonly InstanceStatus[]; readonly fenceDeadlineUs: number }
  /** status: the HTTP status for http probes, else 0. */
  | { readonly kind: "probed"; readonly vmId: VmId; readonly probe: HealthProbe["kind"]; readonly ok: boolean; readonly status: number; readonly detail: string }
  | { readonly kind: "console"; readonly vmId: VmId; readonly text: string };

export type BackendReportHandler = (report: BackendReport) => void;

export interface VmBackend {
  /** The one receiver of this incarnation's reports (set once, before any call). */
  subscribe(handler: BackendReportHandler): void;
  create(instance: VmInstanceSpec): void;
  start(vmId: VmId, token: FencingToken): void;
  /** Asks the VM to shut down; killed when it is not down after graceMs. */
  stop(vmId: VmId, graceMs: number): void;
  kill(vmId: VmId): void;
  /** Forgets a stopped or created instance (a running one is killed first). */
  delete(vmId: VmId): void;
  list(): void;
  consoleTail(vmId: VmId, bytesMax: number): void;
  /** Every VM dead when the host's monotonic clock reaches deadlineUs; replaces the previous deadline. */
  armFence(deadlineUs: number): void;
  probe(vmId: VmId, probe: HealthProbe): void;
}
