// The scoreboard's rows that no simulation produces (docs/SCOREBOARD.md): planted bugs the
// simulator cannot reach by design, each with the test that catches it, and the named checks that
// live outside the simulator, each with its statement and the planted bug that proves it can fire.
// Written by hand; the scoreboard prints them as they are, marked as such, so nothing is hidden.

export interface NotSimulatedBug {
  readonly family: string;
  /** Why the simulator cannot reach it. */
  readonly why: string;
  /** The check that catches it: the property's name and the test file. */
  readonly caughtBy: string;
  readonly test: string;
}

/**
 * Bugs --plant knows that the simulator's workload never exercises (the scoreboard skips them),
 * and bugs planted outside the simulated code (real processes, the API shell, the wire handshake).
 */
export const SCOREBOARD_NOT_SIMULATED: Readonly<Record<string, NotSimulatedBug>> = {
  "txn-not-atomic": {
    family: "state machine",
    why: "the simulated clients send get, put and cas, never a txn",
    caughtBy: "a txn equals its sequential model (fast-check)",
    test: "test/core/replica/kv-txn.test.ts",
  },
};

/**
 * Bugs the simulator runs but no simulated check can see (a gap, stated): the scoreboard skips them.
 * Each is caught by its unit or property test.
 */
export const SCOREBOARD_NO_SIMULATED_CHECK: Readonly<Record<string, NotSimulatedBug>> = {
  "backend-accepts-stale-token": {
    family: "VM backend",
    why: "defence in depth: a correct agent never asks for a start with a stale token (it checks its lease and the placement first), so the backend's own check is never the one that refuses; Fresh Fencing Token would see the start. No seed reached it: 0 of seeds 1-8 of the standard and of the fencing profile (docs/PLANTED-BUGS.md), 0 of swarm seeds 1-9",
    caughtBy: "the backend refuses a start whose placement or epoch is older than the newest it has seen",
    test: "test/core/sim/sim-vm-backend.test.ts",
  },
  "required-labels-ignored": {
    family: "scheduler",
    why: "the simulated users never ask for required labels, so no plan can break them (Plan Admissible, which judges every controller plan by the state machine's placement rule, labels included, would see one that did)",
    caughtBy: "Scheduler: constraints",
    test: "test/core/scheduler/properties.test.ts",
  },
  "preempt-every-candidate": {
    family: "scheduler",
    why: "a plan's quality (the fewest evictions) is not a simulated property: evicting more VMs than needed is safe, and they are placed again",
    caughtBy: "Scheduler: fewest",
    test: "test/core/scheduler/properties.test.ts",
  },
  "spread-within-candidates": {
    family: "scheduler",
    why: "a plan's quality (spread over the least-loaded nodes) is not a simulated property",
    caughtBy: "Scheduler: spread",
    test: "test/core/scheduler/properties.test.ts",
  },
};

export const SCOREBOARD_OUTSIDE_SIMULATOR: Readonly<Record<string, NotSimulatedBug>> = {
  "authenticate-without-authorize": {
    family: "API gatekeeper",
    why: "the gatekeeper is shell code (real gRPC), outside the simulated cluster",
    caughtBy: "the role matrix (every method with every role: a PermissionDenied turned allowed)",
    test: "test/shell/auth/role-matrix.test.ts",
  },
  "tenant-scope-ignored": {
    family: "VM API",
    why: "the VM API handlers are shell code, outside the simulated cluster",
    caughtBy: "tenant isolation (a tenant token sees another tenant's VM)",
    test: "test/shell/api/vm-api-placed.test.ts",
  },
  "ignore-fence": {
    family: "per-VM guard",
    why: "the guard is a real process supervising a real guest",
    caughtBy: "the guard's fence check (the VM dead within one poll period of its deadline)",
    test: "test/shell/vm/guard/vm-guard.test.ts",
  },
  "hello-ignores-certificate": {
    family: "wire handshake",
    why: "the simulator's transport has no TLS: peers are who the simulator says they are",
    caughtBy: "the handshake fuzz (a hello's from must be the certificate's node)",
    test: "test/core/wire/peer-handshake.fuzz.test.ts",
  },
  "canary-without-bug": {
    family: "VOPR pipeline",
    why: "a bug in the VOPR's own pipeline, switched by the test harness (VoprPipelineBug)",
    caughtBy: "Canary (a planted bug known to be caught must be caught)",
    test: "test/shell/cli/vopr-command.test.ts",
  },
  "rerun-another-seed": {
    family: "VOPR pipeline",
    why: "a bug in the VOPR's own pipeline (VoprPipelineBug)",
    caughtBy: "Determinism (the same run twice gives the same trace hash)",
    test: "test/shell/cli/vopr-command.test.ts",
  },
  "clients-time-out-at-once": {
    family: "VOPR pipeline",
    why: "a bug in the VOPR's own pipeline (VoprPipelineBug)",
    caughtBy: "Recovered (a client operation succeeds after the faults stop)",
    test: "test/shell/cli/vopr-command.test.ts",
  },
};
