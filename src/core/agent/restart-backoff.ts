// When the agent may restart a VM that failed (exited under "always", crashed, or was killed for
// failing its health check): exponential backoff, deterministic (no jitter: one agent restarts
// its own VMs, nobody to de-synchronise from), in integer microseconds.
//
//   delay(n) = min(capUs, baseUs * 2^(n-1))  after the n-th consecutive failure (n >= 1)
//   defaults: base 1 s, factor 2, cap 60 s: 1, 2, 4, 8, 16, 32, 60, 60, ... s
//   a run that lasted stableRunUs (default 30 s) resets n to 0 (its next failure waits base);
//   after restartsMax (default 100) consecutive failures the agent gives up on that placement and
//   reports it crashed with "restart limit" (the controller may then fail it, vm-fail).

import { assert } from "../assert.ts";

export interface RestartBackoff {
  readonly baseUs: number;
  readonly capUs: number;
  readonly stableRunUs: number;
  readonly restartsMax: number;
}

export const defaultRestartBackoff: RestartBackoff = {
  baseUs: 1_000_000,
  capUs: 60_000_000,
  stableRunUs: 30_000_000,
  restartsMax: 100,
};

export function validateRestartBackoff(backoff: RestartBackoff): void {
  for (const [name, value] of Object.entries(backoff)) {
    assert(Number.isSafeInteger(value) && value > 0, () => `restart backoff ${name} = ${String(value)} must be a positive integer`);
  }
  assert(backoff.baseUs <= backoff.capUs, "restart backoff base above its cap");
}

/** The wait before the restart that follows the `failures`-th consecutive failure. */
export function restartDelayUs(failures: number, backoff: RestartBackoff): number {
  assert(Number.isSafeInteger(failures) && failures >= 1, "a restart delay follows at least one failure");
  let delayUs = backoff.baseUs;
  // Doubling stops at the cap, so the loop runs at most log2(cap / base) + 1 times and never overflows.
  for (let n = 1; n < failures && delayUs < backoff.capUs; n++) delayUs *= 2;
  const cappedUs = Math.min(delayUs, backoff.capUs);
  assert(cappedUs >= backoff.baseUs && cappedUs <= backoff.capUs, "restart delay within [base, cap]");
  return cappedUs;
}
