// Drives the failpoints (src/core/env/failpoints.ts) in one simulation run, BUGGIFY style: a
// point with a probability fires with it at each evaluation, drawn from the run's "failpoints"
// PRNG stream, so one seed replays the same firings and no other stream shifts when a
// probability changes. Probabilities come from the run's options or its fault profile (the
// swarm draws them per seed: drawFailpointProbabilities); a point without one never fires.
//
// A firing takes the point's `simulated` action:
//   return, delay  the verdict goes to the code at the point;
//   crash          FailpointCrash is thrown: the world catches it where the host's event began
//                  and kills the process there, as kill -9 would (the simulation restarts it);
// A firing beyond the fault model (a disk answering EIO) is recorded as an injected fault on its
// host: checks that trust the fault model excuse that host (docs/FAILPOINTS.md, "Simulation").
//
// Points fire only before `quietFromUs` (the heal point): liveness is judged on a world whose
// faults have stopped, failpoints included. Every evaluation is counted, fired or not, and the
// run's result reports both per point: coverage for a fuzzer that aims at unreached points.
//
// Decisions are integer draws (parts per million), the same on every engine.

import { assert } from "../assert.ts";
import type { EndpointId, Failpoint, FailpointVerdict, Random } from "../env/environment.ts";
import { FAILPOINT_NAMES, FAILPOINTS, isFailpointName, type FailpointInfo, type FailpointName } from "../env/failpoints.ts";
import { FailpointCrash } from "../failpoints/failpoint-crash.ts";

/** Per-point probability of firing at one evaluation, in [0, 1]. */
export type FailpointProbabilities = Readonly<Partial<Record<FailpointName, number>>>;

export interface FailpointCoverage {
  readonly name: FailpointName;
  readonly probability: number;
  readonly evaluated: number;
  readonly fired: number;
}

/** A firing the fault model could not have produced: the host it hit, and when. */
export interface InjectedFault {
  readonly hostId: EndpointId;
  readonly name: FailpointName;
  readonly simulatedTimeUs: number;
}

/** At most this many injected faults are kept for the report (all are counted in coverage). */
export const INJECTED_FAULTS_KEPT_MAX = 1_000;

const PARTS_PER_MILLION = 1_000_000;

interface PointState {
  readonly info: FailpointInfo;
  readonly partsPerMillion: number;
  evaluated: number;
  fired: number;
}

export class FailpointDriver {
  private readonly points = new Map<string, PointState>();
  private readonly injected: InjectedFault[] = [];
  private readonly injectedHosts = new Set<EndpointId>();

  constructor(
    private readonly random: Random,
    private readonly probabilities: FailpointProbabilities = {},
    private readonly nowUs: () => number = () => 0,
    private readonly quietFromUs: number = Number.POSITIVE_INFINITY,
  ) {
    for (const name of Object.keys(probabilities)) assert(isFailpointName(name), () => `no failpoint ${JSON.stringify(name)} (src/core/env/failpoints.ts)`);
    // Every catalogued point is counted from the start, in sorted order, so coverage lists the points never evaluated too.
    for (const name of FAILPOINT_NAMES) {
      const probability = probabilities[name] ?? 0;
      assert(probability >= 0 && probability <= 1, () => `failpoint ${name}: probability ${probability} outside [0, 1]`);
      this.points.set(name, { info: FAILPOINTS[name], partsPerMillion: Math.round(probability * PARTS_PER_MILLION), evaluated: 0, fired: 0 });
    }
  }

  /** The Environment's failpoint for one host's processes (one closure per host, not per call). */
  failpointFor(hostId: EndpointId): Failpoint {
    return (name) => this.evaluate(hostId, name);
  }

  /** Hosts on which a firing beyond the fault model happened (their disks answered an error SimDisk never gives). */
  wasInjected(hostId: EndpointId): boolean {
    return this.injectedHosts.has(hostId);
  }

  /** The injected faults, in the order they happened (at most INJECTED_FAULTS_KEPT_MAX). */
  injectedFaults(): readonly InjectedFault[] {
    return [...this.injected];
  }

