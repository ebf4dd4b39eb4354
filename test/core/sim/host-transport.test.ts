// The world's host transport (src/core/sim/world.ts): every channel's bytes between hosts and
// client endpoints over the SimNetwork, with the frame limit and sizes of the TCP transport;
// one receiver per channel; what arrives where nobody receives its channel is dropped and
// counted; a reply goes back on the same channel to `from`.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { noFailpoints, type EndpointId, type ReceiveVerdict } from "../../../src/core/env/environment.ts";
import { noCoverage } from "../../../src/core/env/coverage-points.ts";
import { FAULT_PROFILES } from "../../../src/core/sim/fault-profile.ts";
import { DEFAULT_NETWORK_LIMITS } from "../../../src/core/sim/network.ts";
import { seedFromNumber } from "../../../src/core/sim/seed.ts";
import { World } from "../../../src/core/sim/world.ts";
import { wireSizeBytes } from "../../../src/core/wire/channel-frame.ts";

function makeWorld(maxFrameBytes = DEFAULT_NETWORK_LIMITS.maxFrameBytes) {
  const threw: unknown[] = [];
  const world = new World(
    {
      seed: seedFromNumber(1),
      hostCount: 3,
      clientCount: 2,
      profile: FAULT_PROFILES.none!,
      eventQueueMax: 10_000,
      networkLimits: { ...DEFAULT_NETWORK_LIMITS, maxFrameBytes },
      timersPerHostMax: 100,
      failpointFor: () => noFailpoints,
      reached: noCoverage,
      cpuEventUs: 0,
      mayCorrupt: () => false,
      traceLines: undefined,
    },
    {
      stopped: () => false,
      threw: (_host, error) => threw.push(error),
      afterStep: () => {},
      raftSent: () => {},
    },
  );
  const drain = () => {
    while (world.queue.runNext());
  };
  return { world, drain, threw };
}

const text = (s: string) => new TextEncoder().encode(s);
const read = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe("the world's host transport", () => {
  test("the client channel between hosts: a request reaches the receiver, the reply goes back to `from`", () => {
    const { world, drain, threw } = makeWorld();
    const a = world.startProcess(world.host(1), 1);
    const b = world.startProcess(world.host(2), 1);
    const atA: string[] = [];
    b.env.transport.receive("client", (from, bytes): ReceiveVerdict => {
      assert.equal(b.env.transport.send("client", from, text(`reply to ${read(bytes)}`)), true);
      return "ok";
    });
    a.env.transport.receive("client", (from, bytes) => {
      atA.push(`${from}: ${read(bytes)}`);
      return "ok";
    });
    assert.equal(a.env.transport.send("client", 2, text("forwarded")), true);
    drain();
    assert.deepEqual(atA, ["2: reply to forwarded"]);
    assert.deepEqual(threw, []);
    assert.equal(world.network.stats.bytesDelivered, wireSizeBytes("forwarded".length) + wireSizeBytes("reply to forwarded".length));
  });

  test("simulated clients: they register once for all client endpoints, send to hosts, and hosts answer them", () => {
    const { world, drain } = makeWorld();
    const host = world.startProcess(world.host(3), 1);
    host.env.transport.receive("client", (from, bytes) => {
      host.env.transport.send("client", from, text(`ok ${read(bytes)}`));
      return "ok";
    });
    const atClients: Array<[EndpointId, EndpointId, string]> = [];
    world.receiveAtClients("client", (from, to, bytes) => atClients.push([from, to, read(bytes)]));
    const firstClient = world.firstClientEndpoint;
    assert.equal(world.sendFromClient("client", firstClient, 3, text("get x")), true);
    assert.equal(world.sendFromClient("client", firstClient + 1, 3, text("get y")), true);
    drain();
    assert.deepEqual(
      atClients.sort((x, y) => x[1] - y[1]),
      [
        [3, firstClient, "ok get x"],
        [3, firstClient + 1, "ok get y"],
      ],
    );
    assert.throws(() => world.receiveAtClients("client", () => {}), /second client receiver/);
    assert.throws(() => world.sendFromClient("raft", firstClient, 1, text("x")), /raft/);
  });

  test("a channel nobody receives at the destination is dropped and counted; so is one to a host that is down", () => {
    const { world, drain } = makeWorld();
    const a = world.startProcess(world.host(1), 1);
    world.startProcess(world.host(2), 1); // serves nothing
    assert.equal(a.env.transport.send("agent", 2, text("hello")), true);
    assert.equal(a.env.transport.send("client", 3, text("host 3 runs no process")), true);
    assert.equal(a.env.transport.send("client", world.firstClientEndpoint, text("no client receiver")), true);
    drain();
    assert.deepEqual(world.droppedWithoutReceiver, { raft: 0, client: 2, agent: 1 });
  });

  test("the frame limit applies to every channel: send returns false and the network counts it", () => {
    const { world, drain } = makeWorld(100);
    const a = world.startProcess(world.host(1), 1);
    const b = world.startProcess(world.host(2), 1);
    let received = 0;
    b.env.transport.receive("client", () => {
      received++;
      return "ok";
    });
    assert.equal(a.env.transport.send("client", 2, new Uint8Array(101)), false);
    assert.equal(a.env.transport.send("client", 2, new Uint8Array(100)), true);
    drain();
    assert.equal(received, 1);
    assert.equal(world.network.stats.droppedByFrameLimit, 1);
  });

  test("one receiver per channel; a dead process sends nothing", () => {
    const { world } = makeWorld();
    const a = world.startProcess(world.host(1), 1);
    a.env.transport.receive("client", () => "ok");
    assert.throws(() => a.env.transport.receive("client", () => "ok"), /second receiver/);
    world.endProcess(world.host(1));
    assert.equal(a.env.transport.send("client", 2, text("x")), false);
  });
});
