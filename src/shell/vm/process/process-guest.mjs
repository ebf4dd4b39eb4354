// @ts-check
// The process backend's built-in guest (image "default"): a stand-in for the default QEMU image
// that speaks the same console protocol (GUEST_LINES in src/shell/vm/launch-plan.ts), so tests and
// hosts without QEMU exercise every path of the guard and the agent:
//   BLIXARD-READY vm=<id> once up; BLIXARD-HEARTBEAT vm=<id> seq=<n> five times a second;
//   BLIXARD-PONG vm=<id> for each BLIXARD-PING line on stdin; exit 0 on BLIXARD-POWEROFF, on
//   SIGTERM and when stdin ends (the guard is gone: nothing would record this guest's output).
// With BLIXARD_GUEST_HTTP_PORT set (the spec's first tcp port forward) it serves HTTP on
// 127.0.0.1 at that port: GET /health answers 200, anything else 404.
// Plain JavaScript, node: builtins only: it must start fast without a TypeScript loader.

import http from "node:http";
import readline from "node:readline";

const vmId = process.env.BLIXARD_VM_ID ?? "0";
const HEARTBEAT_INTERVAL_MS = 200;
let seq = 0;
let server = /** @type {http.Server | undefined} */ (undefined);

const heartbeat = setInterval(() => {
  seq += 1;
  process.stdout.write(`BLIXARD-HEARTBEAT vm=${vmId} seq=${seq}\n`);
}, HEARTBEAT_INTERVAL_MS);

const input = readline.createInterface({ input: process.stdin });
input.on("line", (line) => {
  const command = line.trim();
  if (command === "BLIXARD-PING") process.stdout.write(`BLIXARD-PONG vm=${vmId}\n`);
  else if (command === "BLIXARD-POWEROFF") powerOff("poweroff requested");
});
input.on("close", () => powerOff("console closed"));
process.on("SIGTERM", () => powerOff("SIGTERM"));

const httpPort = Number(process.env.BLIXARD_GUEST_HTTP_PORT ?? "0");
if (Number.isSafeInteger(httpPort) && httpPort > 0 && httpPort < 65536) {
  server = http.createServer((request, response) => {
    const healthy = request.method === "GET" && request.url === "/health";
    response.writeHead(healthy ? 200 : 404, { "content-type": "text/plain" });
    response.end(healthy ? "ok\n" : "not found\n");
  });
  server.on("error", (error) => {
    process.stderr.write(`http on port ${httpPort}: ${error.message}\n`);
  });
  server.listen(httpPort, "127.0.0.1", ready);
} else {
  ready();
}

function ready() {
  process.stdout.write(`BLIXARD-READY vm=${vmId}\n`);
}

/** @param {string} why */
function powerOff(why) {
  clearInterval(heartbeat);
  process.stdout.write(`powering off: ${why}\n`, () => process.exit(0));
  server?.close();
}
