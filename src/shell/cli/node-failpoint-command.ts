// `blixard node failpoint set NAME ACTIONS | clear NAME | list` (docs/FAILPOINTS.md): the
// failpoints of the node at --endpoint, through its FailpointService (admin only). The actions
// are checked here first, with the node's own parser, so a typo is one line and exit 2 without
// a round trip; the node checks again. Exit codes as every API command.
import type { Command } from "commander";
import { FAILPOINT_NAMES } from "../../core/env/failpoints.ts";
import { FailpointServiceClearResponseSchema, FailpointServiceListResponseSchema, FailpointServiceSetResponseSchema, type FailpointState } from "../api/gen/blixard/v1/failpoint_pb.ts";
import { parsePointActions } from "../node/node-failpoints.ts";
import { CLOCK_POINT_NAMES } from "../os/clock-fault-spec.ts";
import { addApiOptions, formatTable, runApiCall, type ApiCommandOptions } from "./api-output.ts";
import { UsageError } from "./usage-error.ts";

function failpointRows(nodeId: bigint, points: readonly FailpointState[]): string {
  if (points.length === 0) return `node ${nodeId}: no failpoint set`;
  return formatTable(
    ["NAME", "ACTIONS", "EVALUATED", "FIRED"],
    points.map((p) => [p.name, p.actions, String(p.evaluated), String(p.fired)]),
  );
}

const example = (command: Command, text: string): Command => command.addHelpText("after", `\nExample:\n  $ ${text}`);

export function registerNodeFailpointCommands(node: Command): void {
  const failpoint = node
    .command("failpoint")
    .description("fault injection at named points of one node (admin; docs/FAILPOINTS.md)")
    .addHelpText(
      "after",
      `\nPoints: ${FAILPOINT_NAMES.join(", ")}\nClock points: ${CLOCK_POINT_NAMES.join(", ")} (one return(ARG): offset:MS, bump:MS, strobe:DELTA_MS,PERIOD_MS,DURATION_MS; drift:PPM)\nExamples:\n  $ blixard node failpoint set storage.fsync '1%return(EIO)'\n  $ blixard node failpoint set clock.wall 'return(offset:-30000)'\n  $ blixard node failpoint set clock.monotonic 'return(drift:+50000)'\n  $ blixard node failpoint list\n  $ blixard node failpoint clear storage.fsync`,
    );
  example(addApiOptions(failpoint.command("set <name> <actions>").description("set one point's actions (fail-rs syntax), replacing what it had")), "blixard node failpoint set net.send 'sleep(50)' --endpoint http://127.0.0.1:8001").action(
    (name: string, actions: string, options: ApiCommandOptions) => {
      const setting = parsePointActions(name, actions);
      if (!setting.ok) throw new UsageError(`failpoint ${name}: ${setting.error}`);
      return runApiCall(
        options,
        FailpointServiceSetResponseSchema,
        (c) => c.failpoint.set({ name, actions }),
        (r) => `node ${r.nodeId}: ${r.failpoint?.name}=${r.failpoint?.actions}`,
      );
    },
  );
  example(addApiOptions(failpoint.command("clear <name>").description("switch one point off")), "blixard node failpoint clear net.send").action((name: string, options: ApiCommandOptions) =>
    runApiCall(options, FailpointServiceClearResponseSchema, (c) => c.failpoint.clear({ name }), (r) => `node ${r.nodeId}: ${name} ${r.wasSet ? "cleared" : "was not set"}`),
  );
  example(addApiOptions(failpoint.command("list").description("the points set on the node, with how often each was evaluated and fired")), "blixard node failpoint list -o json").action((options: ApiCommandOptions) =>
    runApiCall(options, FailpointServiceListResponseSchema, (c) => c.failpoint.list({}), (r) => failpointRows(r.nodeId, r.failpoints)),
  );
}
