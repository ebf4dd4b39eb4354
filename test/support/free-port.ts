// Whether a loopback TCP port can be listened on right now: how tests pick ports for real nodes.
import net from "node:net";

export function portFree(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const server = net.createServer();
    server.once("error", () => resolvePort(false));
    server.listen({ host: "127.0.0.1", port }, () => server.close(() => resolvePort(true)));
  });
}
