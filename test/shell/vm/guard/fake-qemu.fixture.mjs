// @ts-check
// A stand-in for QEMU's QMP, for the guard test of its QMP exchange: listens on the unix socket
// argv[2]; greets, takes qmp_capabilities, answers query-status ("prelaunch" for the first
// 200 ms, then "running"), stop, cont and system_powerdown, and sends an event before each answer
// (the guard must skip events). It prints what it was asked on stdout (the guard's console.log),
// and exits 0 200 ms after a system_powerdown.
//   node fake-qemu.fixture.mjs <qmp socket>
import net from "node:net";

const socketPath = process.argv[2];
const startedMs = Date.now();
const server = net.createServer((socket) => {
  socket.setEncoding("utf8");
  socket.write(`${JSON.stringify({ QMP: { version: { qemu: { major: 8, minor: 2, micro: 0 } }, capabilities: [] } })}\n`);
  let buffered = "";
  socket.on("error", () => {});
  socket.on("data", (chunk) => {
    buffered += chunk;
    let newline = buffered.indexOf("\n");
    while (newline >= 0) {
      const command = JSON.parse(buffered.slice(0, newline)).execute;
      buffered = buffered.slice(newline + 1);
      newline = buffered.indexOf("\n");
      socket.write(`${JSON.stringify({ event: "FAKE", timestamp: { seconds: 0, microseconds: 0 } })}\n`);
      if (command === "query-status") {
        socket.write(`${JSON.stringify({ return: { status: Date.now() - startedMs < 200 ? "prelaunch" : "running", running: true } })}\n`);
      } else if (command === "qmp_capabilities" || command === "stop" || command === "cont" || command === "system_powerdown") {
        if (command !== "qmp_capabilities") process.stdout.write(`qmp ${command}\n`);
        socket.write(`${JSON.stringify({ return: {} })}\n`);
        if (command === "system_powerdown") setTimeout(() => process.exit(0), 200);
      } else {
        socket.write(`${JSON.stringify({ error: { class: "CommandNotFound", desc: `no ${command}` } })}\n`);
      }
    }
  });
});
server.listen(socketPath, () => process.stdout.write("fake qemu up\n"));
process.stdin.on("data", (line) => process.stdout.write(`console got ${String(line).trim()}\n`));
