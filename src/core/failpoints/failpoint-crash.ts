// A failpoint's crash action inside the simulator: thrown from the point, it unwinds the host's
// event to where the world began it (src/core/sim/world.ts, runOnHost), and the simulation kills
// that process there, as kill -9 would have stopped it at the point. Nothing after the point
// runs. A real node never throws it: its crash is SIGKILL (src/shell/os/system-failpoints.ts).

export class FailpointCrash extends Error {
  constructor(readonly point: string) {
    super(`failpoint ${point} crashed the process`);
    this.name = "FailpointCrash";
  }
}
