// A monotonic clock as the simulator and the Environment promise it, exactly (BigInt): integer
// readings (the floor) of offset + phase + the integral of a rate that stays within the drift
// bound, piecewise constant in true time (segments of `lengthUs` at `driftPpm`; the last segment's
// rate continues forever). `phase`, in millionths of a microsecond, is where between two ticks the
// continuous clock stood at true time 0. The lease tests (Raft's leader lease and the
// orchestrator's fencing lease) prove their inequalities against it.

const PPM = 1_000_000n;

export class ModelClock {
  constructor(
    readonly offsetUs: bigint,
    readonly segments: ReadonlyArray<{ lengthUs: bigint; driftPpm: bigint }>,
    readonly phase: bigint = 0n,
  ) {}

  /** The reading at integer true time `t`. */
  read(t: bigint): bigint {
    let numerator = this.phase; // in microseconds * 1e6
    let left = t;
    for (let i = 0; i < this.segments.length && left > 0n; i++) {
      const segment = this.segments[i]!;
      const length = i === this.segments.length - 1 || segment.lengthUs > left ? left : segment.lengthUs;
      numerator += length * (PPM + segment.driftPpm);
      left -= length;
    }
    return this.offsetUs + numerator / PPM;
  }

  /** The first true time >= from at which the reading reaches `target` (readings never decrease). */
  firstTimeReaching(target: bigint, from: bigint): bigint {
    if (this.read(from) >= target) return from;
    let low = from; // read(low) < target
    let high = from + 1n;
    while (this.read(high) < target) high = from + (high - from) * 2n;
    while (high - low > 1n) {
      const middle = (low + high) / 2n;
      if (this.read(middle) < target) low = middle;
      else high = middle;
    }
    return high;
  }
}