  private evaluate(hostId: EndpointId, name: FailpointName): FailpointVerdict | undefined {
    const point = this.points.get(name);
    if (point === undefined) assert(false, `core code evaluated an uncatalogued failpoint ${JSON.stringify(name)} (src/core/env/failpoints.ts)`);
    point.evaluated++;
    // An off point draws nothing: evaluating it costs no randomness, so the on points' firings do not depend on how often the off ones are reached.
    if (point.partsPerMillion === 0) return undefined;
    const nowUs = this.nowUs();
    if (nowUs >= this.quietFromUs) return undefined;
    if (point.partsPerMillion < PARTS_PER_MILLION && this.random.intBelow(PARTS_PER_MILLION) >= point.partsPerMillion) return undefined;
    point.fired++;
    if (point.info.beyondFaultModel) {
      this.injectedHosts.add(hostId);
      if (this.injected.length < INJECTED_FAULTS_KEPT_MAX) this.injected.push({ hostId, name, simulatedTimeUs: nowUs });
    }
    const action = point.info.simulated;
    switch (action.kind) {
      case "return":
        return { kind: "return", arg: action.arg };
      case "delay":
      case "sleep":
        return { kind: "delay", ms: action.ms };
      case "crash":
        throw new FailpointCrash(name);
      default:
        assert(false, () => `failpoint ${name}: the simulator does not take ${action.kind}`);
        return undefined;
    }
  }

  /** Per point, in name order: its probability, how often core code reached it, how often it fired. */
  coverage(): FailpointCoverage[] {
    const out: FailpointCoverage[] = [];
    for (const name of FAILPOINT_NAMES) {
      const point = this.points.get(name)!;
      assert(point.fired <= point.evaluated, "a failpoint fired more often than it was evaluated");
      out.push({ name, probability: this.probabilities[name] ?? 0, evaluated: point.evaluated, fired: point.fired });
    }
    return out;
  }
}

/**
 * BUGGIFY's probabilities, for the swarm: failpoints are on at all in a run with RUN_ENABLED (so
 * some seeds have none: a quiet run finds what a busy one hides), then each point is enabled with
 * ENABLED and fires with a probability drawn in FIRING.
 */
export const FAILPOINT_RUN_ENABLED_PPM = 500_000;
export const FAILPOINT_ENABLED_PPM = 250_000;
export const FAILPOINT_FIRING_PPM: readonly [number, number] = [1_000, 50_000];

/**
 * One seed's failpoint probabilities (the swarm's draw): with FAILPOINT_RUN_ENABLED_PPM the run
 * has failpoints at all; then each catalogued point, in name order, is enabled with
 * FAILPOINT_ENABLED_PPM, and an enabled point fires with a probability drawn in
 * FAILPOINT_FIRING_PPM. Integer draws only. `crashPoints`: whether the points whose simulated
 * firing is a crash may be enabled (the swarm allows them only with "strict" sync points:
 * swarm.ts); drawn all the same, so the stream, and every other point's draw, is the same either way.
 */
export function drawFailpointProbabilities(random: Random, crashPoints: boolean): FailpointProbabilities {
  const out: Partial<Record<FailpointName, number>> = {};
  if (random.intBelow(PARTS_PER_MILLION) >= FAILPOINT_RUN_ENABLED_PPM) return out;
  for (const name of FAILPOINT_NAMES) {
    if (random.intBelow(PARTS_PER_MILLION) >= FAILPOINT_ENABLED_PPM) continue;
    const ppm = FAILPOINT_FIRING_PPM[0] + random.intBelow(FAILPOINT_FIRING_PPM[1] - FAILPOINT_FIRING_PPM[0] + 1);
    if (!crashPoints && FAILPOINTS[name].simulated.kind === "crash") continue;
    out[name] = ppm / PARTS_PER_MILLION;
  }
  assert(Object.keys(out).length <= FAILPOINT_NAMES.length, "at most every catalogued point is enabled");
  return out;
}
