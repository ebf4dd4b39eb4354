// `blixard up`: the main job. A local cluster of N nodes (default 3) as separate processes, secured
// (mutual TLS, an admin token), with a VM backend (qemu when qemu-system-x86_64 is there, else the
// process backend, and it says which and why), and the CLI's context file written so every other
// command finds the cluster with no flags. Ctrl-C stops the nodes and their VMs; running it again
// on the same --data-dir resumes the cluster (src/shell/up/).
import { homedir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import { UsageError } from "./usage-error.ts";
import { contextPath, writeContext } from "./cli-context.ts";
import { LEASE_MS_DEFAULT } from "./node-vm-flags.ts";
import { UP_BASE_PORT_DEFAULT, type UpBackend, type UpLayout } from "../up/up-layout.ts";
import { clientsOf, prepareCluster, startNodes, stopNodes, waitForCluster, type PreparedCluster, type RunningNode } from "../up/local-cluster.ts";
import { upBackendChoice, upDefaultTenant, upImage, upNodesReady, upStopVms } from "../up/up-vms.ts";
import { endpointUrl } from "../api/client.ts";

const READY_DEADLINE_MS = 90_000;

interface UpOptions {
  nodes: string;
  dataDir?: string;
  backend: string;
  basePort: string;
  leaseMs: string;
  imageDir?: string;
}

function defaultDataDir(): string {
  const base = process.env.XDG_DATA_HOME !== undefined && process.env.XDG_DATA_HOME !== "" ? process.env.XDG_DATA_HOME : join(homedir(), ".local", "share");
  return join(base, "blixard", "up");
}

function count(text: string, flag: string): number {
  if (!/^\d{1,6}$/.test(text)) throw new UsageError(`${flag}: "${text.slice(0, 40)}" is not a whole number`);
  return Number(text);
}

function summary(prepared: PreparedCluster, backendLine: string): string {
  const lines = [
    `Blixard is up: ${prepared.nodes.length} node${prepared.nodes.length === 1 ? "" : "s"}, VM backend ${backendLine}${prepared.created ? "" : " (resumed)"}`,
    ...prepared.nodes.map((n) => `  node ${n.id}  ${endpointUrl(n.apiAddress, "https")}   data ${n.dataDir}`),
    `Context (endpoints, admin token, CA) written to ${contextPath()}; try:`,
    "  npx blixard vm create hello --vcpus 1 --memory 256 --wait",
    "  npx blixard vm logs hello",
    "  npx blixard vm list",
    "  npx blixard node list",
    "Ctrl-C stops the cluster and its VMs; `blixard up` again resumes it.",
  ];
  return `${lines.join("\n")}\n`;
}

export function registerUpCommand(program: Command): void {
  program
    .command("up")
    .description("start a local cluster (default 3 nodes) with a VM backend, until Ctrl-C")
    .option("--nodes <N>", "how many nodes (1 to 7)", "3")
    .option("--data-dir <DIR>", "where the cluster's files live (default: $XDG_DATA_HOME/blixard/up); again on the same directory resumes it")
    .option("--backend <KIND>", "auto (qemu when qemu-system-x86_64 is installed, else process), qemu or process", "auto")
    .option("--base-port <PORT>", "node i's API listens on PORT+i, its peer port on PORT+50+i (loopback)", String(UP_BASE_PORT_DEFAULT))
    .option("--lease-ms <MS>", "each node's lease: how long a node that stops answering keeps its VMs before they move", String(LEASE_MS_DEFAULT))
    .option("--image-dir <DIR>", "the default guest image's directory (qemu; built on first use)")
    .addHelpText("after", "\nExample:\n  npx blixard up                 # three nodes, Ctrl-C to stop\n  npx blixard up --nodes 1 --data-dir /tmp/bx\n")
    .action(async (options: UpOptions, command: Command) => {
      const explicit = new Set<keyof UpLayout>();
      if (command.getOptionValueSource("nodes") === "cli") explicit.add("nodes");
      if (command.getOptionValueSource("basePort") === "cli") explicit.add("basePort");
      if (options.backend !== "auto" && options.backend !== "qemu" && options.backend !== "process") throw new UsageError(`--backend: "${options.backend.slice(0, 40)}" is not auto, qemu or process`);
      const choice = await upBackendChoice(options.backend);
      if (options.backend !== "auto") explicit.add("backend");
      const say = (line: string): void => void process.stdout.write(`${line}\n`);
      say(`VM backend: ${choice.backend} (${choice.why})`);
      const dataDir = options.dataDir ?? defaultDataDir();
      const wanted: UpLayout = {
        nodes: count(options.nodes, "--nodes"),
        basePort: count(options.basePort, "--base-port"),
        backend: choice.backend as UpBackend,
        imageDir: options.imageDir ?? "",
        leaseMs: count(options.leaseMs, "--lease-ms"),
      };
      const prepared = await prepareCluster(dataDir, wanted, explicit);
      if (prepared.layout.backend === "qemu") await upImage(prepared.layout.imageDir, say);
      say(`${prepared.created ? "starting a new" : "resuming the"} cluster in ${prepared.dataDir}`);
      const running = startNodes(prepared);
      let stopping: Promise<void> | undefined;
      const stopAll = (why: string): Promise<void> => {
        stopping ??= (async () => {
          say(`stopping (${why}): nodes, then their VMs...`);
          await stopNodes(running);
          const stopped = await upStopVms(prepared.nodes);
          say(`stopped: ${running.length} node${running.length === 1 ? "" : "s"}, ${stopped} VM${stopped === 1 ? "" : "s"}; \`blixard up --data-dir ${prepared.dataDir}\` resumes`);
        })();
        return stopping;
      };
      process.once("SIGINT", () => void stopAll("Ctrl-C"));
      process.once("SIGTERM", () => void stopAll("SIGTERM"));
      try {
        await waitForCluster(prepared, running, READY_DEADLINE_MS, async (clients) => {
          const missing = await upNodesReady(clients, prepared.nodes.length);
          if (missing === undefined) await upDefaultTenant(clients);
          return missing;
        }, say);
      } catch (error) {
        const asked = stopping !== undefined;
        await stopAll("start-up failed");
        if (asked) return;
        throw error;
      }
      writeContext({ endpoints: prepared.nodes.map((n) => endpointUrl(n.apiAddress, "https")), token: prepared.token, ca: prepared.caFile });
      // What the nodes themselves say they run (qemu with kvm or tcg and why), not only what up asked for.
      const described = await clientsOf(prepared, prepared.nodes[0]!).cluster.status({ localOnly: true }).then((status) => status.nodes[0]?.vmBackend ?? "", () => "");
      process.stdout.write(summary(prepared, described !== "" ? described : choice.line));
      const ending = await untilStoppedOrNodeExits(running, () => stopping, stopAll);
      await stopping;
      process.exitCode = ending === "asked" ? 0 : 1;
    });
}

/**
 * Resolves once a stop was asked for, or every node has exited. A node that exits on its own is
 * reported and the others go on without it, as a cluster should (its VMs move once its lease runs
 * out); `blixard up` again brings it back.
 */
async function untilStoppedOrNodeExits(running: readonly RunningNode[], stopping: () => Promise<void> | undefined, stopAll: (why: string) => Promise<void>): Promise<"asked" | "node-exited"> {
  const reported = new Set<number>();
  for (;;) {
    const alive = running.filter((r) => r.exitCode === null);
    if (stopping() !== undefined) return "asked";
    if (alive.length === 0) break;
    const exited = await Promise.race(alive.map((r) => r.exited.then(() => r)));
    if (stopping() !== undefined) return "asked";
    if (!reported.has(exited.node.id)) {
      reported.add(exited.node.id);
      process.stderr.write(`blixard up: node ${exited.node.id} exited with code ${exited.exitCode} (log: ${exited.node.logFile}); the others go on without it\n`);
    }
  }
  process.stderr.write("blixard up: every node exited\n");
  await stopAll("every node exited");
  return "node-exited";
}
